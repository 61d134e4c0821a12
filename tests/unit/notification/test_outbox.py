"""The outbox: a notification recorded but not sent is not lost.

A process killed between recording an event and its drivers sending it
(SIGKILL mid-recovery) used to lose that notification: the event log had
it, no receiver ever saw it. Now the deliveries owed are recorded with the
event, a lane clears them once sent, and another process's
``Dispatcher.redeliver`` sends what was left behind. A dispatcher whose lane
never runs again stands in for the killed process here; the database is a
real SQLite file.
"""


import pytest
import sqlalchemy as sa

from vmha import events
from vmha import notifier
from tests.unit import fakes
from tests.unit.notification import helpers


def event(n=0):
    return events.Event(events.INSTANCE_EVACUATED, host='c%d' % n,
                        recovery_id='r1', level=2,
                        payload={'instance_id': 'i%d' % n,
                                 'target_host': 'c9'})


@pytest.fixture
def made():
    dispatchers = []
    yield dispatchers
    fakes.close_dispatchers(dispatchers)


@pytest.fixture
def dispatcher_of(db, made):
    def make(owner, **drivers):
        clock = fakes.Clock()
        dispatcher = notifier.Dispatcher(drivers, outbox=db, owner=owner,
                                         redeliver_after=60, clock=clock)
        dispatcher.test_clock = clock
        made.append(dispatcher)
        return dispatcher
    return make


def test_sent_events_owe_nothing(db, dispatcher_of):
    a, b = fakes.ListNotifier(), fakes.ListNotifier()
    dispatcher = dispatcher_of('monitor:1', a=a, b=b)
    for n in range(3):
        dispatcher.emit(event(n))
    assert dispatcher.flush(5)
    assert len(a.events) == len(b.events) == 3
    assert db.count_deliveries() == {}
    assert [e.event_type for e in db.list_events()] == \
        [events.INSTANCE_EVACUATED] * 3


def test_what_a_killed_process_owed_is_sent_by_another_once(
        db, dispatcher_of):
    dead = dispatcher_of('monitor:1', snmp=fakes.BlockingNotifier(),
                         log=fakes.ListNotifier())
    dead.emit(event(1))
    dead.flush(0.5)         # log sent it, snmp never will: the process died
    assert db.count_deliveries() == {'snmp': 1}

    snmp = fakes.ListNotifier()
    survivor = dispatcher_of('monitor:2', snmp=snmp,
                             log=fakes.ListNotifier())
    assert survivor.redeliver() == 0        # not owed long enough yet
    helpers.age_outbox(db, 61)
    survivor.test_clock.now += notifier.REDELIVER_EVERY
    assert survivor.redeliver() == 1
    assert survivor.flush(5)
    [sent] = snmp.events
    original = event(1)
    assert (sent.event_type, sent.host, sent.recovery_id, sent.level,
            sent.payload) == (original.event_type, original.host,
                              original.recovery_id, original.level,
                              original.payload)
    assert sent.timestamp.tzinfo is not None
    assert survivor.redelivered == {'snmp': 1}
    assert survivor.drivers['log'].events == []    # log had sent it
    assert db.count_deliveries() == {}
    # sent once: nothing is left to send again
    helpers.age_outbox(db, 61)
    survivor.test_clock.now += notifier.REDELIVER_EVERY
    assert survivor.redeliver() == 0
    assert len(snmp.events) == 1


def test_a_process_never_claims_its_own_deliveries(db, dispatcher_of):
    """Its lanes still hold them: a slow driver is not sent twice by the
    process it is slow in."""
    dispatcher = dispatcher_of('monitor:1', snmp=fakes.BlockingNotifier())
    dispatcher.emit(event())
    helpers.age_outbox(db, 61)
    assert dispatcher.redeliver() == 0
    assert db.count_deliveries() == {'snmp': 1}


def test_two_survivors_send_each_delivery_once(db, dispatcher_of):
    dead = dispatcher_of('monitor:1', snmp=fakes.BlockingNotifier())
    for n in range(5):
        dead.emit(event(n))
    helpers.age_outbox(db, 61)
    first, second = fakes.ListNotifier(), fakes.ListNotifier()
    one = dispatcher_of('monitor:2', snmp=first)
    two = dispatcher_of('monitor:3', snmp=second)
    assert one.redeliver() + two.redeliver() == 5
    assert one.flush(5) and two.flush(5)
    assert sorted(e.host for e in first.events + second.events) == \
        ['c0', 'c1', 'c2', 'c3', 'c4']


def test_a_claimer_that_dies_before_sending_leaves_it_claimable(
        db, dispatcher_of):
    dead = dispatcher_of('monitor:1', snmp=fakes.BlockingNotifier())
    dead.emit(event())
    helpers.age_outbox(db, 61)
    claimer_died = dispatcher_of('monitor:2', snmp=fakes.BlockingNotifier())
    assert claimer_died.redeliver() == 1
    healthy = fakes.ListNotifier()
    third = dispatcher_of('monitor:3', snmp=healthy)
    assert third.redeliver() == 0            # just claimed: not yet
    helpers.age_outbox(db, 61)
    third.test_clock.now += notifier.REDELIVER_EVERY
    assert third.redeliver() == 1
    assert third.flush(5)
    assert len(healthy.events) == 1


def test_only_drivers_of_the_same_name_are_used(db, dispatcher_of):
    dead = dispatcher_of('monitor:1', snmp=fakes.BlockingNotifier())
    dead.emit(event())
    helpers.age_outbox(db, 61)
    other = fakes.ListNotifier()
    survivor = dispatcher_of('monitor:2', messaging=other)
    assert survivor.redeliver() == 0
    assert other.events == []
    assert db.count_deliveries() == {'snmp': 1}


def test_a_failed_send_is_settled_and_recorded_not_retried(
        db, dispatcher_of):
    class Refusing(fakes.ListNotifier):
        def notify(self, event):
            raise ConnectionRefusedError(111, 'refused')

    dispatcher = dispatcher_of('monitor:1', snmp=Refusing())
    dispatcher.emit(event())
    assert dispatcher.flush(5)
    assert db.count_deliveries() == {}
    assert [e.event_type for e in db.list_events()] == [
        events.INSTANCE_EVACUATED, events.NOTIFICATION_FAILED]


def test_redelivery_looks_at_most_every_interval(db, dispatcher_of):
    dead = dispatcher_of('monitor:1', snmp=fakes.BlockingNotifier())
    survivor = dispatcher_of('monitor:2', snmp=fakes.ListNotifier())
    assert survivor.redeliver() == 0         # looked: nothing owed
    dead.emit(event())
    helpers.age_outbox(db, 61)
    survivor.test_clock.now += notifier.REDELIVER_EVERY - 1
    assert survivor.redeliver() == 0         # too soon to look again
    survivor.test_clock.now += 1
    assert survivor.redeliver() == 1


def test_an_unreadable_outbox_is_logged_and_tried_again(
        db, dispatcher_of, caplog):
    survivor = dispatcher_of('monitor:2', snmp=fakes.ListNotifier())
    db.engine.dispose()
    with db.session() as session:
        session.execute(sa.text('DROP TABLE outbox'))
    assert survivor.redeliver() == 0
    assert 'Cannot read the notification outbox' in caplog.text


def test_without_an_outbox_nothing_is_owed(db, made):
    listener = fakes.ListNotifier()
    dispatcher = notifier.Dispatcher({'list': listener},
                                     record=db.add_event)
    made.append(dispatcher)
    dispatcher.emit(event())
    assert dispatcher.flush(5)
    assert dispatcher.redeliver() == 0
    assert len(listener.events) == 1
    assert db.count_deliveries() == {}


def test_sigkill_after_recording_loses_no_notification(db, db_url,
                                                       dispatcher_of):
    """A real process, killed with SIGKILL after it recorded the event
    and before its driver sent it."""
    helpers.killed_after_recording(db_url, 'snmp',
                                   event_type=events.HOST_FENCED, host='c1',
                                   recovery_id='r1', level=2,
                                   payload={'driver': 'ipmi'})
    assert db.count_deliveries() == {'snmp': 1}
    helpers.age_outbox(db, 61)
    snmp = fakes.ListNotifier()
    survivor = dispatcher_of('monitor:2', snmp=snmp)
    assert survivor.redeliver() == 1
    assert survivor.flush(5)
    [sent] = snmp.events
    assert (sent.event_type, sent.host, sent.payload) == (
        events.HOST_FENCED, 'c1', {'driver': 'ipmi'})
    assert db.count_deliveries() == {}
