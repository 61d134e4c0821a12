"""The messaging notification driver against the real RabbitMQ.

The broker, a vhost of this module's own and the consumer (the example
doc/examples/notification_listener.py, run as a process) come from
tests/functional/peers/rabbitmq.py.
"""

import datetime
import socket
import time
import uuid

import oslo_messaging
import pytest

from vmha.db import api as db_api
from vmha.drivers.notification import base
from vmha.drivers.notification import log as log_driver
from vmha.drivers.notification import messaging
from vmha import events
from vmha import notifier
from tests.functional import peers
from tests.unit.notification import helpers

# of the range reserved for the notification tests (16260-16279)
CLOSED_PORT = 16279
SILENT_PORT = 16278


def bus_conf(tmp_path, url, topic, retry=1, send_timeout=5.0,
             section='oslo_messaging_notifications'):
    return peers.load_conf(tmp_path, '''
[%(section)s]
transport_url = %(url)s
[oslo_messaging_notifications]
topics = %(topic)s
[notification_messaging]
retry = %(retry)d
send_timeout = %(timeout)s
''' % {'section': section, 'url': url, 'topic': topic, 'retry': retry,
       'timeout': send_timeout})


@pytest.fixture
def drivers():
    made = []

    def make(conf):
        made.append(messaging.MessagingNotifier(conf))
        return made[-1]

    yield make
    for driver in made:
        driver.close()


# events of a whole recovery, with the fields the tasks give them
def every_event(host):
    rid = str(uuid.uuid4())
    instance = {'instance_id': str(uuid.uuid4()), 'instance_name': 'web-1'}
    fields = {
        events.HOST_FAILURE_DETECTED: {'source': 'nova-service-state'},
        events.MASS_FAILURE: {'down': 3, 'total': 4},
        events.HOST_FENCED: {'driver': 'ipmi', 'polls': 2, 'elapsed': 1.25,
                             'first_state': 'on'},
        events.HOST_FENCE_FAILED: {'error': 'BMC unreachable',
                                   'driver': 'ipmi'},
        events.SERVICE_FORCED_DOWN: {'service_id': 'svc-1'},
        events.SERVICE_FORCE_DOWN_FAILED: {'error': 'HTTP 503'},
        events.SERVICE_DOWN: {'service_id': 'svc-1', 'forced_down': True},
        events.SERVICE_DISABLED: {'service_id': 'svc-1',
                                  'reason': 'vmha: host failed'},
        events.RECOVERY_STARTED: {},
        events.RECOVERY_COMPLETED: {'state': 'completed', 'evacuated': 2},
        events.RECOVERY_COMPLETED_WITH_ERRORS: {
            'state': 'completed_with_errors', 'evacuated': 1, 'failed': 1},
        events.RECOVERY_FAILED: {'error': 'fencing failed'},
        events.INSTANCE_EVACUATE_STARTED: dict(instance),
        events.INSTANCE_EVACUATED: dict(instance, target_host='cmp-2',
                                        vm_state='active'),
        events.INSTANCE_EVACUATE_FAILED: dict(instance,
                                              error='No valid host'),
        events.INSTANCE_SKIPPED: dict(instance, reason='not HA-enabled'),
        events.INSTANCE_RESET: dict(instance, vm_state='paused',
                                    task_state=None, reset_to='active',
                                    comes_back='active'),
        events.INSTANCE_HANDED_OVER: dict(
            instance, target_host='cmp-3',
            reason='now on cmp-3, whose own recovery takes it over'),
        events.HOST_REINSTATED: {},
        events.HOST_RECOVERED: {},
        events.AGENT_LOST: {'reason': 'agent heartbeat lost but '
                                      'nova-compute still reports'},
        events.AGENT_RECOVERED: {},
        events.AGENT_WATCHDOG_MISSING: {},
        events.INSTANCE_EVACUATE_WAITING: dict(
            instance, error='No valid host was found',
            original_vm_state='active', retries=0,
            next_retry_at='2026-12-02T12:01:00'),
        events.RECOVERY_RETRY_STARTED: {'instances': 1,
                                        'trigger': 'capacity-changed'},
        events.RESERVED_HOST_ENABLED: {'target_host': 'spare-1',
                                       'aggregates': ['rack-1']},
        events.RESERVED_HOST_FAILED: {'target_host': 'spare-1',
                                      'error': 'HTTP 500'},
    }
    assert set(fields) == set(events.ALL_TYPES)
    detached = (events.HOST_FAILURE_DETECTED, events.MASS_FAILURE,
                events.AGENT_LOST, events.AGENT_RECOVERED,
                events.AGENT_WATCHDOG_MISSING)
    return [events.Event(event_type, host=host,
                         recovery_id=None if event_type in detached else rid,
                         level=None if event_type in detached else 2,
                         payload=payload)
            for event_type, payload in fields.items()]


def test_listener_receives_each_event_type_with_documented_payload(
        broker_url, topic, listener, drivers, tmp_path):
    driver = drivers(bus_conf(tmp_path, broker_url, topic))
    sent = every_event('cmp-%s' % uuid.uuid4().hex[:6])
    start = time.monotonic()
    for event in sent:
        driver.notify(event)
    assert time.monotonic() - start < 5
    received = {m['event_type']: m for m in listener.get(len(sent))}
    assert set(received) == set(events.ALL_TYPES)
    for event in sent:
        message = received[event.event_type]
        assert message['priority'] == events.PRIORITIES[event.event_type]
        assert message['publisher_id'] == 'vmha:%s' % socket.gethostname()
        payload = message['payload']
        assert payload == messaging.build_payload(event)
        assert payload['version'] == '1.0'
        assert payload['host'] == event.host
        assert payload['timestamp'] == event.timestamp.isoformat()
        assert message['metadata']['message_id']
    skipped = received[events.INSTANCE_SKIPPED]['payload']
    assert skipped['reason'] == 'not HA-enabled'
    assert skipped['instance_name'] == 'web-1'
    failed = received[events.INSTANCE_EVACUATE_FAILED]['payload']
    assert (failed['error'], failed['level']) == ('No valid host', 2)
    fenced = received[events.HOST_FENCED]['payload']
    assert fenced['details'] == {'driver': 'ipmi', 'polls': 2,
                                 'elapsed': 1.25, 'first_state': 'on'}


def test_default_transport_url_is_the_fallback(broker_url, topic, listener,
                                               drivers, tmp_path):
    driver = drivers(bus_conf(tmp_path, broker_url, topic,
                              section='DEFAULT'))
    event = events.Event(events.RECOVERY_STARTED, host='cmp-fallback',
                         recovery_id='r-1', level=1)
    driver.notify(event)
    [message] = listener.get(1)
    assert message['payload'] == messaging.build_payload(event)


def test_listener_ignores_other_services(broker_url, topic, listener,
                                         drivers, tmp_path):
    conf = bus_conf(tmp_path, broker_url, topic)
    driver = drivers(conf)
    nova = oslo_messaging.Notifier(driver.transport, 'compute.cmp-1',
                                   driver='messagingv2', topics=[topic],
                                   retry=1)
    nova.info({}, 'compute.instance.create.end', {'instance_id': 'x'})
    event = events.Event(events.HOST_FENCED, host='cmp-filter')
    driver.notify(event)
    [message] = listener.get(1)
    assert message['event_type'] == events.HOST_FENCED
    time.sleep(0.5)
    assert listener.lines.empty()


def test_unreachable_broker_fails_within_the_bound(drivers, tmp_path):
    with socket.socket() as probe:
        assert probe.connect_ex(('127.0.0.1', CLOSED_PORT)) != 0
    driver = drivers(bus_conf(
        tmp_path, 'rabbit://guest:guest@127.0.0.1:%d/' % CLOSED_PORT,
        'vmha_dead', retry=1, send_timeout=5.0))
    start = time.monotonic()
    with pytest.raises(base.NotificationFailed) as err:
        driver.notify(events.Event(events.HOST_FAILURE_DETECTED,
                                   host='cmp-1'))
    elapsed = time.monotonic() - start
    assert elapsed < 5.0
    assert not isinstance(err.value, base.NotificationTimeout)
    assert 'Connection refused' in str(err.value)
    assert 'vmha.host.failure' in str(err.value)


def test_silent_broker_is_cut_at_send_timeout(drivers, tmp_path):
    # accepts TCP connections (kernel backlog) and never says a word
    silent = socket.socket()
    silent.bind(('127.0.0.1', SILENT_PORT))
    silent.listen(16)
    try:
        driver = drivers(bus_conf(
            tmp_path, 'rabbit://guest:guest@127.0.0.1:%d/' % SILENT_PORT,
            'vmha_silent', retry=1, send_timeout=1.5))
        start = time.monotonic()
        with pytest.raises(base.NotificationTimeout):
            driver.notify(events.Event(events.HOST_FENCED, host='cmp-1'))
        assert 1.4 < time.monotonic() - start < 2.5
    finally:
        silent.close()


def test_dispatcher_counts_the_broker_failure_and_goes_on(drivers, tmp_path):
    dead = drivers(bus_conf(
        tmp_path, 'rabbit://guest:guest@127.0.0.1:%d/' % CLOSED_PORT,
        'vmha_dead', retry=0, send_timeout=5.0))
    dispatcher = notifier.Dispatcher({'messaging': dead,
                                      'log': log_driver.LogNotifier(None)})
    start = time.monotonic()
    for n in range(3):
        dispatcher.emit(events.Event(events.RECOVERY_FAILED, host='c%d' % n,
                                     payload={'error': 'x'}))
    assert time.monotonic() - start < 0.5           # emit never waits
    assert dispatcher.flush(timeout=3 * 5.0 + 5)     # nothing raised
    dispatcher.close(timeout=5)
    assert dispatcher.failures == {'messaging': 3}
    assert dispatcher.sent == {'log': 3}


def test_what_a_killed_process_owed_reaches_the_listener(
        broker_url, topic, listener, drivers, tmp_path, db_url):
    """The outbox against the real RabbitMQ: the event a SIGKILLed process
    recorded reaches the consumer through another process's driver, as it
    was recorded (time stamp included), once."""
    helpers.killed_after_recording(
        db_url, 'messaging', event_type=events.INSTANCE_EVACUATED,
        host='cmp-killed', recovery_id='r-killed', level=2,
        payload={'instance_id': 'i-1', 'instance_name': 'web-1',
                 'target_host': 'cmp-2', 'vm_state': 'active'})
    db = db_api.Database(db_url)
    helpers.age_outbox(db, 61)              # owed for longer than the bound
    [recorded] = db.list_events()
    dispatcher = notifier.Dispatcher(
        {'messaging': drivers(bus_conf(tmp_path, broker_url, topic))},
        outbox=db, owner='monitor:2', redeliver_after=60)
    try:
        assert dispatcher.redeliver() == 1
        assert dispatcher.flush(10)
        [message] = listener.get(1)
        assert message['event_type'] == events.INSTANCE_EVACUATED
        payload = message['payload']
        assert (payload['host'], payload['recovery_id'],
                payload['level']) == ('cmp-killed', 'r-killed', 2)
        assert payload['timestamp'] == recorded.created_at.replace(
            tzinfo=datetime.timezone.utc).isoformat()
        assert db.count_deliveries() == {}
    finally:
        dispatcher.close(timeout=5)
        db.dispose()
