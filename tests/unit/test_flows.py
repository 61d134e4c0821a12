"""Per-level flows run through the Recoverer: call order, fallback, safety."""

import threading
import time

from unittest import mock

import pytest

from vmha.db import api as db_api
from vmha import events
from vmha import exception
from vmha import flows
from tests.unit import fakes
from tests.unit.conftest import HOST
from tests.unit.conftest import nova_calls

FENCE = [('fence.status', HOST), ('fence.off', HOST), ('fence.status', HOST)]


def _tail(conf, *iids):
    """Disable, list, then per instance: lock, evacuate, unlock."""
    calls = [('disable', HOST, conf.recovery.disabled_reason),
             ('list_instances', HOST)]
    for iid in iids:
        calls += [('lock', iid, mock.ANY), ('evacuate', iid, None),
                  ('unlock', iid)]
    return calls


@pytest.mark.parametrize('level, head', [
    (1, [('force_down', HOST, True)]),
    (2, FENCE + [('force_down', HOST, True)]),
    (3, FENCE + [('wait_service_down', HOST)]),
])
def test_level_call_order(make_recoverer, compute, driver, conf, db,
                          dispatcher, level, head):
    if level == 3:
        compute.services[HOST]['state'] = 'down'     # heartbeat lost
    compute.add_instance('i1')
    report = make_recoverer().recover(HOST, level=level,
                                      host_stopped=level == 1)
    assert report.state == db_api.COMPLETED, report.error
    assert report.level == level
    assert nova_calls(compute) == head + _tail(conf, 'i1')
    if level == 1:
        assert driver.calls == []
    assert dispatcher.flushes == 1          # events flushed before return
    rec = db.get_recovery(report.id)
    assert rec.fence_confirmed is (None if level == 1 else True)
    assert rec.forced_down is (None if level == 3 else True)


@pytest.mark.parametrize('level', [1, 2, 3])
def test_phase_timestamps_follow_flow_order(make_recoverer, compute, level):
    compute.services[HOST]['state'] = 'down' if level == 3 else 'up'
    compute.add_instance('i1')
    report = make_recoverer().recover(HOST, level=level,
                                      host_stopped=level == 1)
    phases = [report.phases[p] for p in db_api.PHASES]
    expected_missing = {'fenced_at'} if level == 1 else set()
    missing = {p for p in db_api.PHASES if report.phases[p] is None}
    assert missing == expected_missing
    present = [p for p in phases if p is not None]
    assert present == sorted(present)


def test_level1_fallback_when_force_down_fails(make_recoverer, compute, conf,
                                               db, dispatcher):
    compute.fail['force_down'] = exception.ForceDownFailed(
        host=HOST, binary='nova-compute', reason='HTTP 500')
    compute.services[HOST]['state'] = 'down'
    compute.add_instance('i1')
    report = make_recoverer().recover(HOST, level=1, host_stopped=True)
    assert report.state == db_api.COMPLETED, report.error
    # after fencing, force-down is tried once more, then Nova is waited for
    assert nova_calls(compute) == (
        [('force_down', HOST, True)] + FENCE
        + [('force_down', HOST, True), ('wait_service_down', HOST)]
        + _tail(conf, 'i1'))
    rec = db.get_recovery(report.id)
    assert rec.fence_confirmed is True
    types = dispatcher.types()
    for earlier, later in zip(
            [events.SERVICE_FORCE_DOWN_FAILED, events.HOST_FENCED,
             events.SERVICE_DOWN, events.SERVICE_DISABLED],
            [events.HOST_FENCED, events.SERVICE_DOWN, events.SERVICE_DISABLED,
             events.RECOVERY_COMPLETED]):
        assert types.index(earlier) < types.index(later)


def test_level1_no_fallback_when_force_down_works(make_recoverer, compute,
                                                  dispatcher):
    compute.add_instance('i1')
    make_recoverer().recover(HOST, level=1, host_stopped=True)
    assert not [c for c in compute.calls if c[0].startswith('fence.')]
    assert not compute.calls_of('wait_service_down')
    assert events.HOST_FENCED not in dispatcher.types()


def test_level1_fences_first_without_two_signals(make_recoverer, compute,
                                                 conf, db):
    """Issue 12: level 1 rebuilt the servers of a host whose BMC said on
    and whose nova-compute still ran (the old test asserted no fencing
    whatever the evidence). Without two signals that the host stopped --
    a manual run, one signal only -- it fences like level 2."""
    compute.add_instance('i1')
    report = make_recoverer().recover(HOST, level=1)
    assert report.state == db_api.COMPLETED, report.error
    assert nova_calls(compute) == (FENCE + [('force_down', HOST, True)]
                                   + _tail(conf, 'i1'))
    assert db.get_recovery(report.id).fence_confirmed is True


class StaysUpCompute(fakes.FakeCompute):
    """force_down is accepted but the service keeps reporting up."""

    def force_down(self, host, forced=True):
        self._record('force_down', host, forced)
        self.services[host]['forced_down'] = forced
        return self._service(host)


def _assert_not_evacuated(report, compute, dispatcher, db):
    assert not compute.calls_of('evacuate')
    assert not compute.calls_of('list_instances')
    assert not compute.calls_of('disable')
    assert report.state == db_api.FAILED
    assert 'not confirmed off' in report.error
    assert report.evacuations == []
    rec = db.get_recovery(report.id)
    assert rec.fence_confirmed is False
    assert rec.finished_at is not None
    [failed] = dispatcher.of_type(events.RECOVERY_FAILED)
    assert failed.payload['error'] == report.error
    assert events.HOST_FENCE_FAILED in dispatcher.types()
    assert db.host_state(HOST) == 'failed'


@pytest.mark.parametrize('level', [2, 3])
def test_fence_unconfirmed_no_evacuation(make_recoverer, compute, db,
                                         dispatcher, host_spec, level):
    db.add_host(host_spec)
    compute.services[HOST]['state'] = 'down'
    compute.add_instance('i1')
    drv = fakes.FakeFencingDriver(stays_on=True, journal=compute.calls)
    report = make_recoverer(fencing_driver=drv).recover(HOST, level=level)
    _assert_not_evacuated(report, compute, dispatcher, db)
    # fencing came first: force-down / wait never ran, nothing to revert
    assert not compute.calls_of('force_down')
    assert not compute.calls_of('wait_service_down')


def test_level1_fallback_fence_unconfirmed_no_evacuation(
        make_recoverer, compute, db, dispatcher, host_spec):
    db.add_host(host_spec)
    compute.fail['force_down'] = exception.ForceDownFailed(
        host=HOST, binary='nova-compute', reason='HTTP 500')
    compute.add_instance('i1')
    drv = fakes.FakeFencingDriver(stays_on=True, journal=compute.calls)
    report = make_recoverer(fencing_driver=drv).recover(
        HOST, level=1, host_stopped=True)
    _assert_not_evacuated(report, compute, dispatcher, db)
    assert not compute.calls_of('wait_service_down')


def test_level1_fallback_fence_unconfirmed_reverts_force_down(
        make_recoverer, db, dispatcher, host_spec):
    """Force-down was set (Nova kept the service up): it is unset again."""
    db.add_host(host_spec)
    fc = StaysUpCompute()
    fc.add_instance('i1')
    drv = fakes.FakeFencingDriver(stays_on=True, journal=fc.calls)
    report = make_recoverer(compute=fc, fencing_driver=drv).recover(
        HOST, level=1, host_stopped=True)
    _assert_not_evacuated(report, fc, dispatcher, db)
    calls = nova_calls(fc)
    assert calls[0] == ('force_down', HOST, True)
    assert calls[-1] == ('force_down', HOST, False)
    assert calls.index(('fence.off', HOST)) < len(calls) - 1
    assert fc.services[HOST]['forced_down'] is False


def test_level2_force_down_failure_after_fence_fails_recovery(
        make_recoverer, compute, db, dispatcher):
    compute.fail['force_down'] = exception.ForceDownFailed(
        host=HOST, binary='nova-compute', reason='HTTP 500')
    compute.add_instance('i1')
    report = make_recoverer().recover(HOST, level=2)
    assert report.state == db_api.FAILED
    assert 'Forcing nova-compute on hostA down failed' in report.error
    assert not compute.calls_of('evacuate')
    # the force-down task is reverted: it tries to unset force-down
    assert compute.calls_of('force_down')[-1] == ('force_down', HOST, False)


def test_disable_failure_reverts_force_down(make_recoverer, compute, db):
    compute.fail['disable'] = exception.NovaUnavailable(reason='timeout')
    compute.add_instance('i1')
    report = make_recoverer().recover(HOST, level=2)
    assert report.state == db_api.FAILED
    assert 'Nova is unreachable' in report.error
    assert compute.calls_of('force_down') == [('force_down', HOST, True),
                                              ('force_down', HOST, False)]
    assert not compute.calls_of('enable')       # disable failed: no enable
    assert db.get_recovery(report.id).forced_down is False


def test_partial_evacuation_failure(make_recoverer, compute, dispatcher):
    for iid in ('i1', 'i2', 'i3'):
        compute.add_instance(iid)
    compute.add_instance('p1', vm_state='paused')
    compute.add_instance('d1', vm_state='soft-delete')
    compute.fail_evacuate['i2'] = exception.EvacuateRefused(
        instance='i2', reason='HTTP 400 no valid host')
    report = make_recoverer().recover(HOST, level=2)
    assert report.state == db_api.COMPLETED_WITH_ERRORS
    assert report.error is None
    # the paused instance is reset and evacuated, the deleted one skipped
    assert sorted(c[1] for c in compute.calls_of('evacuate')) == [
        'i1', 'i2', 'i3', 'p1']
    assert compute.calls_of('reset_state') == [('reset_state', 'p1',
                                                'active')]
    result = {e['instance_id']: e for e in report.evacuations}
    assert result['i1']['status'] == db_api.EVAC_DONE
    assert result['i3']['status'] == db_api.EVAC_DONE
    assert result['i1']['target_host'] == 'hostB'
    assert result['i2']['status'] == db_api.EVAC_FAILED
    assert 'no valid host' in result['i2']['reason']
    assert result['p1']['status'] == db_api.EVAC_DONE
    assert result['d1']['status'] == db_api.EVAC_SKIPPED
    assert compute.instances['p1']['vm_state'] == 'active'
    assert compute.instances['i1']['host'] == 'hostB'
    assert compute.instances['i2']['host'] == HOST
    [end] = dispatcher.of_type(events.RECOVERY_COMPLETED_WITH_ERRORS)
    assert end.payload[db_api.EVAC_FAILED] == 1
    assert end.payload[db_api.EVAC_DONE] == 3
    assert end.payload[db_api.EVAC_SKIPPED] == 1


def test_no_instances_completes(make_recoverer, compute, conf):
    report = make_recoverer().recover(HOST, level=2)
    assert report.state == db_api.COMPLETED
    assert report.evacuations == []
    assert nova_calls(compute)[-1] == ('list_instances', HOST)


class SlowCompute(fakes.FakeCompute):
    """The evacuate request takes a while; counts evacuation tasks sending
    one at once.

    Each task sends one evacuate request (the listing that planned the
    recovery stands in for a read before it, the process's watcher confirms
    with listings): long enough for the tasks of the pool to overlap
    there."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.in_flight = 0
        self.max_in_flight = 0
        self._count_lock = threading.Lock()

    def evacuate(self, iid, **kwargs):
        with self._count_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(0.2)
            return super().evacuate(iid, **kwargs)
        finally:
            with self._count_lock:
                self.in_flight -= 1


@pytest.mark.parametrize('max_workers', [1, 3])
def test_bounded_parallelism(make_recoverer, conf, max_workers):
    conf.set_override('max_workers', max_workers, 'evacuation')
    # the unit config's 5 s per instance is tight for serial slow
    # rebuilds on a loaded machine; this test is about parallelism
    conf.set_override('confirm_timeout', 60, 'evacuation')
    fc = SlowCompute()
    for n in range(6):
        fc.add_instance('i%d' % n)
    report = make_recoverer(compute=fc).recover(HOST, level=1,
                                                host_stopped=True)
    assert report.state == db_api.COMPLETED
    assert sorted(c[1] for c in fc.calls_of('evacuate')) == [
        'i%d' % n for n in range(6)]
    if max_workers == 1:
        assert fc.max_in_flight == 1
    else:
        assert 1 < fc.max_in_flight <= max_workers


def test_isolate_flow_shapes():
    class Ctx:
        level = 1
        host = None

    ctx = Ctx()
    for level, first in ((1, 'isolate-level-1'), (2, 'isolate-level-2'),
                         (3, 'isolate-level-3')):
        ctx.level = level
        flow = flows.isolate_flow(ctx)
        assert flow.name == flows.ISOLATE_FLOW
        names = [node.name for node, _ in flow.iter_nodes()]
        assert names == [first, 'list-instances']
    ctx.level = 4
    with pytest.raises(exception.ConfigError):
        flows.isolate_flow(ctx)


def test_evacuate_flow_only_holds_planned_evacuations():
    plan = [{'id': 'a', 'name': 'a', 'vm_state': 'active',
             'action': 'evacuate'},
            {'id': 'b', 'name': 'b', 'vm_state': 'paused', 'action': 'skip'}]
    flow = flows.evacuate_flow(object(), plan)
    parallel, outcome = [node for node, _ in flow.iter_nodes()]
    assert [t.name for t, _ in parallel.iter_nodes()] == ['evacuate-a']
    assert outcome.name == 'record-outcome'


def test_instance_that_cannot_be_evacuated_is_an_error(make_recoverer,
                                                       compute, dispatcher):
    """Left on the dead host without a policy reason: never "completed"."""
    compute.add_instance('i1')
    compute.add_instance('b1', vm_state='building')
    report = make_recoverer().recover(HOST, level=2)
    assert report.state == db_api.COMPLETED_WITH_ERRORS
    result = {e['instance_id']: e for e in report.evacuations}
    assert result['i1']['status'] == db_api.EVAC_DONE
    assert result['b1']['status'] == db_api.EVAC_FAILED
    assert 'being built' in result['b1']['reason']
    assert [c[1] for c in compute.calls_of('evacuate')] == ['i1']
    [end] = dispatcher.of_type(events.RECOVERY_COMPLETED_WITH_ERRORS)
    assert 'vm-b1 (b1)' in end.payload['error']
