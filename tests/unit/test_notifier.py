"""Dispatcher: records, fans out in the background, survives bad drivers."""

import time

import pytest

from vmha.drivers import loader
from vmha.drivers.notification import log as log_driver
from vmha import events
from vmha import exception
from vmha import notifier
from tests.unit import fakes
from tests.unit.conftest import make_conf


def event(n=0):
    return events.Event(events.HOST_FENCED, host='c%d' % n,
                        recovery_id='r1', level=2)


class Raising(fakes.ListNotifier):
    def notify(self, event):
        super().notify(event)
        raise RuntimeError('SNMP manager unreachable')

    def close(self):
        raise RuntimeError('close failed too')


@pytest.fixture
def dispatchers():
    made = []

    def make(drivers, **kwargs):
        made.append(notifier.Dispatcher(drivers, **kwargs))
        return made[-1]

    yield make
    fakes.close_dispatchers(made)


def test_raising_driver_is_counted_and_others_still_deliver(dispatchers):
    good_before, bad, good_after = (fakes.ListNotifier(), Raising(),
                                    fakes.ListNotifier())
    dispatcher = dispatchers({'a': good_before, 'bad': bad,
                              'z': good_after})
    for n in range(3):
        dispatcher.emit(event(n))
    assert dispatcher.flush(timeout=5) is True
    assert dispatcher.failures == {'bad': 3}
    assert dispatcher.sent == {'a': 3, 'z': 3}
    assert [e.host for e in good_before.events] == ['c0', 'c1', 'c2']
    assert [e.host for e in good_after.events] == ['c0', 'c1', 'c2']
    assert len(bad.events) == 3


def test_slow_driver_does_not_delay_emit(dispatchers):
    slow = fakes.BlockingNotifier()
    dispatcher = dispatchers({'slow': slow})
    start = time.monotonic()
    for n in range(5):
        dispatcher.emit(event(n))
    assert time.monotonic() - start < 0.5
    assert slow.events == []
    # flush waits for delivery; while the driver hangs it times out
    assert dispatcher.flush(timeout=0.1) is False
    slow.release.set()
    assert dispatcher.flush(timeout=5) is True
    assert [e.host for e in slow.events] == ['c%d' % n for n in range(5)]


def test_stuck_driver_does_not_delay_the_others(dispatchers):
    stuck, healthy = fakes.BlockingNotifier(), fakes.ListNotifier()
    dispatcher = dispatchers({'stuck': stuck, 'healthy': healthy})
    for n in range(3):
        dispatcher.emit(event(n))
    deadline = time.monotonic() + 5
    while len(healthy.events) < 3:
        assert time.monotonic() < deadline, healthy.events
        time.sleep(0.01)
    assert stuck.events == []
    assert dispatcher.sent == {'healthy': 3}


def test_flush_and_close_keep_to_the_flush_timeout(dispatchers):
    stuck = fakes.BlockingNotifier()
    dispatcher = dispatchers({'stuck': stuck}, flush_timeout=0.3)
    dispatcher.emit(event())
    start = time.monotonic()
    assert dispatcher.flush() is False
    assert 0.25 < time.monotonic() - start < 1.0
    start = time.monotonic()
    dispatcher.close()
    assert time.monotonic() - start < 1.0
    stuck.release.set()


def test_delivery_failure_is_recorded_never_notified(dispatchers):
    recorded = []
    bad, good = Raising(), fakes.ListNotifier()
    dispatcher = dispatchers({'bad': bad, 'good': good},
                             record=recorded.append)
    sent = event(1)
    dispatcher.emit(sent)
    assert dispatcher.flush(timeout=5)
    first, failure = recorded
    assert first is sent
    assert failure.event_type == events.NOTIFICATION_FAILED
    assert failure.priority == events.ERROR
    assert (failure.host, failure.recovery_id, failure.level) == (
        sent.host, sent.recovery_id, sent.level)
    assert failure.payload == {'driver': 'bad',
                               'undelivered_event': events.HOST_FENCED,
                               'error': 'SNMP manager unreachable'}
    assert [e.event_type for e in good.events] == [events.HOST_FENCED]
    assert events.NOTIFICATION_FAILED not in events.ALL_TYPES


def test_from_conf_uses_drivers_and_flush_timeout():
    conf = make_conf(notification__drivers=['log'],
                     notification__flush_timeout=2.5)
    dispatcher = notifier.from_conf(conf, record=print)
    try:
        assert list(dispatcher.drivers) == ['log']
        assert dispatcher.flush_timeout == 2.5
        assert dispatcher.record is print
    finally:
        dispatcher.close()


def test_emit_records_synchronously_in_order(dispatchers):
    recorded = []
    dispatcher = dispatchers({'slow': fakes.BlockingNotifier()},
                             record=recorded.append)
    first, second = event(1), event(2)
    dispatcher.emit(first)
    dispatcher.emit(second)
    assert recorded == [first, second]


def test_failing_record_does_not_stop_delivery(dispatchers):
    def record(event):
        raise RuntimeError('database is locked')

    listener = fakes.ListNotifier()
    dispatcher = dispatchers({'l': listener}, record=record)
    dispatcher.emit(event())
    assert dispatcher.flush(timeout=5)
    assert len(listener.events) == 1


def test_close_flushes_and_closes_every_driver():
    closed = []

    class Closing(fakes.ListNotifier):
        def close(self):
            closed.append(self)

    first, second = Closing(), Closing()
    dispatcher = notifier.Dispatcher({'bad': Raising(), 'a': first,
                                      'b': second})
    dispatcher.emit(event())
    lanes = list(dispatcher._lanes)
    dispatcher.close(timeout=5)
    assert closed == [first, second]
    assert len(first.events) == 1
    assert not any(lane.thread.is_alive() for lane in lanes)
    dispatcher.close(timeout=5)             # again: nothing to do
    assert closed == [first, second]


def test_load_drivers():
    conf = make_conf(notification__drivers=['log'])
    drivers = notifier.load_drivers(conf)
    assert list(drivers) == ['log']
    assert isinstance(drivers['log'], log_driver.LogNotifier)


def test_unknown_driver_names_installed_ones():
    conf = make_conf(notification__drivers=['log', 'carrier-pigeon'])
    with pytest.raises(exception.DriverNotFound) as err:
        notifier.load_drivers(conf)
    message = str(err.value)
    assert 'carrier-pigeon' in message
    assert 'log' in message
    assert loader.NOTIFICATION_NAMESPACE in message


def test_log_notifier_writes_one_line(caplog):
    import logging
    caplog.set_level(logging.INFO, logger='vmha.notification')
    log_driver.LogNotifier(None).notify(events.Event(
        events.RECOVERY_FAILED, host='c1', payload={'error': 'boom'}))
    [record] = [r for r in caplog.records if r.name == 'vmha.notification']
    assert record.levelno == logging.ERROR
    assert events.RECOVERY_FAILED in record.getMessage()
    assert '"error": "boom"' in record.getMessage()


def test_event_to_dict():
    data = events.Event(events.INSTANCE_SKIPPED, host='c1', recovery_id='r',
                        level=1, payload={'reason': 'paused'}).to_dict()
    assert data['priority'] == events.INFO
    assert data['reason'] == 'paused'
    assert data['timestamp'].endswith('+00:00')
    assert events.MASS_FAILURE in events.ALL_TYPES
    assert events.Event(events.MASS_FAILURE, host='x').priority == \
        events.ERROR
