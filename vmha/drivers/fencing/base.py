"""The interface every fencing driver implements.

A driver is instantiated once per process and ConfigOpts
(:func:`vmha.drivers.loader.get`) and serves any number of hosts, from
several threads at once: each call receives the host's
:class:`~vmha.inventory.HostSpec` (address, credentials, driver options), and
what a driver keeps between calls (BMC sessions) is its instance's state.
Its name is its entry point's name. Its :attr:`FencingDriver.properties`
describe, once, the inventory fields it uses: :meth:`FencingDriver.validate`
checks them and ``vmha-manage host add --help`` shows them; its
:meth:`FencingDriver.list_opts` are registered when it is loaded and listed
in the sample configuration (the ``vmha.drivers`` oslo.config namespace).
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
from vmha.drivers import loader
from vmha import exception

POWER_ON = 'on'
POWER_OFF = 'off'
POWER_UNKNOWN = 'unknown'
POWER_STATES = (POWER_ON, POWER_OFF, POWER_UNKNOWN)


#: the HostSpec fields a driver's properties may name; any other property
#: is a key of the host's ``bmc_options``
HOST_FIELDS = ('bmc_address', 'bmc_port', 'bmc_username', 'bmc_password')


class Required(str):
    """The description of a property the driver cannot work without."""


def field_label(name):
    """How messages and the CLI name a property: ``bmc_address``, or
    ``bmc_options['kg']`` for an option key."""
    return name if name in HOST_FIELDS else "bmc_options['%s']" % name


class FencingDriver(abc.ABC):
    """Power control of compute hosts through their BMC (or equivalent)."""

    #: {property: description} of every inventory field the driver uses:
    #: HOST_FIELDS and its ``bmc_options`` keys; ``Required(description)``
    #: for those it needs. A driver that describes no bmc_options key
    #: accepts any.
    properties = {}

    #: True: bmc_options keys the driver does not describe are accepted too
    #: (a driver that passes them on to its peer as they are)
    other_options = False

    #: HostSpec attributes that must be set for this driver (validate(),
    #: and again before every fence); derived from ``properties`` unless a
    #: driver sets it itself.
    required_fields = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if 'properties' in vars(cls) and 'required_fields' not in vars(cls):
            cls.required_fields = tuple(
                name for name in cls.required_properties()
                if name in HOST_FIELDS)

    def __init__(self, conf):
        self.conf = conf
        if conf is not None:
            for group, opts in self.list_opts():
                conf.register_opts(opts, group=group)

    @classmethod
    def list_opts(cls):
        """[(group, [oslo.config options])] of the driver's own settings:
        registered on the ConfigOpts it is loaded with, and listed in the
        sample configuration by ``vmha.conf.opts.list_driver_opts``."""
        return []

    @classmethod
    def get_properties(cls):
        """{property: description}, as ironic's driver interfaces say it:
        the required ones first."""
        required = cls.required_properties()
        described = dict(cls.properties)
        for name in required:
            described.setdefault(name, Required('required'))
        return dict(sorted(described.items(),
                           key=lambda item: item[0] not in required))

    @classmethod
    def required_properties(cls):
        named = [name for name, text in cls.properties.items()
                 if isinstance(text, Required)]
        return tuple(dict.fromkeys(list(cls.required_fields) + named))

    @classmethod
    def option_names(cls):
        """The bmc_options keys the driver describes."""
        return tuple(name for name in cls.properties
                     if name not in HOST_FIELDS)

    def validate(self, host):
        """Raise InvalidInput naming what is missing or bad in ``host``.

        Called before a host is stored in the inventory, so that a bad entry
        is refused up front rather than discovered during a failure. Checks
        the required properties, the port, the address (validate_address)
        when there is one, and that every bmc_options key is described
        (when the driver describes any); drivers add their own checks
        after these. The error's ``fields`` keyword lists the fields at
        fault, which lets the CLI name its options.
        """
        options = host.bmc_options or {}
        missing = [field_label(name) for name in self.required_properties()
                   if not (getattr(host, name) if name in HOST_FIELDS
                           else options.get(name))]
        if missing:
            raise exception.InvalidInput(
                reason='host %s: fencing driver %s needs %s' % (
                    host.name, self.name, ', '.join(missing)),
                fields=missing)
        common.check_port(host, self.name)
        if host.bmc_address:
            self.validate_address(host)
        if self.option_names() and not self.other_options:
            common.check_option_names(host, self.name, self.option_names())

    def validate_address(self, host):
        """Refuse a ``bmc_address`` that is neither an IP address nor a host
        name; drivers whose address is something else (a URL) override it.
        """
        common.check_address(host, self.name)

    @property
    def name(self):
        return loader.name_of(self, loader.FENCING_NAMESPACE)

    def close(self):
        """Let go of what the driver keeps between calls (sessions)."""

    @abc.abstractmethod
    def get_power_state(self, host):
        """Return POWER_ON, POWER_OFF or POWER_UNKNOWN."""

    @abc.abstractmethod
    def power_off(self, host):
        """Request a hard power-off; return without waiting for it."""

    @abc.abstractmethod
    def power_on(self, host):
        """Request power-on; return without waiting for it."""
