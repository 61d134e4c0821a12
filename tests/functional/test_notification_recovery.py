"""Whole recoveries notify through log, messaging and snmp at once.

A level-2 recovery (FakeCompute stands for Nova, the ``noop`` fencing
driver for the BMC) runs with every notification driver configured, from a
vmha.conf as an operator writes it:

* against live receivers (the machine's RabbitMQ, through the example
  consumer doc/examples/notification_listener.py, and Net-SNMP's
  snmptrapd), every event the recovery recorded arrives on the bus with the
  documented payload and as a VMHA-MIB SNMPv3 trap with the right OIDs;
* against dead ones (a closed broker port, an SNMP inform target nobody
  answers), the recovery completes on time, held by its notifications no
  longer than ``[notification] flush_timeout``, and every delivery failure
  is recorded in the event log and counted.
"""

import datetime
import json
import logging
import socket
import time

import pytest

from vmha.db import api as db_api
from vmha.drivers.notification import messaging
from vmha import events
from vmha import exception
from vmha import inventory
from vmha import recovery
from tests.functional import peers
from tests.functional.peers import snmptrapd
from tests.functional.peers.snmptrapd import check_notification
from tests.functional.peers.snmptrapd import vb
from tests.unit import fakes
from tools.lab.access import agents as agentlib

HOST = 'hostA'
#: of the range reserved for the notification tests (16260-16279)
CLOSED_BROKER_PORT = 16279
DETECTED_BY = 'nova-service-state'
REFUSAL = 'HTTP 400 no valid host'

CONF = '''
[database]
connection = %(db_url)s
[fencing]
default_driver = noop
power_off_confirm_interval = 0
[evacuation]
confirm_interval = 0.1
confirm_timeout = 10
[notification]
drivers = log,messaging,snmp
flush_timeout = %(flush_timeout)s
[oslo_messaging_notifications]
transport_url = %(broker)s
topics = %(topic)s
[notification_messaging]
retry = 1
send_timeout = 5
[notification_snmp]
targets = 127.0.0.1:%(snmp_port)d
%(snmp)s
'''
SNMP_V3_TRAPS = '''version = 3
security_name = %s
auth_protocol = SHA
auth_key = %s
priv_protocol = AES
priv_key = %s
engine_id = %s
''' % (snmptrapd.USER, snmptrapd.AUTH_KEY, snmptrapd.PRIV_KEY,
       snmptrapd.SENDER_ENGINE_ID)
SNMP_DEAD_INFORMS = '''version = 2c
notification_type = inform
timeout = 0.5
retries = 1
'''


@pytest.fixture
def db(db_url):
    database = db_api.Database(db_url)
    database.add_host(inventory.HostSpec(name=HOST))  # fenced by noop
    yield database
    database.dispose()


@pytest.fixture
def cloud():
    """hostA runs one instance of each fate: running, stopped, refused by
    Nova, skipped (its owner is deleting it)."""
    compute = fakes.FakeCompute()
    compute.add_instance('web')
    compute.add_instance('cron', vm_state='stopped')
    compute.add_instance('db')
    compute.add_instance('gone', vm_state='soft-delete')
    compute.fail_evacuate['db'] = exception.EvacuateRefused(
        instance='db', reason=REFUSAL)
    return compute


@pytest.fixture
def recoverers(db, cloud):
    made = []

    def make(conf):
        made.append(recovery.Recoverer(conf, compute=cloud, db=db,
                                       owner='functional-test'))
        return made[-1]

    yield make
    for recoverer in made:
        recoverer.close()


def recovery_conf(tmp_path, db_url, broker, snmp_port, snmp,
                  flush_timeout=10.0, topic='vmha_unused'):
    return peers.load_conf(tmp_path, CONF % {
        'db_url': db_url, 'broker': broker, 'topic': topic,
        'snmp_port': snmp_port, 'snmp': snmp,
        'flush_timeout': flush_timeout})


def recorded_events(db, recovery_id):
    """The recovery's events as its drivers were given them, rebuilt from
    the event log (which stores the level among the payload)."""
    rebuilt = []
    for row in db.list_events(recovery_id=recovery_id):
        payload = dict(row.payload)
        level = payload.pop('level')
        rebuilt.append(events.Event(
            row.event_type, host=row.host, recovery_id=row.recovery_id,
            level=level, payload=payload,
            timestamp=row.created_at.replace(tzinfo=datetime.timezone.utc)))
    return rebuilt


def log_lines(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == 'vmha.notification']


def as_json(items):
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def trap_of(event):
    """Predicate: the snmptrapd notification that carries ``event``."""
    def matches(logged):
        values = {name: logged.varbinds.get(vb(name), (None, None))[1]
                  for name in ('vmhaEventRecoveryId', 'vmhaEventType',
                               'vmhaEventInstanceId')}
        return values == {
            'vmhaEventRecoveryId': event.recovery_id,
            'vmhaEventType': event.event_type,
            'vmhaEventInstanceId': event.payload.get('instance_id', '')}
    return matches


# --- live receivers ----------------------------------------------------------

@pytest.fixture
def trapd(tmp_path):
    receiver = snmptrapd.SnmpTrapd(tmp_path / 'snmptrapd',
                                   snmptrapd.RECOVERY_PORT)
    receiver.start()
    yield receiver
    receiver.stop()


def test_every_event_of_a_recovery_reaches_every_receiver(
        tmp_path, db_url, db, broker_url, topic, listener, trapd,
        recoverers, caplog):
    caplog.set_level(logging.INFO, logger='vmha.notification')
    recoverer = recoverers(recovery_conf(
        tmp_path, db_url, broker_url, snmptrapd.RECOVERY_PORT,
        SNMP_V3_TRAPS, topic=topic))
    report = recoverer.recover(HOST, level=2, detected_by=DETECTED_BY)
    assert report.state == db_api.COMPLETED_WITH_ERRORS

    sent = recorded_events(db, report.id)
    types = [e.event_type for e in sent]
    assert types[:6] == [
        events.HOST_FAILURE_DETECTED, events.RECOVERY_STARTED,
        events.HOST_FENCED, events.SERVICE_FORCED_DOWN,
        events.SERVICE_DISABLED, events.INSTANCE_SKIPPED]
    assert sorted(types[6:-1]) == sorted(
        [events.INSTANCE_EVACUATE_STARTED] * 2
        + [events.INSTANCE_EVACUATED] * 2 + [events.INSTANCE_EVACUATE_FAILED])
    assert types[-1] == events.RECOVERY_COMPLETED_WITH_ERRORS
    assert all(e.host == HOST and e.level == 2 for e in sent)
    # recover() flushed: every driver handled every event before it returned
    assert recoverer.dispatcher.failures == {}
    assert recoverer.dispatcher.sent == {
        'log': len(sent), 'messaging': len(sent), 'snmp': len(sent)}

    received = listener.get(len(sent))
    assert as_json(m['payload'] for m in received) == as_json(
        messaging.build_payload(e) for e in sent)
    for message in received:
        assert message['priority'] == events.PRIORITIES[message['event_type']]
        assert message['publisher_id'] == 'vmha:%s' % socket.gethostname()

    for event in sent:
        logged = trapd.wait_for(trap_of(event))
        assert logged.pdu == 'TRAP2'
        assert logged.security.startswith('SNMP v3, user %s'
                                          % snmptrapd.USER)
        check_notification(logged, event)
    assert len(trapd.notifications()) == len(sent)

    assert sorted(log_lines(caplog)) == sorted(
        '%s %s' % (e.event_type, json.dumps(e.to_dict(), sort_keys=True))
        for e in sent)


# --- dead receivers ----------------------------------------------------------

def failures_recorded(db, recovery_id):
    return [e for e in db.list_events(recovery_id=recovery_id)
            if e.event_type == events.NOTIFICATION_FAILED]


def test_dead_receivers_neither_stall_nor_fail_the_recovery(
        tmp_path, db_url, db, recoverers, caplog):
    with socket.socket() as probe:
        assert probe.connect_ex(('127.0.0.1', CLOSED_BROKER_PORT)) != 0
    assert snmptrapd.udp_port_is_free(snmptrapd.DEAD_PORT)
    caplog.set_level(logging.INFO, logger='vmha.notification')
    flush_timeout = 1.0
    recoverer = recoverers(recovery_conf(
        tmp_path, db_url, 'rabbit://guest:guest@127.0.0.1:%d/'
        % CLOSED_BROKER_PORT, snmptrapd.DEAD_PORT, SNMP_DEAD_INFORMS,
        flush_timeout=flush_timeout))

    start = time.monotonic()
    report = recoverer.recover(HOST, level=2, detected_by=DETECTED_BY)
    returned_after = time.monotonic() - start
    assert report.state == db_api.COMPLETED_WITH_ERRORS, report.error
    sent = recorded_events(db, report.id)
    sent = [e for e in sent if e.event_type != events.NOTIFICATION_FAILED]
    assert len(sent) == 12
    # Sent in line, each event would have cost ~1 s per dead driver: the
    # recovery's own steps did not wait for them, and recover() waited
    # for its notifications no longer than flush_timeout.
    work = report.phases['finished_at'] - report.phases['started_at']
    assert work.total_seconds() < 3, report.phases
    assert returned_after < work.total_seconds() + flush_timeout + 1.5
    # the healthy driver was not held back by the dead ones
    assert len(log_lines(caplog)) == len(sent)

    # the dead drivers work through their queues in the background
    agentlib.wait_for(lambda: len(failures_recorded(db, report.id))
                      == 2 * len(sent), 60, interval=0.1,
                      what='every delivery failure recorded')
    failed = failures_recorded(db, report.id)
    by_driver = {}
    for row in failed:
        assert row.priority == events.ERROR
        assert row.host == HOST and row.payload['level'] == 2
        by_driver.setdefault(row.payload['driver'], []).append(row.payload)
    assert sorted(by_driver) == ['messaging', 'snmp']
    for payloads in by_driver.values():
        assert sorted(p['undelivered_event'] for p in payloads) == sorted(
            e.event_type for e in sent)
    assert all('Connection refused' in p['error']
               for p in by_driver['messaging'])
    assert all('127.0.0.1:%d' % snmptrapd.DEAD_PORT in p['error']
               for p in by_driver['snmp'])
    dispatcher = recoverer.dispatcher
    assert dispatcher.failures == {'messaging': len(sent),
                                   'snmp': len(sent)}
    assert dispatcher.sent == {'log': len(sent)}
