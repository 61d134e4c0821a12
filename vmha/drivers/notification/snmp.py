"""The ``snmp`` notifier: one SNMPv2c or SNMPv3 trap (or inform) per event.

The notifications and their varbinds are defined in ``etc/mib/VMHA-MIB.txt``
(see doc/notifications.md)::

    <base_oid>.0.N        one NOTIFICATION-TYPE per event type (NOTIFICATIONS)
    <base_oid>.1.1.N.0    the varbinds, the same 11 in every notification

pysnmp 7 is asyncio-only. Each driver owns a private event loop running in a
daemon thread; ``notify`` (synchronous, called from any thread) submits the
send to that loop and waits at most ``deadline`` seconds, so neither a dead
receiver nor a hung name lookup can hold the caller longer.
"""

import asyncio
import dataclasses
import ipaddress
import json
import re
import socket
import threading

from oslo_log import log as logging
from pysnmp.hlapi.v3arch import asyncio as hlapi
from pysnmp.proto import rfc1902

from vmha.drivers.notification import base
from vmha import events
from vmha import exception

LOG = logging.getLogger(__name__)

GROUP = 'notification_snmp'
DEFAULT_PORT = 162

# event type -> (N of the notification <base_oid>.0.N, its VMHA-MIB name)
NOTIFICATIONS = {
    events.HOST_FAILURE_DETECTED: (1, 'vmhaHostFailureDetected'),
    events.HOST_FENCED: (2, 'vmhaHostFenced'),
    events.HOST_FENCE_FAILED: (3, 'vmhaHostFenceFailed'),
    events.SERVICE_FORCED_DOWN: (4, 'vmhaServiceForcedDown'),
    events.SERVICE_FORCE_DOWN_FAILED: (5, 'vmhaServiceForceDownFailed'),
    events.SERVICE_DOWN: (6, 'vmhaServiceDown'),
    events.SERVICE_DISABLED: (7, 'vmhaServiceDisabled'),
    events.RECOVERY_STARTED: (8, 'vmhaRecoveryStarted'),
    events.RECOVERY_COMPLETED: (9, 'vmhaRecoveryCompleted'),
    events.RECOVERY_COMPLETED_WITH_ERRORS:
        (10, 'vmhaRecoveryCompletedWithErrors'),
    events.RECOVERY_FAILED: (11, 'vmhaRecoveryFailed'),
    events.INSTANCE_EVACUATE_STARTED: (12, 'vmhaInstanceEvacuateStarted'),
    events.INSTANCE_EVACUATED: (13, 'vmhaInstanceEvacuated'),
    events.INSTANCE_EVACUATE_FAILED: (14, 'vmhaInstanceEvacuateFailed'),
    events.INSTANCE_SKIPPED: (15, 'vmhaInstanceSkipped'),
    events.HOST_RECOVERED: (16, 'vmhaHostRecovered'),
    events.MASS_FAILURE: (17, 'vmhaMassFailure'),
    events.AGENT_LOST: (18, 'vmhaAgentLost'),
    events.AGENT_RECOVERED: (19, 'vmhaAgentRecovered'),
    events.INSTANCE_RESET: (21, 'vmhaInstanceReset'),
    events.INSTANCE_HANDED_OVER: (22, 'vmhaInstanceHandedOver'),
    events.HOST_REINSTATED: (23, 'vmhaHostReinstated'),
    # capacity (vmha.capacity, vmha.reserved): numbered from 40 on
    events.INSTANCE_EVACUATE_WAITING: (40, 'vmhaInstanceEvacuateWaiting'),
    events.RECOVERY_RETRY_STARTED: (41, 'vmhaRecoveryRetryStarted'),
    events.RESERVED_HOST_ENABLED: (42, 'vmhaReservedHostEnabled'),
    events.RESERVED_HOST_FAILED: (43, 'vmhaReservedHostFailed'),
    # watchdog (vmha.watchdog): numbered from 50 on
    events.AGENT_WATCHDOG_MISSING: (50, 'vmhaAgentWatchdogMissing'),
}
# Event types this MIB revision does not list (third-party emitters, newer
# vmha) still reach the NMS; vmhaEventType names them.
GENERIC_NOTIFICATION = (100, 'vmhaGenericEvent')

# vmhaEventSeverity values
SEVERITIES = {events.INFO: 1, events.WARNING: 2, events.ERROR: 3}


@dataclasses.dataclass(frozen=True)
class Varbind:
    number: int          # <base_oid>.1.1.<number>.0
    name: str            # VMHA-MIB object name
    kind: str            # 'str' (OCTET STRING, UTF-8) or 'int' (Integer32)
    size: int = 255      # maximum octets of a string


VARBINDS = (
    Varbind(1, 'vmhaEventType', 'str'),
    Varbind(2, 'vmhaEventSeverity', 'int'),
    Varbind(3, 'vmhaEventHost', 'str'),
    Varbind(4, 'vmhaEventRecoveryId', 'str'),
    Varbind(5, 'vmhaEventRecoveryLevel', 'int'),
    Varbind(6, 'vmhaEventTimestamp', 'str', 64),
    Varbind(7, 'vmhaEventInstanceId', 'str'),
    Varbind(8, 'vmhaEventInstanceName', 'str'),
    Varbind(9, 'vmhaEventTargetHost', 'str'),
    Varbind(10, 'vmhaEventText', 'str', 1024),
    Varbind(11, 'vmhaEventDetails', 'str', 1024),
)

# payload keys that have a varbind of their own (the rest go to details)
_OWN_KEYS = ('instance_id', 'instance_name', 'target_host', 'error',
             'reason')

_AUTH = {
    'none': hlapi.usmNoAuthProtocol,
    'MD5': hlapi.usmHMACMD5AuthProtocol,
    'SHA': hlapi.usmHMACSHAAuthProtocol,
    'SHA224': hlapi.usmHMAC128SHA224AuthProtocol,
    'SHA256': hlapi.usmHMAC192SHA256AuthProtocol,
    'SHA384': hlapi.usmHMAC256SHA384AuthProtocol,
    'SHA512': hlapi.usmHMAC384SHA512AuthProtocol,
}
_PRIV = {
    'none': hlapi.usmNoPrivProtocol,
    'DES': hlapi.usmDESPrivProtocol,
    '3DES': hlapi.usm3DESEDEPrivProtocol,
    'AES': hlapi.usmAesCfb128Protocol,
    # Net-SNMP extends short keys for AES-192/256 after Blumenthal, Cisco
    # after Reeder; both agree whenever the auth key is long enough.
    'AES192': hlapi.usmAesBlumenthalCfb192Protocol,
    'AES256': hlapi.usmAesBlumenthalCfb256Protocol,
    'AES192C': hlapi.usmAesCfb192Protocol,
    'AES256C': hlapi.usmAesCfb256Protocol,
}

_HOSTNAME = re.compile(r'^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})'
                       r'(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$')
_OID = re.compile(r'^[0-2](\.(0|[1-9][0-9]*))+$')


def _config_error(option, message):
    return exception.ConfigError(
        reason='[%s] %s: %s' % (GROUP, option, message))


# --- option parsing ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Target:
    host: str
    port: int
    ipv6: bool = False

    def __str__(self):
        host = '[%s]' % self.host if self.ipv6 else self.host
        return '%s:%d' % (host, self.port)


def parse_target(entry):
    """``host[:port]`` or ``[ipv6][:port]`` -> Target; ValueError if bad."""
    text = entry.strip()
    match = re.fullmatch(r'\[([^\]]+)\](?::([^:]*))?', text)
    if match:
        host, port = match.group(1), match.group(2)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError('%r is not an IPv6 address' % host)
        ipv6 = True
    else:
        if text.count(':') > 1:
            raise ValueError('write an IPv6 address as [address]:port')
        host, _, port = text.partition(':')
        if not _HOSTNAME.match(host):
            raise ValueError('%r is not a host name or IPv4 address' % host)
        ipv6 = False
        if ':' in text and port == '':
            raise ValueError('the port after ":" is missing')
    if port is None or port == '':
        number = DEFAULT_PORT
    else:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError('port %r is not a number from 1 to 65535'
                             % port)
        number = int(port)
    return Target(host, number, ipv6)


def parse_targets(values):
    """Parse ``[notification_snmp] targets``; ConfigError naming it."""
    targets = []
    for entry in values or ():
        try:
            targets.append(parse_target(entry))
        except ValueError as err:
            raise _config_error(
                'targets', '"%s" is not a host:port target (%s)'
                % (entry, err))
    if not targets:
        raise _config_error(
            'targets', 'no target is configured: the snmp notification '
            'driver needs at least one host:port')
    return targets


def parse_oid(value, option='base_oid'):
    value = (value or '').strip().lstrip('.')
    if not _OID.match(value):
        raise _config_error(option, '"%s" is not a numeric OID such as '
                            '1.3.6.1.4.1.8072.9999.9999.4242' % value)
    return value


def default_engine_id(hostname=None):
    """RFC 3411 text-format engine id: Net-SNMP's enterprise (8072), format
    4, then up to 27 octets of the host name."""
    name = (hostname or socket.gethostname()).encode('utf-8')[:27] or b'vmha'
    return '80001f8804' + name.hex()


def parse_engine_id(value):
    """'0x8000...' (or plain hex) -> lower-case hex, 5 to 32 octets."""
    text = value.strip().lower()
    if text.startswith('0x'):
        text = text[2:]
    if not re.fullmatch(r'([0-9a-f]{2}){5,32}', text):
        raise _config_error('engine_id', '"%s" is not 5 to 32 octets of hex '
                            '(e.g. 0x80001f8880c0ffee0000000001)' % value)
    return text


def build_auth(opts):
    """The pysnmp authentication object for ``[notification_snmp]``.

    Returns a factory: pysnmp's notification set-up mutates the object, so
    every send gets a fresh one.
    """
    if opts.version == '2c':
        if not opts.community:
            raise _config_error('community', 'must not be empty for SNMPv2c')
        community = opts.community
        return lambda: hlapi.CommunityData(community, mpModel=1)

    if not opts.security_name:
        raise _config_error('security_name', 'is required for SNMPv3')
    auth_key = priv_key = None
    auth_protocol = _AUTH[opts.auth_protocol]
    priv_protocol = _PRIV[opts.priv_protocol]
    if opts.auth_protocol != 'none':
        if not opts.auth_key or len(opts.auth_key) < 8:
            raise _config_error('auth_key', 'must be at least 8 characters '
                                'with auth_protocol %s' % opts.auth_protocol)
        auth_key = opts.auth_key
    if opts.priv_protocol != 'none':
        if opts.auth_protocol == 'none':
            raise _config_error('priv_protocol', 'privacy (%s) needs an '
                                'auth_protocol' % opts.priv_protocol)
        if not opts.priv_key or len(opts.priv_key) < 8:
            raise _config_error('priv_key', 'must be at least 8 characters '
                                'with priv_protocol %s' % opts.priv_protocol)
        priv_key = opts.priv_key
    user = opts.security_name
    return lambda: hlapi.UsmUserData(
        user, authKey=auth_key, privKey=priv_key,
        authProtocol=auth_protocol, privProtocol=priv_protocol)


# --- the notification content ------------------------------------------------

def notification_for(event_type):
    """(N, MIB name) of the notification sent for ``event_type``."""
    return NOTIFICATIONS.get(event_type, GENERIC_NOTIFICATION)


def notification_oid(event_type, base_oid):
    return '%s.0.%d' % (base_oid, notification_for(event_type)[0])


def varbind_oid(varbind, base_oid):
    return '%s.1.1.%d.0' % (base_oid, varbind.number)


def _clip(text, size):
    """UTF-8 octets of ``text``, cut to ``size`` on a character boundary."""
    data = text.encode('utf-8')
    if len(data) <= size:
        return data
    return data[:size].decode('utf-8', 'ignore').encode('utf-8')


def event_values(event):
    """{varbind name: python value} for ``event`` (None -> '' or 0)."""
    payload = dict(event.payload or {})

    def text(key):
        value = payload.get(key)
        return '' if value is None else str(value)

    message = text('error') or text('reason')
    details = {k: v for k, v in payload.items() if k not in _OWN_KEYS}
    if payload.get('error') is not None and payload.get('reason') is not None:
        details['reason'] = payload['reason']
    return {
        'vmhaEventType': event.event_type,
        'vmhaEventSeverity': SEVERITIES.get(event.priority, 1),
        'vmhaEventHost': event.host or '',
        'vmhaEventRecoveryId': event.recovery_id or '',
        'vmhaEventRecoveryLevel': int(event.level or 0),
        'vmhaEventTimestamp': event.timestamp.isoformat(),
        'vmhaEventInstanceId': text('instance_id'),
        'vmhaEventInstanceName': text('instance_name'),
        'vmhaEventTargetHost': text('target_host'),
        'vmhaEventText': message,
        'vmhaEventDetails': (json.dumps(details, sort_keys=True, default=str,
                                        separators=(',', ':'))
                             if details else ''),
    }


def build_varbinds(event, base_oid):
    """[(oid, pysnmp value)] in VARBINDS order, strings as UTF-8 octets."""
    values = event_values(event)
    result = []
    for varbind in VARBINDS:
        value = values[varbind.name]
        if varbind.kind == 'int':
            snmp_value = rfc1902.Integer32(value)
        else:
            snmp_value = rfc1902.OctetString(_clip(value, varbind.size))
        result.append((varbind_oid(varbind, base_oid), snmp_value))
    return result


# --- the driver --------------------------------------------------------------

class SnmpNotifier(base.Notifier):
    """Sends each event as a VMHA-MIB notification to every target."""

    name = 'snmp'

    def __init__(self, conf):
        super().__init__(conf)
        opts = conf[GROUP]
        self.targets = parse_targets(opts.targets)
        self.base_oid = parse_oid(opts.base_oid)
        self.version = opts.version
        self._auth = build_auth(opts)
        self.engine_id = (parse_engine_id(opts.engine_id) if opts.engine_id
                          else default_engine_id())
        self.notification_type = opts.notification_type
        self.timeout = opts.timeout
        self.retries = opts.retries
        # an inform may need an engine-id discovery round trip first
        self.deadline = 2 * self.timeout * (self.retries + 1) + 1.0
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._engines = {}
        if self.version == '3':
            LOG.info('SNMPv3 %ss to %s use engine id 0x%s',
                     self.notification_type,
                     ', '.join(map(str, self.targets)), self.engine_id)

    # -- private event loop --------------------------------------------------
    def _ensure_loop(self):
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=self._run_loop, args=(loop,), daemon=True,
                    name='vmha-snmp-notifier')
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _run_loop(loop):
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    # -- sending -------------------------------------------------------------
    def notify(self, event):
        oid = notification_oid(event.event_type, self.base_oid)
        varbinds = build_varbinds(event, self.base_oid)
        future = asyncio.run_coroutine_threadsafe(
            self._send_all(oid, varbinds), self._ensure_loop())
        self.wait_sent(future, self.deadline, event)

    def _engine(self, target):
        # One engine per target: pysnmp mixes up concurrent informs of one
        # engine (a dead target made the live one's inform time out too).
        engine = self._engines.get(target)
        if engine is None:
            engine = self._engines[target] = hlapi.SnmpEngine(
                snmpEngineID=rfc1902.OctetString(hexValue=self.engine_id))
        return engine

    async def _send_all(self, oid, varbinds):
        results = await asyncio.gather(
            *(self._send_one(target, oid, varbinds)
              for target in self.targets),
            return_exceptions=True)
        failures = []
        for target, result in zip(self.targets, results):
            if isinstance(result, BaseException):
                result = str(result) or type(result).__name__
            if result:
                failures.append('%s: %s' % (target, result))
        return failures

    async def _send_one(self, target, oid, varbinds):
        transport_cls = (hlapi.Udp6TransportTarget if target.ipv6
                         else hlapi.UdpTransportTarget)
        transport = await transport_cls.create(
            (target.host, target.port), timeout=self.timeout,
            retries=self.retries)
        notification = hlapi.NotificationType(
            hlapi.ObjectIdentity(oid)).add_varbinds(
                *[hlapi.ObjectType(hlapi.ObjectIdentity(vb_oid), value)
                  for vb_oid, value in varbinds])
        error_indication, error_status, error_index, _ = (
            await hlapi.send_notification(
                self._engine(target), self._auth(), transport,
                hlapi.ContextData(), self.notification_type, notification,
                lookupMib=False))
        if error_indication:
            return str(error_indication)
        if error_status:
            return 'error status %s at varbind %s' % (
                error_status.prettyPrint(), error_index)
        return None

    def close(self):
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None:
            return

        async def _close_engines():
            engines, self._engines = self._engines, {}
            for engine in engines.values():
                engine.close_dispatcher()

        try:
            asyncio.run_coroutine_threadsafe(_close_engines(), loop).result(5)
        except Exception:
            LOG.debug('Closing the SNMP engine failed', exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
