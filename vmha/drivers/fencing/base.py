"""The interface every fencing driver implements.

A driver is instantiated once per process with the ConfigOpts and serves any
number of hosts: each call receives the host's
:class:`~vmha.inventory.HostSpec` (address, credentials, driver options).
Drivers translate their peer's errors into :mod:`vmha.exception` fencing errors
(unreachable, auth refused, unsupported, timeout) whose messages name the host
and BMC, never a password. Drivers need not enforce deadlines themselves: every
call is run under ``[fencing] bmc_timeout`` by the caller, but should set their
own client timeouts so that abandoned calls do not linger.

This module, :mod:`vmha.exception` and :class:`vmha.inventory.HostSpec` are
the interface third-party drivers build on (see doc/fencing.md).
"""

import abc

from vmha.drivers.fencing import common
from vmha import exception

POWER_ON = 'on'
POWER_OFF = 'off'
POWER_UNKNOWN = 'unknown'
POWER_STATES = (POWER_ON, POWER_OFF, POWER_UNKNOWN)


class FencingDriver(abc.ABC):
    """Power control of compute hosts through their BMC (or equivalent)."""

    #: HostSpec attributes that must be set for this driver (validate()).
    required_fields = ()

    def __init__(self, conf):
        self.conf = conf

    def validate(self, host):
        """Raise InvalidInput naming what is missing or bad in ``host``.

        Called before a host is stored in the inventory, so that a bad entry
        is refused up front rather than discovered during a failure. Checks
        ``required_fields``, the port, and the address (validate_address)
        when there is one; drivers add their own checks after these. The
        error's ``fields`` keyword lists the fields at fault, which lets the
        CLI name its options.
        """
        missing = [f for f in self.required_fields if not getattr(host, f)]
        if missing:
            raise exception.InvalidInput(
                reason='host %s: fencing driver %s needs %s' % (
                    host.name, self.name, ', '.join(missing)),
                fields=missing)
        common.check_port(host, self.name)
        if host.bmc_address:
            self.validate_address(host)

    def validate_address(self, host):
        """Refuse a ``bmc_address`` that is neither an IP address nor a host
        name; drivers whose address is something else (a URL) override it.
        """
        common.check_address(host, self.name)

    @property
    def name(self):
        return getattr(self, 'entry_point_name', type(self).__name__)

    @abc.abstractmethod
    def get_power_state(self, host):
        """Return POWER_ON, POWER_OFF or POWER_UNKNOWN."""

    @abc.abstractmethod
    def power_off(self, host):
        """Request a hard power-off; return without waiting for it."""

    @abc.abstractmethod
    def power_on(self, host):
        """Request power-on; return without waiting for it."""
