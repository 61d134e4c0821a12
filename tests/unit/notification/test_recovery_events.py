"""Real recoveries emit every promised event, through every driver.

Three level-2 recoveries over FakeCompute and the fake fencing driver
together produce each event type the notification layer promises (issue
"Notification drivers"): one detected failure that completes with errors
(one instance evacuated running, one stopped, one refused by Nova, one
skipped), one clean recovery and one whose fencing fails. Each event is
checked field by field, then found, identical, in the event log, on the
``log`` driver, on the ``messaging`` driver (fake:// bus) and on a recording
driver, all configured at once.

``vmha.host.recover.end`` is emitted by ``vmha-manage host recover``, not by
a recovery; it is not here.
"""

import collections
import datetime
import json
import logging
import pathlib
import re

from oslo_messaging.notify import _impl_test
import pytest

from vmha.db import api as db_api
from vmha.drivers.notification import messaging
from vmha import events
from vmha import exception
from vmha import inventory
from vmha import notifier
from tests.unit import fakes
from tests.unit.notification import helpers

#: what a recovery must be able to notify
PROMISED = {
    events.HOST_FAILURE_DETECTED, events.HOST_FENCED,
    events.HOST_FENCE_FAILED, events.SERVICE_FORCED_DOWN,
    events.RECOVERY_STARTED, events.RECOVERY_COMPLETED,
    events.RECOVERY_COMPLETED_WITH_ERRORS, events.RECOVERY_FAILED,
    events.INSTANCE_EVACUATED, events.INSTANCE_EVACUATE_FAILED,
    events.INSTANCE_SKIPPED, events.INSTANCE_RESET,
}
DOC = pathlib.Path(__file__).resolve().parents[3] / 'doc' / 'notifications.md'
DETECTED_AT = datetime.datetime(2026, 1, 2, 3, 4, 5)
REFUSAL = 'HTTP 400 no valid host'
UTC = datetime.timezone.utc


@pytest.fixture
def bus():
    """What oslo.messaging's ``test`` driver kept of the notifications sent,
    as (ctxt, message, priority, retry)."""
    _impl_test.reset()
    yield lambda: _impl_test.NOTIFICATIONS
    _impl_test.reset()


@pytest.fixture
def spy():
    return fakes.ListNotifier()


@pytest.fixture
def all_drivers(conf, db, spy, bus, caplog):
    """The configured drivers (log, messaging on the fake:// transport)
    plus a recording one."""
    caplog.set_level(logging.INFO, logger='vmha.notification')
    conf.set_override('drivers', ['log', 'messaging'], 'notification')
    helpers.set_bus(conf, driver=['test'])
    drivers = notifier.load_drivers(conf)
    assert sorted(drivers) == ['log', 'messaging']
    dispatcher = notifier.Dispatcher(dict(drivers, spy=spy),
                                     record=db.add_event)
    yield dispatcher
    dispatcher.close(timeout=5)


@pytest.fixture
def cloud():
    compute = fakes.FakeCompute(hosts=('hostA', 'hostB', 'hostC', 'hostD'))
    compute.add_instance('ok')
    compute.add_instance('off', vm_state='stopped')
    compute.add_instance('bad')
    compute.add_instance('paused', vm_state='paused')
    compute.add_instance('gone', vm_state='soft-delete')
    compute.fail_evacuate['bad'] = exception.EvacuateRefused(
        instance='bad', reason=REFUSAL)
    compute.add_instance('solo', host='hostC')
    return compute


class Run:
    """One recovery: its report, its events, the time around it."""

    def __init__(self, recoverer, spy, host, **kwargs):
        seen = len(spy.events)
        self.before = datetime.datetime.now(UTC)
        self.report = recoverer.recover(host, level=2, **kwargs)
        self.after = datetime.datetime.now(UTC)
        self.events = spy.events[seen:]

    def types(self):
        return [e.event_type for e in self.events]

    def one(self, event_type, instance_id=None):
        [event] = [e for e in self.events if e.event_type == event_type
                   and e.payload.get('instance_id') == instance_id]
        return event


@pytest.fixture
def runs(make_recoverer, cloud, all_drivers, spy, db):
    """The three recoveries, run one after the other (as a monitor would)."""
    for name in ('hostC', 'hostD'):         # vmha recovers inventory hosts
        db.add_host(inventory.HostSpec(name=name))
    recoverer = make_recoverer(compute=cloud, dispatcher=all_drivers)
    mixed = Run(recoverer, spy, 'hostA', detected_at=DETECTED_AT,
                detected_by='nova-service-state')
    clean = Run(recoverer, spy, 'hostC')
    unfenced = Run(make_recoverer(
        compute=cloud, dispatcher=all_drivers,
        fencing_driver=fakes.FakeFencingDriver(stays_on=True)), spy, 'hostD')
    return mixed, clean, unfenced


def test_recoveries_emit_every_promised_event(runs):
    mixed, clean, unfenced = runs
    emitted = {t for run in runs for t in run.types()}
    assert PROMISED <= emitted, PROMISED - emitted
    assert (mixed.report.state, clean.report.state, unfenced.report.state) \
        == (db_api.COMPLETED_WITH_ERRORS, db_api.COMPLETED, db_api.FAILED)


def test_identity_and_timestamps_of_every_event(runs):
    for run in runs:
        for event in run.events:
            assert event.host == run.report.host, event
            assert event.recovery_id == run.report.id, event
            assert event.level == 2, event
            assert event.timestamp.tzinfo == UTC, event
            assert run.before <= event.timestamp <= run.after, event
        assert run.events[0].timestamp == min(e.timestamp
                                              for e in run.events)
        assert run.events[-1].timestamp == max(e.timestamp
                                               for e in run.events)


def test_detected_recovery_with_errors_in_order(runs, conf):
    mixed = runs[0]
    types = mixed.types()
    assert types[:6] == [
        events.HOST_FAILURE_DETECTED, events.RECOVERY_STARTED,
        events.HOST_FENCED, events.SERVICE_FORCED_DOWN,
        events.SERVICE_DISABLED, events.INSTANCE_SKIPPED]
    # the evacuations run in parallel: any order
    assert collections.Counter(types[6:-1]) == {
        events.INSTANCE_EVACUATE_STARTED: 3, events.INSTANCE_EVACUATED: 3,
        events.INSTANCE_EVACUATE_FAILED: 1, events.INSTANCE_RESET: 1}
    assert types[-1] == events.RECOVERY_COMPLETED_WITH_ERRORS

    assert mixed.one(events.HOST_FAILURE_DETECTED).payload == {
        'source': 'nova-service-state',
        'detected_at': '2026-01-02T03:04:05+00:00'}
    assert mixed.one(events.RECOVERY_STARTED).payload == {}
    fenced = mixed.one(events.HOST_FENCED).payload
    assert (fenced['driver'], fenced['first_state']) == ('fake', 'on')
    assert fenced['polls'] >= 1 and fenced['elapsed'] >= 0
    assert mixed.one(events.SERVICE_FORCED_DOWN).payload == {
        'service_id': 'svc-hostA'}
    assert mixed.one(events.SERVICE_DISABLED).payload == {
        'service_id': 'svc-hostA', 'reason': conf.recovery.disabled_reason}


def test_instance_events_name_the_instance_and_why(runs):
    mixed = runs[0]
    assert mixed.one(events.INSTANCE_SKIPPED, 'gone').payload == {
        'instance_id': 'gone', 'instance_name': 'vm-gone',
        'reason': 'being deleted by its owner (vm_state=soft-delete, '
                  'task_state=None)'}
    assert mixed.one(events.INSTANCE_RESET, 'paused').payload == {
        'instance_id': 'paused', 'instance_name': 'vm-paused',
        'vm_state': 'paused', 'task_state': None, 'reset_to': 'active',
        'comes_back': 'active'}
    for iid, vm_state in (('ok', 'active'), ('off', 'stopped'),
                          ('paused', 'active')):
        assert mixed.one(events.INSTANCE_EVACUATE_STARTED, iid).payload == {
            'instance_id': iid, 'instance_name': 'vm-' + iid}
        assert mixed.one(events.INSTANCE_EVACUATED, iid).payload == {
            'instance_id': iid, 'instance_name': 'vm-' + iid,
            'target_host': 'hostB', 'vm_state': vm_state}
    failed = mixed.one(events.INSTANCE_EVACUATE_FAILED, 'bad').payload
    assert failed == {
        'instance_id': 'bad', 'instance_name': 'vm-bad',
        'error': 'Nova refused to evacuate instance bad: ' + REFUSAL}
    # Nova refused before anything started
    assert not [e for e in mixed.events if e.event_type ==
                events.INSTANCE_EVACUATE_STARTED
                and e.payload['instance_id'] == 'bad']


def test_outcome_events_carry_counts_and_error_text(runs):
    mixed, clean, unfenced = runs
    assert mixed.one(events.RECOVERY_COMPLETED_WITH_ERRORS).payload == {
        'state': db_api.COMPLETED_WITH_ERRORS, db_api.EVAC_DONE: 3,
        db_api.EVAC_FAILED: 1, db_api.EVAC_SKIPPED: 1,
        'error': '1 instance(s) not evacuated: vm-bad (bad): Nova refused '
                 'to evacuate instance bad: ' + REFUSAL}
    assert clean.types() == [
        events.RECOVERY_STARTED, events.HOST_FENCED,
        events.SERVICE_FORCED_DOWN, events.SERVICE_DISABLED,
        events.INSTANCE_EVACUATE_STARTED, events.INSTANCE_EVACUATED,
        events.RECOVERY_COMPLETED]
    assert clean.one(events.RECOVERY_COMPLETED).payload == {
        'state': db_api.COMPLETED, db_api.EVAC_DONE: 1}
    assert clean.one(events.INSTANCE_EVACUATED, 'solo').payload[
        'instance_name'] == 'vm-solo'


def test_failed_fencing_is_notified_with_its_error(runs):
    unfenced = runs[2]
    assert unfenced.types() == [events.RECOVERY_STARTED,
                                events.HOST_FENCE_FAILED,
                                events.RECOVERY_FAILED]
    error = unfenced.report.error
    assert 'is not confirmed off' in error
    assert unfenced.one(events.HOST_FENCE_FAILED).payload == {
        'error': error, 'driver': 'fake'}
    assert unfenced.one(events.RECOVERY_FAILED).payload == {'error': error}


def _key(event_type, payload, timestamp):
    """What identifies one event in any of its renderings."""
    return (event_type, payload.get('instance_id'), timestamp)


def test_every_event_reached_every_driver_and_the_event_log(
        runs, all_drivers, spy, bus, caplog, db):
    sent = spy.events
    assert len(sent) == sum(len(run.events) for run in runs)
    # each lane keeps its own order: compare as multisets
    expected = sorted(json.dumps(e.to_dict(), sort_keys=True) for e in sent)
    records = caplog.get_records('setup') + caplog.records
    logged = sorted(r.getMessage().partition(' ')[2] for r in records
                    if r.name == 'vmha.notification')
    assert logged == expected
    assert sorted(json.dumps(message['payload'], sort_keys=True)
                  for _, message, _, _ in bus()) == sorted(
        json.dumps(messaging.build_payload(e), sort_keys=True) for e in sent)
    for _, message, priority, retry in bus():
        assert message['event_type'] == message['payload']['event_type']
        assert priority == message['payload']['priority']
        assert retry == 1
    assert all_drivers.sent == {'log': len(sent), 'messaging': len(sent),
                                'spy': len(sent)}
    assert all_drivers.failures == {}
    rows = [r for run in runs for r in db.list_events(
        recovery_id=run.report.id)]
    assert sorted(_key(r.event_type, r.payload, r.created_at)
                  for r in rows) == sorted(
        _key(e.event_type, e.payload, e.timestamp.replace(tzinfo=None))
        for e in sent)
    for row in rows:
        assert row.payload['level'] == 2


def _documented_fields():
    """{event type: its "fields" cell} of doc/notifications.md's table."""
    rows = re.findall(r'^\| `(vmha\.[\w.]+)` \|.*\|([^|]*)\|$',
                      DOC.read_text(), re.M)
    return dict(rows)


def test_doc_names_every_field_the_events_carry(runs):
    documented = _documented_fields()
    for run in runs:
        for event in run.events:
            cell = documented[event.event_type]
            for key in event.payload:
                assert '`%s`' % key in cell, (event.event_type, key)
