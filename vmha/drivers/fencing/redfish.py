"""The ``redfish`` fencing driver: Redfish ComputerSystem reset via sushy.

Host fields: ``bmc_address`` is the BMC's base URL (``https://10.0.0.5``,
``http://127.0.0.1:8000``; a trailing ``/redfish/v1`` is accepted);
``bmc_port``, if set, must agree with the URL (or supplies its port);
``bmc_username`` and ``bmc_password`` are required.
``bmc_options``:

* ``system_id``: the ComputerSystem's id (``Self``, a UUID, ...) or its path
  (``/redfish/v1/Systems/1``). Optional when the BMC has exactly one system.
* ``verify``: ``true`` (default), ``false`` (no TLS verification: not
  recommended) or the path of a CA bundle; overrides ``[redfish] ca_bundle``.

Power off is ``ResetType=ForceOff`` (never a graceful shutdown), power on
``ResetType=On``. Power states ``On``, ``PoweringOn``, ``PoweringOff`` and
``Paused`` read as ``on`` (the host may still run); only ``Off`` is ``off``.

Connections (a sushy root with its HTTP session) are kept by the driver
instance per BMC and dropped after any error. Timeouts and retries come from
``[redfish]`` and are short by default: sushy's own defaults take 27 s to
report a closed port.
"""

import hashlib
import os
import threading
import urllib.parse

from oslo_log import log as logging
from oslo_utils import strutils
import requests
import sushy
from sushy import auth as sushy_auth
from sushy import exceptions as sushy_exc

from vmha.drivers.fencing import base
from vmha.drivers.fencing import common
from vmha import exception

LOG = logging.getLogger(__name__)

ROOT_PREFIX = '/redfish/v1/'
#: the values of ``verify`` that are booleans, not a CA bundle path
BOOLEANS = ('1', '0', 'true', 'false', 'yes', 'no', 'on', 'off')
#: HTTP statuses of a ForceOff refused because the system is off already
REFUSED_WHEN_OFF = (400, 409)

_AUTH_CLASSES = {
    'basic': sushy_auth.BasicAuth,
    'session': sushy_auth.SessionAuth,
    'auto': sushy_auth.SessionOrBasicAuth,
}
_STATES = {
    sushy.PowerState.ON: base.POWER_ON,
    sushy.PowerState.OFF: base.POWER_OFF,
    # not off yet: the host may still be running (or resume)
    sushy.PowerState.POWERING_ON: base.POWER_ON,
    sushy.PowerState.POWERING_OFF: base.POWER_ON,
    sushy.PowerState.PAUSED: base.POWER_ON,
}


def _is_tls_error(err):
    """True if a sushy ConnectionError comes from TLS (certificate, ...)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, requests.exceptions.SSLError):
            return True
        err = err.__cause__ or err.__context__
    return False


def _ids(root):
    """The ids of the BMC's systems (last path segments), sorted."""
    return sorted(path.rstrip('/').rsplit('/', 1)[-1] for path in
                  root.get_system_collection().members_identities)


class RedfishDriver(base.FencingDriver):
    """Hard power control through the host's Redfish BMC."""

    properties = {
        'bmc_address': base.Required(
            'base URL of the BMC (https://10.0.0.5; a trailing /redfish/v1 '
            'is accepted)'),
        'bmc_port': 'port, if the URL has none (must agree with it)',
        'bmc_username': base.Required('Redfish user'),
        'bmc_password': base.Required('Redfish password'),
        'system_id': 'id or path of the ComputerSystem (optional when the '
                     'BMC has one system)',
        'verify': 'true (default), false (no TLS verification) or the path '
                  'of a CA bundle; overrides [redfish] ca_bundle',
    }

    def __init__(self, conf):
        super().__init__(conf)
        self._roots = {}        # {key: sushy root}
        self._lock = threading.Lock()

    # -- validation ---------------------------------------------------------

    def validate(self, host):
        super().validate(host)
        self._verify(host)
        system_id = (host.bmc_options or {}).get('system_id')
        if system_id is not None and (
                not isinstance(system_id, str) or not system_id.strip()
                or any(c.isspace() for c in system_id)):
            raise common.invalid(host, self.name,
                                 "bmc_options['system_id']",
                                 '%r is not a Redfish id or path'
                                 % (system_id,))

    def validate_address(self, host):
        self._base_url(host)

    def _base_url(self, host):
        """``scheme://host:port`` from bmc_address (and bmc_port)."""
        address = host.bmc_address or ''
        if '@' in address:
            # checked first: the other messages quote the address
            raise common.invalid(
                host, self.name, 'bmc_address',
                'must not contain credentials (use bmc_username and '
                'bmc_password)')
        url = urllib.parse.urlsplit(address)
        if url.scheme not in ('http', 'https') or not url.hostname:
            raise common.invalid(
                host, self.name, 'bmc_address',
                '%r is not an http(s) URL (e.g. https://10.0.0.5)'
                % (address,))
        if url.path.rstrip('/') not in ('', ROOT_PREFIX.rstrip('/')) \
                or url.query or url.fragment:
            raise common.invalid(
                host, self.name, 'bmc_address',
                'must be the BMC base URL (scheme://host[:port]), not %r'
                % (address,))
        try:
            port = url.port
        except ValueError:
            raise common.invalid(host, self.name, 'bmc_address',
                                 'has an invalid port: %r' % (address,))
        if port and host.bmc_port and port != host.bmc_port:
            raise common.invalid(
                host, self.name, 'bmc_port',
                '%s disagrees with the port of bmc_address %r'
                % (host.bmc_port, address))
        port = port or host.bmc_port
        hostname = url.hostname
        if ':' in hostname:
            hostname = '[%s]' % hostname
        return '%s://%s%s' % (url.scheme, hostname,
                              ':%d' % port if port else '')

    def _verify(self, host):
        """requests' ``verify``: True, False or a CA bundle path."""
        value = (host.bmc_options or {}).get('verify')
        field = "bmc_options['verify']"
        if value is None:
            value = self.conf.redfish.ca_bundle
            field = '[redfish] ca_bundle'
            if not value:
                return True
        if isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.lower() in BOOLEANS:
            return strutils.bool_from_string(text, strict=True)
        if not os.access(text, os.R_OK):
            raise common.invalid(host, self.name, field,
                                 '%r is neither true/false nor a readable '
                                 'CA bundle file or directory' % (text,))
        return text

    def _system_path(self, host):
        system_id = (host.bmc_options or {}).get('system_id')
        if not system_id:
            return None
        if system_id.startswith('/'):
            return system_id
        return ROOT_PREFIX + 'Systems/' + urllib.parse.quote(system_id,
                                                             safe='')

    # -- connections --------------------------------------------------------

    def _key(self, host):
        secret = hashlib.sha256(
            (host.bmc_password or '').encode('utf-8')).hexdigest()
        return (self._base_url(host), host.bmc_username, secret,
                self._verify(host), self.conf.redfish.auth_type)

    def _root(self, host, key):
        with self._lock:
            root = self._roots.get(key)
        if root is not None:
            return root
        opts = self.conf.redfish
        if key[3] is False:
            LOG.warning('Redfish BMC %s of host %s: TLS certificate NOT '
                        'verified (bmc_options verify=false)',
                        host.bmc_address, host.name)
        root = sushy.Sushy(
            key[0], root_prefix=ROOT_PREFIX, verify=key[3],
            auth=_AUTH_CLASSES[opts.auth_type](
                username=host.bmc_username, password=host.bmc_password),
            server_side_retries=opts.retries,
            server_side_retries_delay=opts.retry_delay,
            read_timeout=opts.read_timeout,
            connect_timeout=opts.connect_timeout)
        with self._lock:
            self._roots[key] = root
        return root

    def _system(self, host, key):
        root = self._root(host, key)
        path = self._system_path(host)
        try:
            return root.get_system(path)
        except sushy_exc.UnknownDefaultError:
            members = _ids(root)
            raise exception.FencingError(
                host=host.name, bmc=host.bmc_address,
                reason='the BMC has %d systems (%s): set bmc_options '
                       'system_id' % (len(members),
                                      ', '.join(members) or 'none'))
        except sushy_exc.ResourceNotFoundError:
            try:
                members = _ids(root)
            except sushy_exc.SushyError:
                members = ['?']
            raise exception.FencingError(
                host=host.name, bmc=host.bmc_address,
                reason='no Redfish system %s (systems: %s)' % (
                    path, ', '.join(members) or 'none'))

    def _forget(self, key):
        with self._lock:
            self._roots.pop(key, None)

    def close(self):
        """Drop every kept connection (their HTTP sessions close with
        them)."""
        with self._lock:
            self._roots = {}

    def _call(self, host, operation, func):
        key = self._key(host)
        for attempt in (1, 2):
            with self._lock:
                cached = key in self._roots
            try:
                return func(self._system(host, key))
            except Exception as err:
                self._forget(key)
                if (attempt == 1 and cached
                        and isinstance(err, sushy_exc.ConnectionError)
                        and not _is_tls_error(err)):
                    # a kept-alive connection the BMC closed meanwhile:
                    # retry once on a new connection (reset is idempotent)
                    LOG.debug('Redfish %s on %s failed on a cached '
                              'connection, retrying: %s', operation,
                              host.bmc_address, err)
                    continue
                raise self._translate(host, operation, err) from err

    def _translate(self, host, operation, err):
        kwargs = dict(host=host.name, bmc=host.bmc_address)
        if isinstance(err, exception.VmhaError):
            return err
        if isinstance(err, sushy_exc.AccessError):
            return exception.BMCAuthError(
                reason='Redfish %s as %s: HTTP %s' % (
                    operation, host.bmc_username, err.status_code), **kwargs)
        if isinstance(err, sushy_exc.ConnectionError):
            if _is_tls_error(err):
                return exception.FencingError(
                    reason='TLS verification failed for Redfish %s (set '
                           '[redfish] ca_bundle or the host\'s '
                           "bmc_options['verify']): %s"
                           % (operation, common.short(str(err))),
                    **kwargs)
            return exception.BMCUnreachable(
                reason='Redfish %s: %s' % (operation,
                                           common.short(str(err))),
                **kwargs)
        if isinstance(err, sushy_exc.InvalidParameterValueError):
            return exception.FencingUnsupported(
                driver=self.name, operation=operation, host=host.name,
                bmc=host.bmc_address,
                reason='the BMC does not offer it: %s' % common.short(
                    str(err)))
        if isinstance(err, sushy_exc.SushyError):
            return exception.FencingError(
                reason='Redfish %s: %s' % (operation,
                                           common.short(str(err))),
                **kwargs)
        return exception.FencingError(
            reason='Redfish %s: %s: %s' % (operation, type(err).__name__,
                                           common.short(str(err))),
            **kwargs)

    # -- FencingDriver ------------------------------------------------------

    def get_power_state(self, host):
        # get_system() reads the system afresh: one GET per status
        state = self._call(host, 'power status',
                           lambda system: system.power_state)
        if state in _STATES:
            return _STATES[state]
        LOG.warning('Redfish BMC %s of host %s reported power state %r',
                    host.bmc_address, host.name, state)
        return base.POWER_UNKNOWN

    def power_off(self, host):
        """ForceOff; a BMC that refuses it for a system that reads Off is
        not an error.

        vmha sends the power-off to hosts that already read off (a first
        "off" is never trusted), and some BMCs refuse ForceOff then (iDRAC:
        HTTP 409 "Server is already powered OFF", iLO: 400). The confirm
        loop reads the state again, so nothing is taken on trust here.
        """
        try:
            self._call(host, 'power off', lambda system: system.reset_system(
                sushy.ResetType.FORCE_OFF))
        except exception.FencingError as err:
            if not self._refused_because_off(host, err):
                raise
            LOG.info('Redfish BMC %s of host %s refused ForceOff of a '
                     'system that reads Off (%s): fine', host.bmc_address,
                     host.name, err)

    def _refused_because_off(self, host, err):
        refusal = err.__cause__
        if not (isinstance(refusal, sushy_exc.HTTPError)
                and refusal.status_code in REFUSED_WHEN_OFF):
            return False
        try:
            return self.get_power_state(host) == base.POWER_OFF
        except exception.VmhaError:
            return False

    def power_on(self, host):
        self._call(host, 'power on', lambda system: system.reset_system(
            sushy.ResetType.ON))
