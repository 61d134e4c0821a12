"""The ``none`` watchdog driver (the default): arms nothing.

An agent without a watchdog reports itself unarmed, so the monitor never
counts its host as reset by a watchdog: such a host is recovered only when
its BMC confirms power-off.
"""

from vmha.drivers.watchdog import base


class NoWatchdog(base.WatchdogDriver):

    def arm(self, timeout):
        return None

    def pet(self):
        pass

    def disarm(self):
        pass
