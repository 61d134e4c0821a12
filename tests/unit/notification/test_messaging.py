"""The messaging driver on oslo.messaging's fake:// transport.

The real RabbitMQ is in tests/functional/test_notification_messaging.py.
"""

import datetime
import json
import pathlib
import queue
import re
import socket
import threading
import time

import oslo_messaging
from oslo_messaging.notify import _impl_test
import pytest

from vmha.conf import notification_messaging as messaging_conf
from vmha.drivers.notification import base
from vmha.drivers.notification import messaging
from vmha import events
from tests.unit.notification import helpers

ROOT = pathlib.Path(__file__).resolve().parents[3]
DOC = ROOT / 'doc' / 'notifications.md'
WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


conf = helpers.messaging_conf


@pytest.fixture
def drivers():
    made = []

    def make(config):
        made.append(messaging.MessagingNotifier(config))
        return made[-1]

    yield make
    for driver in made:
        driver.close()


@pytest.fixture
def recorded():
    _impl_test.reset()
    yield lambda: _impl_test.NOTIFICATIONS
    _impl_test.reset()


def sample_event(event_type=events.INSTANCE_EVACUATED, **payload):
    payload = payload or {'instance_id': 'i-1', 'instance_name': 'vm-1',
                          'target_host': 'cmp-2', 'vm_state': 'active'}
    return events.Event(event_type, host='cmp-1', recovery_id='r-1',
                        level=2, payload=payload, timestamp=WHEN)


# --- payload -----------------------------------------------------------------

def test_payload_of_an_evacuated_instance():
    assert messaging.build_payload(sample_event()) == {
        'version': '1.0',
        'event_type': 'vmha.instance.evacuate.end',
        'priority': 'INFO',
        'host': 'cmp-1',
        'recovery_id': 'r-1',
        'level': 2,
        'timestamp': '2026-01-02T03:04:05+00:00',
        'instance_id': 'i-1',
        'instance_name': 'vm-1',
        'target_host': 'cmp-2',
        'error': None,
        'reason': None,
        'details': {'vm_state': 'active'},
    }


@pytest.mark.parametrize('event_type', events.ALL_TYPES)
def test_every_event_type_has_the_same_keys(event_type):
    payload = messaging.build_payload(events.Event(event_type, host='h'))
    assert set(payload) == set(messaging.build_payload(sample_event()))
    assert payload['priority'] == events.PRIORITIES[event_type]
    json.dumps(payload)


def test_payload_is_json_even_for_odd_details():
    payload = messaging.build_payload(sample_event(
        events.HOST_FENCED, elapsed=1.5, when=WHEN, error=ValueError('boom')))
    assert payload['error'] == 'boom'
    assert payload['details']['when'] == str(WHEN)
    json.dumps(payload)


def _documented_keys():
    text = DOC.read_text()
    section = text[text.index('## Payload'):]
    section = section[:section.index('\n## ', 5)]
    return re.findall(r'^\| `(\w+)` \|', section, re.M)


def test_doc_lists_exactly_the_payload_keys_in_order():
    assert _documented_keys() == list(messaging.build_payload(
        sample_event()))


def test_doc_lists_every_event_type():
    text = DOC.read_text()
    for event_type in events.ALL_TYPES:
        assert '`%s`' % event_type in text


def test_options():
    assert all(opt.help for opt in messaging_conf.OPTS)
    defaults = {opt.dest: opt.default for opt in messaging_conf.OPTS}
    assert defaults['retry'] >= 0
    assert defaults['send_timeout'] > 0


# --- sending on fake:// ------------------------------------------------------

def test_sends_through_the_configured_oslo_driver(drivers, recorded):
    driver = drivers(conf(driver=['test'], retry=1))
    driver.notify(sample_event(events.INSTANCE_EVACUATE_FAILED,
                               instance_id='i-9', error='No valid host'))
    driver.notify(sample_event(events.HOST_FAILURE_DETECTED,
                               source='nova'))
    [(_, first, prio1, retry1), (_, second, prio2, _)] = recorded()
    assert (prio1, prio2) == ('ERROR', 'WARN')
    assert retry1 == 1                   # bounded, never oslo's forever
    assert first['event_type'] == 'vmha.instance.evacuate.error'
    assert first['publisher_id'] == 'vmha:%s' % socket.gethostname()
    assert first['payload']['error'] == 'No valid host'
    assert first['payload']['version'] == messaging.PAYLOAD_VERSION
    assert second['payload']['details'] == {'source': 'nova'}


def test_defaults_to_messagingv2_and_a_listener_gets_it(drivers):
    driver = drivers(conf(topics=['vmha_unit']))
    assert [e.name for e in driver.notifier._driver_mgr] == ['messagingv2']
    got = queue.Queue()

    class Endpoint:
        filter_rule = oslo_messaging.NotificationFilter(
            event_type=r'^vmha\.')

        def warn(self, ctxt, publisher_id, event_type, payload, metadata):
            got.put((publisher_id, event_type, payload))

        info = error = warn

    listener = oslo_messaging.get_notification_listener(
        driver.transport, [oslo_messaging.Target(topic='vmha_unit')],
        [Endpoint()], executor='threading')
    listener.start()
    try:
        driver.notify(sample_event(events.RECOVERY_COMPLETED_WITH_ERRORS,
                                   failed=1, evacuated=3))
        publisher, event_type, payload = got.get(timeout=10)
    finally:
        listener.stop()
        listener.wait()
    assert publisher.startswith('vmha:')
    assert event_type == 'vmha.recovery.end_with_errors'
    assert payload['details'] == {'failed': 1, 'evacuated': 3}


def test_falls_back_to_default_transport_url(drivers):
    config = conf(url=None)
    config.set_override('transport_url', 'fake:///fallback')
    driver = drivers(config)
    assert driver.transport._driver._url.virtual_host == 'fallback'


def test_delivery_failure_raises(drivers, monkeypatch):
    driver = drivers(conf())

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError(111, 'Connection refused')

    monkeypatch.setattr(driver.transport, '_send_notification', refuse)
    with pytest.raises(base.NotificationFailed) as err:
        driver.notify(sample_event())
    assert 'Connection refused' in str(err.value)
    assert 'vmha.instance.evacuate.end' in str(err.value)


def test_failures_of_other_threads_are_not_ours(drivers, monkeypatch):
    """Errors oslo.messaging logs for another sender don't fail a send."""
    driver = drivers(conf())
    other = threading.Thread(target=lambda: __import__('logging').getLogger(
        'oslo_messaging.notify.messaging').error('Could not send (other)'))
    original = driver.transport._send_notification

    def send_while_other_fails(*args, **kwargs):
        other.start()
        other.join()
        return original(*args, **kwargs)

    monkeypatch.setattr(driver.transport, '_send_notification',
                        send_while_other_fails)
    driver.notify(sample_event())


def test_hung_send_times_out_and_next_send_works(drivers, monkeypatch):
    driver = drivers(conf(send_timeout=0.3))
    release = threading.Event()
    original = driver.transport._send_notification
    calls = []

    def hang_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(driver.transport, '_send_notification', hang_once)
    start = time.monotonic()
    with pytest.raises(base.NotificationTimeout, match='0.3s'):
        driver.notify(sample_event())
    assert time.monotonic() - start < 1
    # the hung send is still stuck past its deadline: fail at once
    start = time.monotonic()
    with pytest.raises(base.NotificationFailed,
                       match='has not completed an earlier send'):
        driver.notify(sample_event())
    assert time.monotonic() - start < 0.1
    release.set()
    deadline = time.monotonic() + 5
    while driver._busy_since is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    driver.notify(sample_event())
    assert len(calls) == 2


def test_send_queued_behind_a_slow_one_is_bounded(drivers, monkeypatch):
    driver = drivers(conf(send_timeout=0.3))
    release = threading.Event()
    original = driver.transport._send_notification
    calls = []

    def slow_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(driver.transport, '_send_notification', slow_first)
    first = threading.Thread(target=lambda: pytest.raises(
        base.NotificationTimeout, driver.notify, sample_event()))
    first.start()
    time.sleep(0.1)          # the first send is running, not yet overdue
    start = time.monotonic()
    with pytest.raises(base.NotificationTimeout):
        driver.notify(sample_event())
    assert time.monotonic() - start < 0.6
    first.join(5)
    release.set()
    # the queued send was dropped, not sent late
    time.sleep(0.1)
    assert len(calls) == 1


def test_close_releases_the_log_handler(drivers):
    import logging
    logger = logging.getLogger('oslo_messaging.notify')
    before = list(logger.handlers)
    driver = messaging.MessagingNotifier(conf())
    assert len(logger.handlers) == len(before) + 1
    driver.close()
    assert logger.handlers == before
