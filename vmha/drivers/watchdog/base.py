"""The interface every watchdog driver implements.

Like ironic's driver interfaces: a driver describes the options it uses
(:meth:`WatchdogDriver.get_properties`), checks them before anything is
armed (:meth:`WatchdogDriver.validate`), and then does the three things a
watchdog can be asked to do. vmha-agent instantiates one driver per process
with the ConfigOpts.

The contract that makes the monitor's watchdog proof sound:

* :meth:`arm` returns the timeout the watchdog really uses (a device may
  round the one asked for); the agent reports that one to the monitor;
* once armed, the host resets at most that many seconds after the last
  successful :meth:`pet`, whatever happens to the agent (crash, SIGKILL,
  hang): the watchdog does not depend on the agent to fire;
* only :meth:`disarm` (a planned stop) stops it.

Drivers raise :class:`vmha.exception.WatchdogError` naming the device, never
their peer's own exceptions.
"""

import abc

from vmha.drivers import loader
from vmha import exception


class WatchdogDriver(abc.ABC):
    """A watchdog vmha-agent arms, pets and disarms."""

    def __init__(self, conf):
        self.conf = conf
        #: the timeout in seconds the armed watchdog uses; None: not armed
        self.timeout = None

    @property
    def name(self):
        return loader.name_of(self, loader.WATCHDOG_NAMESPACE)

    @property
    def armed(self):
        return self.timeout is not None

    def get_properties(self):
        """{``[watchdog]`` option: what this driver uses it for}."""
        return {}

    def validate(self):
        """Raise ConfigError if the options do not fit this driver; called
        before :meth:`arm`."""

    def error(self, reason):
        """A WatchdogError naming this driver and its device."""
        return exception.WatchdogError(device=self.conf.watchdog.device,
                                       driver=self.name, reason=reason)

    @abc.abstractmethod
    def arm(self, timeout):
        """Start the watchdog with ``timeout`` seconds; return the timeout
        it really uses (also set as :attr:`timeout`)."""

    @abc.abstractmethod
    def pet(self):
        """Restart the watchdog's countdown."""

    @abc.abstractmethod
    def disarm(self):
        """Stop the watchdog (a planned stop): it no longer fires."""
