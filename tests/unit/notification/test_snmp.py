"""The snmp driver without a real receiver: options, varbinds, MIB, bounds.

A plain UDP socket stands in for the receiver where a datagram is needed;
the real snmptrapd is in tests/functional/test_notification_snmp.py.
"""

import datetime
import json
import pathlib
import re
import socket
import threading
import time

import pytest

from vmha.conf import notification_snmp as snmp_conf
from vmha.drivers.notification import base
from vmha.drivers.notification import snmp
from vmha import events
from vmha import exception
from tests.unit.conftest import make_conf

ROOT = pathlib.Path(__file__).resolve().parents[3]
MIB = ROOT / 'etc' / 'mib' / 'VMHA-MIB.txt'
BASE = snmp_conf.DEFAULT_BASE_OID
WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, 600000,
                         tzinfo=datetime.timezone.utc)


def conf(**overrides):
    overrides = {'notification_snmp__' + k: v for k, v in overrides.items()}
    overrides.setdefault('notification_snmp__targets', ['127.0.0.1:16270'])
    return make_conf(**overrides)


def v3(**overrides):
    values = dict(version='3', security_name='hauser',
                  auth_key='authpass123', priv_key='privpass123')
    values.update(overrides)
    return conf(**values)


@pytest.fixture
def drivers():
    made = []

    def make(config):
        made.append(snmp.SnmpNotifier(config))
        return made[-1]

    yield make
    for driver in made:
        driver.close()


@pytest.fixture
def udp_sink():
    """A UDP socket on 127.0.0.1 that receives and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    sock.settimeout(5)
    yield sock
    sock.close()


# --- option validation -------------------------------------------------------

@pytest.mark.parametrize('entry, host, port, ipv6', [
    ('nms.example.org', 'nms.example.org', 162, False),
    ('192.0.2.7:1162', '192.0.2.7', 1162, False),
    (' nms-1:16262 ', 'nms-1', 16262, False),
    ('[2001:db8::1]:1162', '2001:db8::1', 1162, True),
    ('[::1]', '::1', 162, True),
])
def test_parse_target(entry, host, port, ipv6):
    target = snmp.parse_target(entry)
    assert (target.host, target.port, target.ipv6) == (host, port, ipv6)


@pytest.mark.parametrize('entry, why', [
    ('nms:0', 'port'),
    ('nms:70000', 'port'),
    ('nms:abc', 'port'),
    ('nms:', 'port'),
    ('2001:db8::1', 'IPv6'),
    ('[not-ipv6]:162', 'IPv6'),
    ('bad host:162', 'host name'),
    ('', 'host name'),
])
def test_bad_target_names_the_option(entry, why):
    with pytest.raises(exception.ConfigError) as err:
        snmp.SnmpNotifier(conf(targets=['127.0.0.1:162', entry]))
    message = str(err.value)
    assert '[notification_snmp] targets' in message
    assert '"%s"' % entry in message
    assert why in message


def test_no_target_is_a_config_error():
    with pytest.raises(exception.ConfigError,
                       match=r'\[notification_snmp\] targets: no target'):
        snmp.SnmpNotifier(conf(targets=[]))


@pytest.mark.parametrize('overrides, option', [
    (dict(security_name=None), 'security_name'),
    (dict(auth_key='short'), 'auth_key'),
    (dict(auth_key=None), 'auth_key'),
    (dict(priv_key='1234567'), 'priv_key'),
    (dict(auth_protocol='none'), 'priv_protocol'),
    (dict(engine_id='0x1234'), 'engine_id'),
    (dict(engine_id='0xnothex0000'), 'engine_id'),
    (dict(base_oid='1.3.6.x'), 'base_oid'),
    (dict(base_oid='enterprises.4242'), 'base_oid'),
])
def test_bad_v3_and_oid_options_name_the_option(overrides, option):
    with pytest.raises(exception.ConfigError) as err:
        snmp.SnmpNotifier(v3(**overrides))
    assert '[notification_snmp] %s' % option in str(err.value)


def test_v2c_needs_a_community():
    with pytest.raises(exception.ConfigError, match='community'):
        snmp.SnmpNotifier(conf(community=''))


def test_config_error_never_shows_keys():
    with pytest.raises(exception.ConfigError) as err:
        snmp.SnmpNotifier(v3(auth_key='authpass123', priv_key='short'))
    assert 'authpass123' not in str(err.value)
    assert 'short' not in str(err.value)


@pytest.mark.parametrize('protocol', snmp_conf.AUTH_PROTOCOLS)
def test_every_auth_protocol_maps_to_pysnmp(protocol):
    priv = 'none' if protocol == 'none' else 'AES'
    driver = snmp.SnmpNotifier(v3(auth_protocol=protocol,
                                  priv_protocol=priv))
    auth = driver._auth()
    assert auth.authentication_protocol == snmp._AUTH[protocol]
    expected = ('noAuthNoPriv' if protocol == 'none' else 'authPriv')
    assert auth.security_level == expected


@pytest.mark.parametrize('protocol', snmp_conf.PRIV_PROTOCOLS)
def test_every_priv_protocol_maps_to_pysnmp(protocol):
    driver = snmp.SnmpNotifier(v3(priv_protocol=protocol))
    auth = driver._auth()
    assert auth.privacy_protocol == snmp._PRIV[protocol]
    assert auth.security_level == ('authNoPriv' if protocol == 'none'
                                   else 'authPriv')


def test_engine_id_default_and_explicit():
    assert snmp.default_engine_id('cmp-1') == '80001f8804' + b'cmp-1'.hex()
    assert len(bytes.fromhex(snmp.default_engine_id('x' * 80))) == 32
    driver = snmp.SnmpNotifier(v3(engine_id='0x80001F8880C0FFEE0000000001'))
    assert driver.engine_id == '80001f8880c0ffee0000000001'


def test_deadline_covers_every_inform_attempt():
    driver = snmp.SnmpNotifier(conf(timeout=0.5, retries=2))
    assert driver.deadline == pytest.approx(2 * 0.5 * 3 + 1)


def test_secret_options():
    secret = {opt.dest for opt in snmp_conf.OPTS if opt.secret}
    assert secret == {'community', 'auth_key', 'priv_key'}
    assert all(opt.help for opt in snmp_conf.OPTS)


# --- notification content ----------------------------------------------------

def test_every_event_type_has_its_own_notification():
    numbers = [n for n, _ in snmp.NOTIFICATIONS.values()]
    assert set(snmp.NOTIFICATIONS) == set(events.ALL_TYPES)
    assert len(set(numbers)) == len(numbers)
    assert snmp.GENERIC_NOTIFICATION[0] not in numbers
    assert snmp.notification_oid(events.HOST_FENCED, BASE) == BASE + '.0.2'
    assert snmp.notification_oid('vmha.thing.new', '1.3.6.1.4.1.99') == \
        '1.3.6.1.4.1.99.0.100'


def test_varbinds_of_an_evacuation_failure():
    event = events.Event(
        events.INSTANCE_EVACUATE_FAILED, host='cmp-1', recovery_id='r-1',
        level=2, timestamp=WHEN,
        payload={'instance_id': 'i-1', 'instance_name': 'vm-é',
                 'error': 'No valid host', 'attempt': 2})
    varbinds = snmp.build_varbinds(event, BASE)
    oids = [oid for oid, _ in varbinds]
    assert oids == ['%s.1.1.%d.0' % (BASE, n) for n in range(1, 12)]
    values = {vb.name: value for vb, (_, value) in zip(snmp.VARBINDS,
                                                       varbinds)}
    assert bytes(values['vmhaEventType']) == b'vmha.instance.evacuate.error'
    assert int(values['vmhaEventSeverity']) == 3
    assert bytes(values['vmhaEventHost']) == b'cmp-1'
    assert bytes(values['vmhaEventRecoveryId']) == b'r-1'
    assert int(values['vmhaEventRecoveryLevel']) == 2
    assert bytes(values['vmhaEventTimestamp']) == \
        b'2026-01-02T03:04:05.600000+00:00'
    assert bytes(values['vmhaEventInstanceId']) == b'i-1'
    assert bytes(values['vmhaEventInstanceName']).decode('utf-8') == 'vm-é'
    assert bytes(values['vmhaEventTargetHost']) == b''
    assert bytes(values['vmhaEventText']) == b'No valid host'
    assert json.loads(bytes(values['vmhaEventDetails'])) == {'attempt': 2}


def test_values_of_an_event_outside_a_recovery():
    values = snmp.event_values(events.Event(
        events.HOST_FAILURE_DETECTED, host='cmp-2',
        payload={'source': 'nova-service-state'}))
    assert values['vmhaEventSeverity'] == 2
    assert values['vmhaEventRecoveryId'] == ''
    assert values['vmhaEventRecoveryLevel'] == 0
    assert values['vmhaEventText'] == ''
    assert json.loads(values['vmhaEventDetails']) == {
        'source': 'nova-service-state'}


def test_reason_is_the_text_and_kept_in_details_next_to_an_error():
    skipped = snmp.event_values(events.Event(
        events.INSTANCE_SKIPPED, host='h', payload={'reason': 'paused'}))
    assert skipped['vmhaEventText'] == 'paused'
    assert skipped['vmhaEventDetails'] == ''
    both = snmp.event_values(events.Event(
        events.RECOVERY_FAILED, host='h',
        payload={'error': 'boom', 'reason': 'why'}))
    assert both['vmhaEventText'] == 'boom'
    assert json.loads(both['vmhaEventDetails']) == {'reason': 'why'}


def test_long_strings_are_cut_on_a_character_boundary():
    event = events.Event(events.RECOVERY_FAILED, host='h' * 300,
                         payload={'error': 'é' * 600})
    values = dict(zip([vb.name for vb in snmp.VARBINDS],
                      [v for _, v in snmp.build_varbinds(event, BASE)]))
    assert len(bytes(values['vmhaEventHost'])) == 255
    text = bytes(values['vmhaEventText'])
    assert len(text) == 1024
    assert text.decode('utf-8') == 'é' * 512


def test_base_oid_moves_everything():
    event = events.Event(events.HOST_FENCED, host='h')
    varbinds = snmp.build_varbinds(event, '1.3.6.1.4.1.99999.7')
    assert all(oid.startswith('1.3.6.1.4.1.99999.7.1.1.')
               for oid, _ in varbinds)
    driver = snmp.SnmpNotifier(conf(base_oid='.1.3.6.1.4.1.99999.7'))
    assert driver.base_oid == '1.3.6.1.4.1.99999.7'


# --- the MIB and the driver agree -------------------------------------------

def _mib():
    return MIB.read_text()


def test_mib_module_identity_is_the_default_base_oid():
    match = re.search(r'vmhaMIB MODULE-IDENTITY.*?::=\s*\{\s*iso ([\d ]+)\}',
                      _mib(), re.S)
    assert match, 'vmhaMIB MODULE-IDENTITY not found'
    assert '1.' + '.'.join(match.group(1).split()) == BASE


def test_mib_notifications_match_the_driver():
    found = {name: int(number) for name, number in re.findall(
        r'^(\w+) NOTIFICATION-TYPE.*?::= \{ vmhaNotifications (\d+) \}',
        _mib(), re.S | re.M)}
    expected = {name: n for n, name in snmp.NOTIFICATIONS.values()}
    generic_number, generic_name = snmp.GENERIC_NOTIFICATION
    expected[generic_name] = generic_number
    assert found == expected


def test_mib_notifications_carry_every_varbind_in_order():
    mib = _mib()
    names = [vb.name for vb in snmp.VARBINDS]
    blocks = re.findall(r'NOTIFICATION-TYPE\s+OBJECTS \{([^}]*)\}', mib)
    assert len(blocks) == len(snmp.NOTIFICATIONS) + 1
    for block in blocks:
        assert [n.strip() for n in block.split(',')] == names


def test_mib_objects_match_the_driver():
    mib = _mib()
    found = {name: (syntax.strip(), int(number)) for name, syntax, number in
             re.findall(r'^(\w+) OBJECT-TYPE\s+SYNTAX\s+(.*?)\n.*?'
                        r'::= \{ vmhaEventObjects (\d+) \}', mib,
                        re.S | re.M)}
    assert set(found) == {vb.name for vb in snmp.VARBINDS}
    for vb in snmp.VARBINDS:
        syntax, number = found[vb.name]
        assert number == vb.number
        if vb.kind == 'str':
            assert syntax == 'OCTET STRING (SIZE (0..%d))' % vb.size
        else:
            assert syntax.startswith(('Integer32', 'INTEGER'))
    assert re.search(r'INTEGER \{ info\(1\), warning\(2\), error\(3\) \}',
                     mib)
    assert snmp.SEVERITIES == {events.INFO: 1, events.WARNING: 2,
                               events.ERROR: 3}


def test_mib_documents_every_event_type():
    mib = _mib()
    for event_type in events.ALL_TYPES:
        assert 'Event type %s ' % event_type in mib


# --- sending, against a UDP socket -------------------------------------------

def test_trap_reaches_the_socket_from_any_thread(drivers, udp_sink):
    port = udp_sink.getsockname()[1]
    driver = drivers(conf(targets=['127.0.0.1:%d' % port],
                          community='s3cret-community'))
    hosts = ['host-%d' % n for n in range(4)]
    threads = [threading.Thread(target=driver.notify, args=(
        events.Event(events.HOST_FENCED, host=h),)) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    received = [udp_sink.recv(65535) for _ in hosts]
    for host in hosts:
        assert any(host.encode() in data for data in received)
    assert all(b's3cret-community' in data for data in received)
    # one private loop, reused
    assert driver._thread.is_alive()


def test_inform_without_answer_fails_within_the_deadline(drivers, udp_sink):
    port = udp_sink.getsockname()[1]
    driver = drivers(conf(targets=['127.0.0.1:%d' % port],
                          notification_type='inform', timeout=0.2,
                          retries=1))
    with pytest.raises(base.NotificationFailed) as err:
        driver.notify(events.Event(events.HOST_FENCED, host='h1'))
    # pysnmp's own timeout and retries ended it, not the driver's deadline
    # cut (that would be NotificationTimeout): no wall-clock assertion, so
    # a loaded machine cannot fail it
    assert not isinstance(err.value, base.NotificationTimeout)
    assert '127.0.0.1:%d' % port in str(err.value)
    assert 'vmha.host.fence.end' in str(err.value)
    # it was sent twice (retries=1) and nobody answered
    udp_sink.settimeout(0.5)
    assert udp_sink.recv(65535)
    assert udp_sink.recv(65535)


def test_a_hung_send_is_cut_at_the_deadline(drivers, monkeypatch):
    driver = drivers(conf(timeout=0.1, retries=0))

    async def hang(*args):
        import asyncio
        await asyncio.sleep(60)

    monkeypatch.setattr(driver, '_send_one', hang)
    start = time.monotonic()
    with pytest.raises(base.NotificationTimeout):
        driver.notify(events.Event(events.HOST_FENCED, host='h1'))
    # cut, not hung for the 60 s the send would take (a wide bound: a
    # loaded machine must not fail it)
    assert time.monotonic() - start < 30


def test_unresolvable_target_is_reported_not_hung(drivers):
    driver = drivers(conf(targets=['no-such-host.invalid:162']))
    start = time.monotonic()
    with pytest.raises(base.NotificationFailed) as err:
        driver.notify(events.Event(events.HOST_FENCED, host='h1'))
    # cut, not hung for the 60 s the send would take (a wide bound: a
    # loaded machine must not fail it)
    assert time.monotonic() - start < 30
    if not isinstance(err.value, base.NotificationTimeout):
        # (a resolver that does not answer at all is cut at the deadline)
        assert 'no-such-host.invalid:162' in str(err.value)


def test_close_stops_the_loop_and_a_new_notify_restarts_it(udp_sink):
    port = udp_sink.getsockname()[1]
    driver = snmp.SnmpNotifier(conf(targets=['127.0.0.1:%d' % port]))
    driver.close()                       # never started: nothing to do
    driver.notify(events.Event(events.HOST_FENCED, host='h1'))
    thread = driver._thread
    driver.close()
    assert not thread.is_alive()
    driver.notify(events.Event(events.HOST_FENCED, host='h2'))
    driver.close()
    assert b'h1' in udp_sink.recv(65535)
    assert b'h2' in udp_sink.recv(65535)
