"""The ``ipmi`` fencing driver: IPMI 2.0 (RMCP+, "lanplus") through pyghmi.

Host fields: ``bmc_address`` (IP or name), ``bmc_port`` (UDP, default 623),
``bmc_username`` and ``bmc_password`` (at most 20 bytes, the IPMI 2.0 limit).
``bmc_options``: ``kg`` (the BMC key, if the BMC has one) and
``privilege_level`` (``administrator``, the default, or ``operator``).

Sessions are kept by the driver instance (one per process, see
:func:`vmha.drivers.loader.get`) per BMC (address, port, user, password, Kg,
privilege) and reused while busy (a power status read on an open session
costs a few milliseconds) and dropped when idle (see SESSION_IDLE_SECONDS). A
session is dropped after any error, so the next call logs in anew (a BMC that
restarted, or a password fixed in the inventory, recovers without a restart).
pyghmi has no per-call timeout: an unreachable BMC fails after about 5 s, a
BMC that dies mid-session after about 30 s; ``[fencing] bmc_timeout`` is the
deadline the caller applies to every call.

pyghmi is given the credentials as ``bytes``: with ``str`` pyghmi 1.6 can
hang on a second session to the same BMC and never recovers after a failure.
"""

import hashlib
import socket
import threading
import time

from oslo_log import log as logging
from pyghmi import exceptions as pyghmi_exc
from pyghmi.ipmi import command as ipmi_command

from vmha.drivers.fencing import base
from vmha.drivers.fencing import common
from vmha import exception

LOG = logging.getLogger(__name__)

DEFAULT_PORT = 623
MAX_PASSWORD_BYTES = 20
# A session idle for longer is logged out, not reused. Measured against
# ipmi_sim: a call on a session idle for 30-45 s took 18-21 s (pyghmi waits
# for the dropped session to time out), even from a new Command; after a
# logout the new login and status read took 12 ms.
SESSION_IDLE_SECONDS = 15
# IPMI 2.0 "Chassis Control" (NetFn Chassis 0x00, command 0x02), data 0:
# power down
CHASSIS_NETFN = 0x00
CHASSIS_CONTROL = 0x02
CHASSIS_POWER_DOWN = 0x00
PRIVILEGE_LEVELS = {'administrator': 4, 'admin': 4, 'operator': 3}

# Substrings of pyghmi's login errors that mean "credentials refused".
_AUTH_ERRORS = (
    'incorrect password', 'unauthorized name', 'unauthorized role',
    'invalid role', 'invalid username length', 'wrong kg',
    'invalid integrity check value', 'insufficient privilege',
)
# pyghmi's words for "no answer" (an empty message is the login timeout).
_UNREACHABLE_ERRORS = ('session no longer connected', 'timeout',
                       'timed out')


def _encode(value):
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode('utf-8')


def _log_out(cmd):
    """End an idle session so that pyghmi does not hand it out again.

    pyghmi shares one session per BMC and user between Commands and trusts
    it until its keepalive is 15 s overdue; a BMC that dropped it sooner
    leaves the next call waiting about 20 s for the dead session. Logging
    out is local (no answer awaited) and makes pyghmi log in anew.
    """
    try:
        cmd.ipmi_session.logout()
    except Exception as err:      # the session may be long gone
        LOG.debug('IPMI logout of an idle session: %s', err)


def _power_down(cmd):
    """Chassis control "power down" (hard, not an ACPI shutdown), sent
    whatever the power state reads.

    Sent raw: pyghmi's set_power('off') reads the state first and sends
    nothing when it reads off, and vmha never trusts an "off" it did not
    confirm after a power-off. A BMC that refuses the command for a chassis
    that is off (completion code "not in present state") is not an error:
    the confirm loop reads the state again.
    """
    response = cmd.raw_command(netfn=CHASSIS_NETFN,
                               command=CHASSIS_CONTROL,
                               data=[CHASSIS_POWER_DOWN])
    if 'error' not in response:
        return
    if (cmd.get_power() or {}).get('powerstate') == base.POWER_OFF:
        LOG.info('IPMI BMC %s refused power down of a chassis that is '
                 'off (%s): fine', cmd.bmc, response['error'])
        return
    raise pyghmi_exc.IpmiException(response['error'])


class IPMIDriver(base.FencingDriver):
    """Hard power control through the host's IPMI BMC."""

    properties = {
        'bmc_address': base.Required('IP address or host name of the BMC'),
        'bmc_port': 'UDP port of the BMC (default %d)' % DEFAULT_PORT,
        'bmc_username': base.Required('IPMI user (at most 16 bytes)'),
        'bmc_password': base.Required(
            'IPMI password (at most %d bytes)' % MAX_PASSWORD_BYTES),
        'kg': 'the BMC key (Kg), if the BMC has one (secret)',
        'privilege_level': 'administrator (default) or operator',
    }

    def __init__(self, conf):
        super().__init__(conf)
        # {key: (Command holding a logged-in session, last use)}
        self._sessions = {}
        self._sessions_lock = threading.Lock()

    # -- validation ---------------------------------------------------------

    def validate(self, host):
        super().validate(host)
        if len(_encode(host.bmc_password)) > MAX_PASSWORD_BYTES:
            raise common.invalid(
                host, self.name, 'bmc_password',
                'is longer than %d bytes (the IPMI 2.0 limit)'
                % MAX_PASSWORD_BYTES)
        if len(_encode(host.bmc_username)) > 16:
            raise common.invalid(host, self.name, 'bmc_username',
                                 'is longer than 16 bytes (the IPMI limit)')
        self._privilege(host)

    def _privilege(self, host):
        value = (host.bmc_options or {}).get('privilege_level')
        if value is None:
            return None         # pyghmi: administrator, lowered if refused
        try:
            return PRIVILEGE_LEVELS[str(value).lower()]
        except KeyError:
            raise common.invalid(
                host, self.name, "bmc_options['privilege_level']",
                '%r is not one of administrator, operator' % (value,))

    # -- sessions -----------------------------------------------------------

    def _key(self, host):
        secret = hashlib.sha256(
            _encode(host.bmc_password or '') + b'\0' +
            (_encode((host.bmc_options or {}).get('kg')) or b'')).hexdigest()
        return (host.bmc_address, host.bmc_port or DEFAULT_PORT,
                host.bmc_username, secret, self._privilege(host))

    def _command(self, host):
        if not host.bmc_address:
            # pyghmi without an address opens the LOCAL IPMI device: this
            # machine's own BMC, never the failed host's
            raise exception.HostNotFenceable(
                host=host.name,
                reason='the ipmi driver has no bmc_address for it and '
                       'never uses the local IPMI device')
        key = self._key(host)
        now = time.monotonic()
        with self._sessions_lock:
            cmd, last_used = self._sessions.pop(key, (None, 0))
            if cmd is not None and now - last_used < SESSION_IDLE_SECONDS:
                self._sessions[key] = (cmd, now)
                return key, cmd
        if cmd is not None:
            _log_out(cmd)
        cmd = ipmi_command.Command(
            bmc=host.bmc_address, userid=_encode(host.bmc_username),
            password=_encode(host.bmc_password),
            port=host.bmc_port or DEFAULT_PORT,
            kg=_encode((host.bmc_options or {}).get('kg')),
            privlevel=self._privilege(host))
        with self._sessions_lock:
            self._sessions[key] = (cmd, now)
        return key, cmd

    def _forget(self, key):
        # Only the Command is dropped: pyghmi itself discards a broken
        # session and hands a new Command the old session while it works.
        with self._sessions_lock:
            self._sessions.pop(key, None)

    def close(self):
        """Log out of every kept session."""
        with self._sessions_lock:
            kept, self._sessions = self._sessions, {}
        for cmd, _last_used in kept.values():
            _log_out(cmd)

    def _call(self, host, operation, func):
        key = None
        try:
            key, cmd = self._command(host)
            return func(cmd)
        except Exception as err:
            if key is None:
                key = self._key(host)
            self._forget(key)
            raise self._translate(host, operation, err) from err

    def _translate(self, host, operation, err):
        kwargs = dict(host=host.name, bmc=host.bmc_label)
        if isinstance(err, exception.VmhaError):
            return err
        if isinstance(err, socket.gaierror):
            return exception.BMCUnreachable(
                reason='cannot resolve %s: %s' % (host.bmc_address, err),
                **kwargs)
        if isinstance(err, OSError):
            return exception.BMCUnreachable(
                reason='IPMI %s: %s' % (operation, err), **kwargs)
        text = str(err.args[0]) if err.args and err.args[0] else ''
        lowered = text.lower()
        if isinstance(err, pyghmi_exc.IpmiException):
            if not text or lowered == 'none':
                return exception.BMCUnreachable(
                    reason='no IPMI answer to %s (wrong address/port, or '
                           'IPMI over LAN disabled?)' % operation, **kwargs)
            if any(word in lowered for word in _AUTH_ERRORS):
                return exception.BMCAuthError(
                    reason='IPMI login as %s: %s' % (host.bmc_username,
                                                     text), **kwargs)
            if any(word in lowered for word in _UNREACHABLE_ERRORS):
                return exception.BMCUnreachable(
                    reason='IPMI %s: %s' % (operation, text), **kwargs)
        return exception.FencingError(
            reason='IPMI %s: %s: %s' % (operation, type(err).__name__,
                                        common.short(text) or repr(err)),
            **kwargs)

    # -- FencingDriver ------------------------------------------------------

    def get_power_state(self, host):
        result = self._call(host, 'power status',
                            lambda cmd: cmd.get_power())
        state = (result or {}).get('powerstate')
        if state in (base.POWER_ON, base.POWER_OFF):
            return state
        LOG.warning('IPMI BMC %s of host %s reported power state %r',
                    host.bmc_label, host.name, state)
        return base.POWER_UNKNOWN

    def power_off(self, host):
        self._call(host, 'power off', _power_down)

    def power_on(self, host):
        self._call(host, 'power on',
                   lambda cmd: cmd.set_power('on', wait=False))
