"""The ``watchdog`` fencing driver: a host without a BMC vmha can use.

It powers nothing off and never reads a power state: every call fails with
NoPowerControl, which a recovery of an *armed* host whose heartbeat is lost
answers with the watchdog proof (vmha/watchdog.py, doc/watchdog.md). A host
with this driver whose agent did not arm a watchdog is never evacuated.
Give such hosts ``--watchdog-required`` so that an unarmed agent is
notified.
"""

from vmha.drivers.fencing import base
from vmha import exception


class WatchdogOnlyDriver(base.FencingDriver):

    def _none(self, host):
        return exception.NoPowerControl(host=host.name, bmc=host.bmc_label,
                                        driver=self.name)

    def get_power_state(self, host):
        raise self._none(host)

    def power_off(self, host):
        raise self._none(host)

    def power_on(self, host):
        raise self._none(host)
