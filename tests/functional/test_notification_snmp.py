"""The snmp notification driver against Net-SNMP (snmptrapd, snmptranslate).

Needs the Debian packages ``snmptrapd`` and ``snmp`` (bindep.txt). Every
receiver runs on 127.0.0.1 in a temporary directory and is stopped by PID.
"""

import pathlib
import subprocess
import time
import uuid

import pytest

from vmha.conf import notification_snmp as snmp_conf
from vmha.drivers.notification import base
from vmha.drivers.notification import log as log_driver
from vmha.drivers.notification import snmp
from vmha import events
from vmha import notifier
from tests.functional.peers import snmptrapd
from tests.functional.peers.snmptrapd import by_host
from tests.functional.peers.snmptrapd import check_notification
from tests.unit.conftest import make_conf

ROOT = pathlib.Path(__file__).resolve().parents[2]
MIB_DIR = ROOT / 'etc' / 'mib'
BASE = snmp_conf.DEFAULT_BASE_OID


def snmp_options(**overrides):
    """vmha's options, with ``[notification_snmp] name=value`` overrides."""
    return make_conf(**{'notification_snmp__' + name: value
                        for name, value in overrides.items()})


@pytest.fixture(scope='module')
def receiver(tmp_path_factory):
    """The shared snmptrapd on udp 16262 (v2c public, v3 hauser SHA/AES)."""
    trapd = snmptrapd.SnmpTrapd(tmp_path_factory.mktemp('snmptrapd'))
    trapd.start()
    yield trapd
    trapd.stop()


@pytest.fixture
def second_receiver(tmp_path):
    """A receiver of this test only, on udp 16264 (the test may stop it)."""
    trapd = snmptrapd.SnmpTrapd(tmp_path / 'second', snmptrapd.SECOND_PORT)
    trapd.start()
    yield trapd
    trapd.stop()


@pytest.fixture
def make_driver():
    made = []

    def make(version='2c', targets=None, **overrides):
        values = {'targets': targets or ['%s:%d' % (snmptrapd.HOST,
                                                    snmptrapd.PORT)],
                  'version': version}
        if version == '3':
            values.update(security_name=snmptrapd.USER,
                          auth_protocol='SHA', auth_key=snmptrapd.AUTH_KEY,
                          priv_protocol='AES', priv_key=snmptrapd.PRIV_KEY,
                          engine_id=snmptrapd.SENDER_ENGINE_ID)
        values.update(overrides)
        conf = snmp_options(**values)
        made.append(snmp.SnmpNotifier(conf))
        return made[-1]

    yield make
    for driver in made:
        driver.close()


def unique_host():
    return 'cmp-%s' % uuid.uuid4().hex[:10]


# Several event types, with the fields they carry in a recovery
CASES = [
    (events.HOST_FAILURE_DETECTED, None, None, {'source': 'nova'}),
    (events.HOST_FENCED, 'r-fenced', 2, {'driver': 'ipmi', 'polls': 2}),
    (events.HOST_FENCE_FAILED, 'r-fence-err', 2,
     {'error': 'BMC 192.0.2.10 unreachable', 'driver': 'ipmi'}),
    (events.RECOVERY_COMPLETED_WITH_ERRORS, 'r-errors', 1,
     {'state': 'completed_with_errors', 'failed': 1}),
    (events.INSTANCE_EVACUATED, 'r-evac', 3,
     {'instance_id': 'f3c1a2b4-0000-4000-8000-000000000001',
      'instance_name': 'web-é-1', 'target_host': 'cmp-target'}),
    (events.INSTANCE_EVACUATE_FAILED, 'r-evac-err', 2,
     {'instance_id': 'f3c1a2b4-0000-4000-8000-000000000002',
      'instance_name': 'db-1', 'error': 'No valid host was found.'}),
    (events.INSTANCE_SKIPPED, 'r-skip', 2,
     {'instance_id': 'f3c1a2b4-0000-4000-8000-000000000003',
      'instance_name': 'batch-1', 'reason': 'not HA-enabled'}),
    (events.HOST_RECOVERED, 'r-recovered', 2, {}),
]


# --- the MIB in net-snmp -----------------------------------------------------

def test_mib_loads_in_net_snmp_with_the_driver_oids():
    binary = snmptrapd.require_binary('snmptranslate', 'snmp')
    names = ([name for _, name in snmp.NOTIFICATIONS.values()]
             + [snmp.GENERIC_NOTIFICATION[1]]
             + [v.name for v in snmp.VARBINDS] + ['vmhaMIB'])
    expected = ([snmp.notification_oid(t, BASE) for t in snmp.NOTIFICATIONS]
                + ['%s.0.%d' % (BASE, snmp.GENERIC_NOTIFICATION[0])]
                + ['%s.1.1.%d' % (BASE, v.number) for v in snmp.VARBINDS]
                + [BASE])
    for name, oid in zip(names, expected):
        # the exact command of doc/notifications.md, from the repository root
        result = subprocess.run(
            [binary, '-M', '+:etc/mib', '-m', '+VMHA-MIB', '-IR', '-On',
             name], cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (name, result.stderr[-2000:])
        assert result.stdout.strip() == '.' + oid, name


def test_mib_alone_loads_without_errors():
    binary = snmptrapd.require_binary('snmptranslate', 'snmp')
    result = subprocess.run(
        [binary, '-M', str(MIB_DIR), '-m', 'VMHA-MIB', '-Pe', '-IR', '-Td',
         'vmhaInstanceSkipped'], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert 'OBJECTS\t{ vmhaEventType, vmhaEventSeverity' in result.stdout


def test_snmptrapd_with_the_mib_names_trap_and_varbinds(tmp_path,
                                                       make_driver):
    trapd = snmptrapd.SnmpTrapd(tmp_path, snmptrapd.MIB_PORT,
                                mib_dir=MIB_DIR)
    trapd.start()
    try:
        driver = make_driver('2c', targets=['127.0.0.1:%d'
                                            % snmptrapd.MIB_PORT])
        host = unique_host()
        driver.notify(events.Event(
            events.INSTANCE_SKIPPED, host=host, recovery_id='r-mib',
            level=2, payload={'instance_id': 'i-1', 'reason': 'paused'}))
        deadline = time.monotonic() + 5
        while host not in trapd._read(trapd.log):
            assert time.monotonic() < deadline, trapd._read(trapd.log)
            time.sleep(0.05)
    finally:
        trapd.stop()
    log = trapd._read(trapd.log)
    for text in ('OID: VMHA-MIB::vmhaInstanceSkipped',
                 'VMHA-MIB::vmhaEventHost.0 = STRING: "%s"' % host,
                 'VMHA-MIB::vmhaEventSeverity.0 = INTEGER: info(1)',
                 'VMHA-MIB::vmhaEventRecoveryLevel.0 = INTEGER: 2',
                 'VMHA-MIB::vmhaEventText.0 = STRING: "paused"'):
        assert text in log


# --- traps ---------------------------------------------------------------

@pytest.mark.parametrize('event_type, recovery_id, level, payload', CASES,
                         ids=[c[0] for c in CASES])
def test_v2c_trap_reaches_snmptrapd(receiver, make_driver, event_type,
                                    recovery_id, level, payload):
    driver = make_driver('2c')
    event = events.Event(event_type, host=unique_host(),
                         recovery_id=recovery_id, level=level,
                         payload=payload)
    driver.notify(event)
    logged = receiver.wait_for(by_host(event.host))
    assert logged.pdu == 'TRAP2'
    assert logged.security == 'SNMP v2c, community public'
    check_notification(logged, event)


@pytest.mark.parametrize('event_type, recovery_id, level, payload',
                         CASES[1:3] + CASES[5:7],
                         ids=[c[0] for c in CASES[1:3] + CASES[5:7]])
def test_v3_authpriv_sha_aes_trap_reaches_snmptrapd(
        receiver, make_driver, event_type, recovery_id, level, payload):
    driver = make_driver('3')
    event = events.Event(event_type, host=unique_host(),
                         recovery_id=recovery_id, level=level,
                         payload=payload)
    driver.notify(event)
    logged = receiver.wait_for(by_host(event.host))
    assert logged.pdu == 'TRAP2'
    assert logged.security.startswith('SNMP v3, user hauser')
    check_notification(logged, event)


@pytest.mark.parametrize('kind, auth, priv, logged', [
    ('trap', 'SHA', 'AES256', True),
    ('trap', 'SHA', 'AES256C', False),   # Cisco key extension: not Net-SNMP's
    ('inform', 'SHA512', 'AES256', True),
])
def test_v3_aes256_interoperates_with_net_snmp(receiver, make_driver, kind,
                                               auth, priv, logged):
    driver = make_driver('3', security_name=snmptrapd.USER_AES256,
                         auth_protocol=auth, priv_protocol=priv,
                         notification_type=kind, timeout=0.5, retries=0)
    good = make_driver('2c')
    host, marker = unique_host(), unique_host()
    event = events.Event(events.HOST_FENCED, host=host, recovery_id='r',
                         level=2)
    if kind == 'trap' or logged:
        driver.notify(event)
    else:
        with pytest.raises(base.NotificationFailed):
            driver.notify(event)
    good.notify(events.Event(events.HOST_FENCED, host=marker))
    receiver.wait_for(by_host(marker))
    if logged:
        check_notification(receiver.wait_for(by_host(host)), event)
    else:
        time.sleep(0.2)
        assert host not in receiver._read(receiver.log)


def test_base_oid_option_moves_the_traps(receiver, make_driver):
    driver = make_driver('2c', base_oid='1.3.6.1.4.1.99999.1')
    host = unique_host()
    driver.notify(events.Event(events.RECOVERY_FAILED, host=host,
                               payload={'error': 'boom'}))
    logged = receiver.wait_for(
        lambda n: n.varbinds.get('1.3.6.1.4.1.99999.1.1.1.3.0',
                                 (None, None))[1] == host)
    assert logged.trap_oid == '1.3.6.1.4.1.99999.1.0.11'
    assert logged.varbinds['1.3.6.1.4.1.99999.1.1.1.10.0'] == \
        ('STRING', 'boom')


@pytest.mark.parametrize('version, overrides', [
    ('2c', {'community': 'private'}),
    ('3', {'auth_key': 'wrongpass123'}),
    ('3', {'priv_key': 'wrongpriv123'}),
    ('3', {'engine_id': '0x80001f8880deadbeef00000001'}),
], ids=['wrong-community', 'wrong-auth-key', 'wrong-priv-key',
        'unknown-engine-id'])
def test_rejected_trap_is_not_logged_and_the_driver_returns(
        receiver, make_driver, version, overrides):
    bad = make_driver(version, **overrides)
    good = make_driver(version)
    rejected, marker = unique_host(), unique_host()
    start = time.monotonic()
    bad.notify(events.Event(events.HOST_FENCED, host=rejected))
    assert time.monotonic() - start < 2       # fire-and-forget: no wait
    good.notify(events.Event(events.HOST_FENCED, host=marker))
    receiver.wait_for(by_host(marker))       # everything before it is in
    time.sleep(0.2)
    assert rejected not in receiver._read(receiver.log)


def test_trap_goes_to_every_target(receiver, second_receiver, make_driver):
    driver = make_driver('2c', targets=[
        '127.0.0.1:%d' % snmptrapd.PORT,
        'localhost:%d' % snmptrapd.SECOND_PORT])
    event = events.Event(events.RECOVERY_STARTED, host=unique_host(),
                         recovery_id='r-both', level=2)
    driver.notify(event)
    check_notification(receiver.wait_for(by_host(event.host)), event)
    check_notification(second_receiver.wait_for(by_host(event.host)), event)


# --- informs -------------------------------------------------------------

@pytest.mark.parametrize('version', ['2c', '3'])
def test_inform_is_acknowledged(receiver, make_driver, version):
    driver = make_driver(version, notification_type='inform', timeout=2.0,
                         retries=1)
    event = events.Event(events.INSTANCE_EVACUATE_FAILED,
                         host=unique_host(), recovery_id='r-inform', level=2,
                         payload={'instance_id': 'i-1',
                                  'instance_name': 'vm-1',
                                  'error': 'rebuild timed out'})
    start = time.monotonic()
    driver.notify(event)                      # raises unless acknowledged
    assert time.monotonic() - start < 2.0
    logged = receiver.wait_for(by_host(event.host))
    assert logged.pdu == 'INFORM'
    check_notification(logged, event)


@pytest.mark.parametrize('version', ['2c', '3'])
def test_inform_to_a_stopped_receiver_times_out_within_bound(
        second_receiver, make_driver, version):
    driver = make_driver(version, notification_type='inform', timeout=0.5,
                         retries=1, targets=['127.0.0.1:%d'
                                             % snmptrapd.SECOND_PORT])
    driver.notify(events.Event(events.HOST_FENCED, host=unique_host()))
    second_receiver.stop()
    start = time.monotonic()
    with pytest.raises(base.NotificationFailed) as err:
        driver.notify(events.Event(events.HOST_FENCED, host=unique_host()))
    elapsed = time.monotonic() - start
    # 2 attempts x 0.5 s (+ engine discovery for v3), far below the bound
    assert 0.9 < elapsed < driver.deadline
    assert '127.0.0.1:%d' % snmptrapd.SECOND_PORT in str(err.value)
    assert 'vmha.host.fence.end' in str(err.value)


def test_inform_to_live_and_dead_targets(receiver, make_driver):
    driver = make_driver('2c', notification_type='inform', timeout=0.5,
                         retries=0, targets=[
                             '127.0.0.1:%d' % snmptrapd.DEAD_PORT,
                             '127.0.0.1:%d' % snmptrapd.PORT])
    event = events.Event(events.RECOVERY_FAILED, host=unique_host(),
                         payload={'error': 'boom'})
    with pytest.raises(base.NotificationFailed) as err:
        driver.notify(event)
    message = str(err.value)
    assert '127.0.0.1:%d' % snmptrapd.DEAD_PORT in message
    assert '127.0.0.1:%d:' % snmptrapd.PORT not in message
    check_notification(receiver.wait_for(by_host(event.host)), event)


def test_dispatcher_counts_a_dead_inform_receiver(receiver, make_driver):
    dead = make_driver('2c', notification_type='inform', timeout=0.3,
                       retries=1, targets=['127.0.0.1:%d'
                                           % snmptrapd.DEAD_PORT])
    live = make_driver('2c')
    dispatcher = notifier.Dispatcher({'dead': dead, 'snmp': live,
                                      'log': log_driver.LogNotifier(None)})
    hosts = [unique_host() for _ in range(3)]
    start = time.monotonic()
    for host in hosts:
        dispatcher.emit(events.Event(events.HOST_FAILURE_DETECTED,
                                     host=host))
    assert time.monotonic() - start < 0.5
    assert dispatcher.flush(timeout=3 * dead.deadline + 5)
    dispatcher.close(timeout=5)
    assert dispatcher.failures == {'dead': 3}
    assert dispatcher.sent == {'snmp': 3, 'log': 3}
    for host in hosts:
        receiver.wait_for(by_host(host))
