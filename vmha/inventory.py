"""The host inventory entry: what vmha knows about one compute host.

A plain value object, independent of the database model, so drivers and tasks
can be used (and tested) without a database.
"""

import dataclasses

from oslo_config import types
from oslo_utils import strutils

from vmha import exception

MASK = '***'
#: bmc_options keys whose values are secrets (the IPMI BMC key ``kg``), and
#: words that make any key one (a third-party driver's ``api_token``).
SECRET_OPTIONS = ('kg',)
SECRET_WORDS = ('password', 'secret', 'token')


#: Nova's services.host column; Nova's [DEFAULT] host is a host name or
#: address whose labels may also hold underscores (oslo.config HostDomain)
MAX_HOST_NAME = 255
_HOST_DOMAIN = types.HostDomain()


def host_name_problem(name):
    """Why ``name`` cannot be a Nova compute host name, or None.

    Nova's rules: not empty, no whitespace, at most 255 characters, labels
    of letters, digits, hyphens and underscores separated by dots (or an IP
    address). A name that breaks them can never match a nova-compute
    service, so vmha would never recover that host.
    """
    shown = repr(name if len(name) <= 40 else name[:40] + '...')
    if not name or not name.strip():
        return 'host name %s is empty' % shown
    if any(c.isspace() for c in name):
        return 'host name %s contains whitespace' % shown
    if len(name) > MAX_HOST_NAME:
        return 'host name %s is %d characters long (at most %d)' % (
            shown, len(name), MAX_HOST_NAME)
    try:
        _HOST_DOMAIN(name)
    except ValueError:
        return ('host name %s is not a valid host name (letters, digits, '
                '"-" and "_" in dot-separated labels of at most 63, or an '
                'IP address)' % shown)
    return None


def check_host_name(name):
    """Raise InvalidInput unless ``name`` follows Nova's host-name rules."""
    problem = host_name_problem(name)
    if problem:
        raise exception.InvalidInput(reason=problem)
    return name


def is_secret_option(key):
    key = str(key).lower()
    return key in SECRET_OPTIONS or any(w in key for w in SECRET_WORDS)


@dataclasses.dataclass(repr=False)
class HostSpec:
    """One compute host as vmha's inventory describes it.

    ``name`` is the host name as Nova knows it (the nova-compute service's
    ``host``). ``bmc_options`` carries driver-specific settings (a Redfish
    system id, a CA bundle, an SSH key path, ...). ``reserved``: a spare
    compute kept disabled in Nova, enabled by vmha when a failure needs room
    (:mod:`vmha.reserved`); ``reserved_for`` is the recovery that took it.
    ``repr`` shows the public
    view (public_dict), so logging a HostSpec never leaks its password or a
    secret option.
    """

    name: str
    fencing_driver: str = None
    bmc_address: str = None
    bmc_port: int = None
    bmc_username: str = None
    bmc_password: str = None
    bmc_options: dict = dataclasses.field(default_factory=dict)
    level: int = None
    maintenance: bool = False
    reserved: bool = False
    reserved_for: str = None
    #: its vmha-agent must arm a watchdog (vmha.watchdog): the monitor
    #: notifies when it heartbeats unarmed. With fencing driver
    #: ``watchdog`` (no BMC), the watchdog is its only fencing.
    watchdog_required: bool = False

    @property
    def bmc_label(self):
        """``address[:port]`` for messages (never credentials)."""
        if not self.bmc_address:
            return '(no BMC)'
        if self.bmc_port:
            return '%s:%s' % (self.bmc_address, self.bmc_port)
        return self.bmc_address

    def public_dict(self):
        """All fields, secrets masked: for display, JSON and logs.

        ``bmc_options`` go through oslo's ``mask_dict_password`` too, which
        also masks the keys OpenStack deems secret (``private_key``,
        ``passphrase``, ...) and ``password=...`` inside a value (a
        command line).
        """
        data = dataclasses.asdict(self)
        data['bmc_password'] = MASK if self.bmc_password else None
        options = strutils.mask_dict_password(self.bmc_options or {}, MASK)
        data['bmc_options'] = {
            key: value if value in (None, '') else
            MASK if is_secret_option(key) else options[key]
            for key, value in (self.bmc_options or {}).items()}
        return data

    def __repr__(self):
        return 'HostSpec(%s)' % ', '.join(
            '%s=%r' % item for item in self.public_dict().items())
