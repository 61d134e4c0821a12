"""The Dispatcher with the real drivers failing in the ways they do.

tests/unit/test_notifier.py covers the Dispatcher with fake drivers (one
that raises, one that blocks); here the snmp and messaging drivers
themselves meet a dead receiver, a refusing broker and a hung send, next to
a healthy driver, and nothing raises, nothing waits longer than the drivers'
own bounds, every failure is counted.
"""

import socket
import threading
import time

import pytest

from vmha.drivers.notification import messaging
from vmha.drivers.notification import snmp
from vmha import events
from vmha import notifier
from tests.unit import fakes
from tests.unit.conftest import make_conf
from tests.unit.notification import helpers


def event(n):
    return events.Event(events.INSTANCE_EVACUATE_FAILED, host='c%d' % n,
                        recovery_id='r1', level=2,
                        payload={'instance_id': 'i%d' % n, 'error': 'x'})


@pytest.fixture
def silent_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closing():
    dispatchers = []
    yield dispatchers.append
    for dispatcher in dispatchers:
        dispatcher.close(timeout=10)


def test_unanswered_informs_and_refused_broker_are_counted(
        closing, silent_udp_port, monkeypatch):
    snmp_driver = snmp.SnmpNotifier(make_conf(
        notification_snmp__targets=['127.0.0.1:%d' % silent_udp_port],
        notification_snmp__notification_type='inform',
        notification_snmp__timeout=0.1, notification_snmp__retries=0))
    bus = messaging.MessagingNotifier(helpers.messaging_conf())

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError(111, 'Connection refused')

    monkeypatch.setattr(bus.transport, '_send_notification', refuse)
    healthy = fakes.ListNotifier()
    dispatcher = notifier.Dispatcher({'snmp': snmp_driver,
                                      'messaging': bus, 'list': healthy})
    closing(dispatcher)
    start = time.monotonic()
    for n in range(3):
        dispatcher.emit(event(n))
    assert time.monotonic() - start < 0.2          # emit never waits
    assert dispatcher.flush(timeout=3 * snmp_driver.deadline + 5)
    assert dispatcher.failures == {'snmp': 3, 'messaging': 3}
    assert dispatcher.sent == {'list': 3}
    assert [e.host for e in healthy.events] == ['c0', 'c1', 'c2']


def test_hung_broker_is_cut_by_send_timeout(closing, monkeypatch):
    bus = messaging.MessagingNotifier(helpers.messaging_conf(send_timeout=0.2))
    release = threading.Event()
    monkeypatch.setattr(bus.transport, '_send_notification',
                        lambda *a, **k: release.wait(10))
    healthy = fakes.ListNotifier()
    dispatcher = notifier.Dispatcher({'messaging': bus, 'list': healthy})
    closing(dispatcher)
    start = time.monotonic()
    for n in range(3):
        dispatcher.emit(event(n))
    assert dispatcher.flush(timeout=5)
    # the first send is cut at send_timeout, the next fail at once while
    # the broker stays stuck: not 3 x 10 s
    assert time.monotonic() - start < 0.2 + 1
    release.set()
    assert dispatcher.failures == {'messaging': 3}
    assert dispatcher.sent == {'list': 3}


def test_loaded_by_name_like_any_driver(silent_udp_port):
    conf = helpers.messaging_conf()
    conf.set_override('drivers', ['log', 'messaging', 'snmp'],
                      'notification')
    conf.set_override('targets', ['127.0.0.1:%d' % silent_udp_port],
                      'notification_snmp')
    drivers = notifier.load_drivers(conf)
    assert isinstance(drivers['snmp'], snmp.SnmpNotifier)
    assert isinstance(drivers['messaging'], messaging.MessagingNotifier)
    dispatcher = notifier.Dispatcher(drivers)
    dispatcher.emit(event(0))
    dispatcher.close(timeout=10)
    assert dispatcher.failures == {}
    assert dispatcher.sent == {'log': 1, 'messaging': 1, 'snmp': 1}


def test_bad_snmp_target_fails_loading_with_the_option_name():
    from vmha import exception
    conf = make_conf(
        notification__drivers=['snmp'],
        notification_snmp__targets=['nms.example.org:16x2'])
    with pytest.raises(exception.DriverLoadError) as err:
        notifier.load_drivers(conf)
    assert '[notification_snmp] targets' in str(err.value)
    assert 'nms.example.org:16x2' in str(err.value)
