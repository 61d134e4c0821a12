"""Every task's execute and revert, run directly on a RecoveryContext."""

import dataclasses
import datetime

import pytest
from taskflow.types import failure

from vmha import confirm
from vmha.db import api as db_api
from vmha import events
from vmha import exception
from vmha import fencing
from vmha import policy
from vmha.tasks import evacuation
from vmha.tasks import fencing as fencing_tasks
from vmha.tasks import instances
from vmha.tasks import record
from vmha.tasks import service
from tests.unit import fakes
from tests.unit.conftest import HOST


class FakeClock:
    """time.monotonic/time.sleep pair: sleeping advances the clock."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def _recovery(db, ctx):
    return db.get_recovery(ctx.recovery_id)


# -- FenceHost ----------------------------------------------------------------

def test_fence_host_confirms_off(make_ctx, db, driver, dispatcher):
    ctx = make_ctx()
    result = fencing_tasks.FenceHost(ctx).execute()
    assert driver.calls == ['status', 'off', 'status']
    assert result['first_state'] == 'on'
    assert result['polls'] == 1
    assert result['driver'] == 'fake'
    rec = _recovery(db, ctx)
    assert rec.fence_confirmed is True
    assert rec.fencing_driver == 'fake'
    assert rec.fenced_at is not None
    [event] = dispatcher.of_type(events.HOST_FENCED)
    assert event.payload['polls'] == 1
    assert event.payload['first_state'] == 'on'
    assert event.recovery_id == ctx.recovery_id
    assert event.host == HOST


def test_fence_host_already_off_still_powers_off(make_ctx, driver,
                                                dispatcher):
    """Issue 12: a first "off" is recorded, never trusted (this test used
    to assert that no power-off was sent)."""
    driver.state = 'off'
    result = fencing_tasks.FenceHost(make_ctx()).execute()
    assert driver.calls == ['status', 'off', 'status']
    assert result['first_state'] == 'off'
    [event] = dispatcher.of_type(events.HOST_FENCED)
    assert event.payload['first_state'] == 'off'


def test_fence_host_off_after_several_polls(make_ctx):
    drv = fakes.FakeFencingDriver(states=['on', 'on', 'on', 'off'])
    result = fencing_tasks.FenceHost(make_ctx(fencing_driver=drv)).execute()
    assert drv.calls == ['status', 'off', 'status', 'status', 'status']
    assert result['polls'] == 3


@pytest.mark.parametrize('drv, error', [
    (fakes.FakeFencingDriver(stays_on=True), exception.PowerOffUnconfirmed),
    (fakes.FakeFencingDriver(off_error=exception.BMCUnreachable(
        host=HOST, bmc='192.0.2.10:623', reason='connection refused')),
     exception.BMCUnreachable),
    # status reads failing to the end: unconfirmed, the error named
    (fakes.FakeFencingDriver(error=exception.BMCUnreachable(
        host=HOST, bmc='192.0.2.10:623', reason='connection refused')),
     exception.PowerOffUnconfirmed),
])
def test_fence_host_failure_raises_and_records(make_ctx, db, dispatcher,
                                               drv, error):
    ctx = make_ctx(fencing_driver=drv)
    with pytest.raises(error) as err:
        fencing_tasks.FenceHost(ctx).execute()
    assert HOST in str(err.value)
    rec = _recovery(db, ctx)
    assert rec.fence_confirmed is False
    assert rec.fenced_at is None
    [event] = dispatcher.of_type(events.HOST_FENCE_FAILED)
    assert event.payload['error'] == str(err.value)
    assert event.payload['driver'] == 'fake'
    assert event.priority == events.ERROR
    assert not dispatcher.of_type(events.HOST_FENCED)


def test_fence_unconfirmed_polls_the_configured_count(make_ctx, conf):
    drv = fakes.FakeFencingDriver(stays_on=True)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencing_tasks.FenceHost(make_ctx(fencing_driver=drv)).execute()
    count = conf.fencing.power_off_confirm_count
    assert drv.calls == ['status', 'off'] + ['status'] * count
    assert 'NOT evacuated' in str(err.value)
    assert '192.0.2.10:623' in str(err.value)


def test_fence_host_revert_does_not_power_on(make_ctx, driver):
    task = fencing_tasks.FenceHost(make_ctx())
    task.execute()
    task.revert(result={'host': HOST})
    assert 'on' not in driver.calls
    assert driver.state == 'off'


def test_fencer_sleeps_between_polls_only():
    clock = FakeClock()
    drv = fakes.FakeFencingDriver(stays_on=True)
    fencer = fencing.Fencer(drv, confirm_count=4, confirm_interval=2.5,
                            call_timeout=5, sleep=clock.sleep, clock=clock)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(fakes_host())
    assert clock.sleeps == [2.5, 2.5, 2.5]
    assert err.value.kwargs['elapsed'] == 7.5
    assert err.value.kwargs['state'] == 'on'


def test_fencer_deadline_on_hung_bmc():
    import threading

    release = threading.Event()

    class Hung(fakes.FakeFencingDriver):
        def get_power_state(self, host):
            release.wait(5)
            return 'on'

    fencer = fencing.Fencer(Hung(), confirm_count=1, confirm_interval=0,
                            call_timeout=0.05)
    try:
        with pytest.raises(exception.PowerOffUnconfirmed) as err:
            fencer.fence(fakes_host())
    finally:
        release.set()
    assert 'did not answer power status within 0.05s' in str(err.value)
    assert HOST in str(err.value)


def test_fencer_unknown_power_state_is_not_off():
    drv = fakes.FakeFencingDriver(states=['on', 'weird', 'weird'])
    fencer = fencing.Fencer(drv, confirm_count=2, confirm_interval=0,
                            call_timeout=5)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(fakes_host())
    assert err.value.kwargs['state'] == 'unknown'


def fakes_host():
    from vmha import inventory
    return inventory.HostSpec(name=HOST, bmc_address='192.0.2.10')


# -- ForceDownService / QuickForceDown ----------------------------------------

class StaysUpCompute(fakes.FakeCompute):
    """force_down is accepted but Nova keeps reporting the service up."""

    def force_down(self, host, forced=True):
        self._record('force_down', host, forced)
        self.services[host]['forced_down'] = forced
        return self._service(host)


def test_force_down_service(make_ctx, compute, db, dispatcher):
    ctx = make_ctx()
    assert service.ForceDownService(ctx).execute() is True
    assert compute.calls_of('force_down') == [('force_down', HOST, True)]
    assert not compute.calls_of('wait_service_down')
    rec = _recovery(db, ctx)
    assert rec.forced_down is True
    assert rec.service_down_at is not None
    [event] = dispatcher.of_type(events.SERVICE_FORCED_DOWN)
    assert event.payload['service_id'] == 'svc-' + HOST


def test_force_down_waits_when_service_not_reported_down(make_ctx, db,
                                                         dispatcher):
    fc = StaysUpCompute()
    ctx = make_ctx(compute=fc)
    with pytest.raises(exception.ServiceNotDown):
        service.ForceDownService(ctx).execute()
    assert [c[0] for c in fc.calls] == ['force_down', 'wait_service_down']
    assert _recovery(db, ctx).service_down_at is None
    assert dispatcher.types() == [events.SERVICE_FORCE_DOWN_FAILED]


def test_force_down_failure_raises(make_ctx, compute, dispatcher):
    compute.fail['force_down'] = exception.ForceDownFailed(
        host=HOST, binary='nova-compute', reason='HTTP 500')
    with pytest.raises(exception.ForceDownFailed):
        service.ForceDownService(make_ctx()).execute()
    [event] = dispatcher.of_type(events.SERVICE_FORCE_DOWN_FAILED)
    assert HOST in event.payload['error']


def test_force_down_revert_unsets(make_ctx, compute, db):
    ctx = make_ctx()
    task = service.ForceDownService(ctx)
    task.execute()
    task.revert(result=True)
    assert compute.calls_of('force_down') == [('force_down', HOST, True),
                                              ('force_down', HOST, False)]
    assert compute.services[HOST]['forced_down'] is False
    assert _recovery(db, ctx).forced_down is False


def test_force_down_revert_failure_is_swallowed(make_ctx, compute, db):
    ctx = make_ctx()
    task = service.ForceDownService(ctx)
    task.execute()
    compute.fail['force_down'] = exception.NovaUnavailable(reason='down')
    task.revert(result=True)      # logged, not raised
    assert compute.calls_of('force_down')[-1] == ('force_down', HOST, False)
    assert _recovery(db, ctx).forced_down is True


def test_quick_force_down_success(make_ctx, compute):
    ctx = make_ctx(level=1, host_stopped=True)
    assert service.QuickForceDown(ctx).execute() is True
    assert compute.calls_of('force_down') == [('force_down', HOST, True)]


def test_quick_force_down_needs_two_signals(make_ctx, compute, dispatcher):
    """Without them it does nothing and sends the flow to fencing."""
    assert service.QuickForceDown(make_ctx(level=1)).execute() is False
    assert compute.calls_of('force_down') == []
    assert dispatcher.types() == []


def test_quick_force_down_returns_false_instead_of_raising(make_ctx, compute,
                                                           dispatcher, db):
    compute.fail['force_down'] = exception.ForceDownFailed(
        host=HOST, binary='nova-compute', reason='HTTP 500')
    ctx = make_ctx(level=1, host_stopped=True)
    assert service.QuickForceDown(ctx).execute() is False
    assert dispatcher.types() == [events.SERVICE_FORCE_DOWN_FAILED]
    assert _recovery(db, ctx).forced_down is None


def test_quick_force_down_not_reported_down_returns_false(make_ctx):
    fc = StaysUpCompute()
    ctx = make_ctx(level=1, compute=fc, host_stopped=True)
    assert service.QuickForceDown(ctx).execute() is False
    assert fc.calls_of('force_down') == [('force_down', HOST, True)]


# -- WaitServiceDown ----------------------------------------------------------

def test_wait_service_down(make_ctx, compute, db, dispatcher):
    compute.services[HOST]['state'] = 'down'
    ctx = make_ctx(level=3)
    assert service.WaitServiceDown(ctx).execute() is True
    assert _recovery(db, ctx).service_down_at is not None
    [event] = dispatcher.of_type(events.SERVICE_DOWN)
    assert event.payload == {'service_id': 'svc-' + HOST,
                             'forced_down': False}


def test_wait_service_down_timeout(make_ctx, compute, db, dispatcher):
    ctx = make_ctx(level=3)
    with pytest.raises(exception.ServiceNotDown) as err:
        service.WaitServiceDown(ctx).execute()
    assert HOST in str(err.value)
    assert _recovery(db, ctx).service_down_at is None
    assert not dispatcher.of_type(events.SERVICE_DOWN)


def test_wait_service_down_passes_configured_timeout(make_ctx, conf):
    seen = []

    class Recording(fakes.FakeCompute):
        def wait_service_down(self, host, timeout, interval=1.0):
            seen.append((host, timeout, interval))
            self.services[host]['state'] = 'down'
            return super().wait_service_down(host, timeout, interval)

    service.WaitServiceDown(make_ctx(level=3, compute=Recording())).execute()
    assert seen == [(HOST, conf.recovery.wait_service_down_timeout,
                     conf.recovery.wait_service_down_interval)]


# -- DisableService -----------------------------------------------------------

def test_disable_service(make_ctx, compute, conf, db, dispatcher):
    ctx = make_ctx()
    assert service.DisableService(ctx).execute() is True
    reason = conf.recovery.disabled_reason
    assert compute.calls_of('disable') == [('disable', HOST, reason)]
    assert compute.services[HOST]['status'] == 'disabled'
    assert _recovery(db, ctx).disabled_at is not None
    [event] = dispatcher.of_type(events.SERVICE_DISABLED)
    assert event.payload['reason'] == reason


def test_disable_service_revert_enables(make_ctx, compute):
    task = service.DisableService(make_ctx())
    task.execute()
    task.revert(result=True)
    assert compute.calls_of('enable') == [('enable', HOST)]
    assert compute.services[HOST]['status'] == 'enabled'


def test_disable_service_revert_skipped_after_failure(make_ctx, compute):
    task = service.DisableService(make_ctx())
    task.revert(result=failure.Failure.from_exception(
        exception.NovaUnavailable(reason='x')))
    assert not compute.calls_of('enable')


def test_disable_service_revert_error_is_swallowed(make_ctx, compute):
    task = service.DisableService(make_ctx())
    task.execute()
    compute.fail['enable'] = exception.NovaUnavailable(reason='x')
    task.revert(result=True)
    assert compute.calls_of('enable') == [('enable', HOST)]


# -- ListInstances ------------------------------------------------------------

def test_list_instances_records_rows_and_skips(make_ctx, compute, conf, db,
                                               dispatcher):
    """Only the policy skips; a paused or busy instance is planned for a
    reset, one that cannot be evacuated at all is recorded failed."""
    conf.set_override('skip_error_instances', True, 'evacuation')
    compute.add_instance('a1', metadata={'HA_Enabled': 'True'})
    compute.add_instance('b2')
    compute.add_instance('p1', vm_state='paused')
    compute.add_instance('t1', task_state='migrating')
    compute.add_instance('e1', vm_state='error')
    compute.add_instance('n1', vm_state='building')
    compute.add_instance('elsewhere', host='hostB')
    ctx = make_ctx()
    plan = instances.ListInstances(ctx).execute()
    assert compute.calls_of('list_instances') == [('list_instances', HOST)]
    assert [(e['id'], e['action']) for e in plan] == [
        ('a1', policy.EVACUATE), ('b2', policy.EVACUATE),
        ('p1', policy.EVACUATE), ('t1', policy.EVACUATE),
        ('e1', policy.SKIP), ('n1', policy.LEAVE)]
    rows = {r.instance_id: r for r in db.list_evacuations(ctx.recovery_id)}
    assert set(rows) == {'a1', 'b2', 'p1', 't1', 'e1', 'n1'}
    assert rows['a1'].status == db_api.EVAC_PENDING
    assert rows['a1'].source_host == HOST
    assert rows['a1'].original_vm_state == 'active'
    assert rows['a1'].instance_name == 'vm-a1'
    assert rows['a1'].reason is None
    assert rows['p1'].status == db_api.EVAC_PENDING
    assert rows['p1'].original_vm_state == 'paused'
    assert rows['p1'].reason.startswith('reset from vm_state paused to '
                                        'active')
    assert rows['t1'].status == db_api.EVAC_PENDING
    assert 'task_state migrating' in rows['t1'].reason
    assert rows['e1'].status == db_api.EVAC_SKIPPED
    assert 'skip_error_instances' in rows['e1'].reason
    assert rows['n1'].status == db_api.EVAC_FAILED
    assert 'being built' in rows['n1'].reason
    skipped = dispatcher.of_type(events.INSTANCE_SKIPPED)
    assert [e.payload['instance_id'] for e in skipped] == ['e1']
    [failed] = dispatcher.of_type(events.INSTANCE_EVACUATE_FAILED)
    assert failed.payload['instance_id'] == 'n1'
    assert 'being built' in failed.payload['error']
    assert not compute.calls_of('reset_state')     # nothing changed yet
    assert db.get_recovery(ctx.recovery_id).instances_listed_at is not None


def test_list_instances_is_idempotent(make_ctx, compute, db):
    compute.add_instance('a1')
    ctx = make_ctx()
    instances.ListInstances(ctx).execute()
    instances.ListInstances(ctx).execute()
    assert len(db.list_evacuations(ctx.recovery_id)) == 1


# -- EvacuateInstance ---------------------------------------------------------

def _plan(ctx, compute):
    return {e['id']: e for e in instances.ListInstances(ctx).execute()}


def _evacuate(ctx, compute, iid, **kwargs):
    entry = _plan(ctx, compute)[iid]
    compute.calls.clear()
    return evacuation.EvacuateInstance(ctx, entry, **kwargs).execute()


def _row(db, ctx, iid):
    return db.get_evacuation(ctx.recovery_id, iid)


def test_evacuate_success(make_ctx, compute, db, dispatcher):
    compute.add_instance('i1')
    ctx = make_ctx()
    result = _evacuate(ctx, compute, 'i1')
    assert result == {'id': 'i1', 'status': db_api.EVAC_DONE,
                      'target_host': 'hostB'}
    assert compute.calls_of('evacuate') == [('evacuate', 'i1', None)]
    assert not compute.calls_of('start')
    row = _row(db, ctx, 'i1')
    assert row.status == db_api.EVAC_DONE
    assert row.target_host == 'hostB'
    assert row.evacuate_calls == 1
    assert row.issued_at is not None and row.confirmed_at is not None
    assert row.reason is None
    assert db.get_recovery(ctx.recovery_id).first_evacuation_at is not None
    types = dispatcher.types()
    assert types.index(events.INSTANCE_EVACUATE_STARTED) < types.index(
        events.INSTANCE_EVACUATED)
    [done] = dispatcher.of_type(events.INSTANCE_EVACUATED)
    assert done.payload['target_host'] == 'hostB'
    assert done.payload['vm_state'] == 'active'


def test_evacuate_2_95_stopped_result_is_started(make_ctx, db):
    fc = fakes.FakeCompute(end_stopped=True)
    fc.add_instance('i1')
    ctx = make_ctx(compute=fc)
    result = _evacuate(ctx, fc, 'i1')
    assert result['status'] == db_api.EVAC_DONE
    assert fc.calls_of('start') == [('start', 'i1')]
    assert fc.instances['i1']['vm_state'] == 'active'
    assert fc.instances['i1']['host'] == 'hostB'


@pytest.mark.parametrize('end_stopped', [False, True])
def test_evacuate_stopped_stays_stopped(make_ctx, db, end_stopped):
    fc = fakes.FakeCompute(end_stopped=end_stopped)
    fc.add_instance('s1', vm_state='stopped')
    ctx = make_ctx(compute=fc)
    assert _evacuate(ctx, fc, 's1')['status'] == db_api.EVAC_DONE
    assert not fc.calls_of('start')
    assert fc.instances['s1']['vm_state'] == 'stopped'
    assert _row(db, ctx, 's1').status == db_api.EVAC_DONE


def test_evacuate_stopped_that_came_back_active_is_stopped(make_ctx):
    class ComesBackActive(fakes.FakeCompute):
        def get_instance(self, iid):
            inst = super().get_instance(iid)
            if inst.host == 'hostB' and not self.calls_of('stop'):
                self.instances[iid]['vm_state'] = 'active'
                inst = super().get_instance(iid)
            return inst

    fc = ComesBackActive()
    fc.add_instance('s1', vm_state='stopped')
    ctx = make_ctx(compute=fc)
    assert _evacuate(ctx, fc, 's1')['status'] == db_api.EVAC_DONE
    assert fc.calls_of('stop') == [('stop', 's1')]
    assert fc.instances['s1']['vm_state'] == 'stopped'


@pytest.mark.parametrize('end_stopped', [False, True])
def test_evacuate_error_instance_is_reset_to_error(make_ctx, db, end_stopped):
    fc = fakes.FakeCompute(end_stopped=end_stopped)
    fc.add_instance('e1', vm_state='error')
    ctx = make_ctx(compute=fc)
    result = _evacuate(ctx, fc, 'e1')
    assert result['status'] == db_api.EVAC_DONE
    assert fc.calls_of('reset_state') == [('reset_state', 'e1', 'error')]
    assert not fc.calls_of('start')
    assert fc.instances['e1']['vm_state'] == 'error'


def test_evacuate_refused_is_returned_not_raised(make_ctx, compute, db,
                                                 dispatcher):
    compute.add_instance('i1')
    compute.fail_evacuate['i1'] = exception.EvacuateRefused(
        instance='i1', reason='HTTP 400 Compute service of hostA is in use')
    ctx = make_ctx()
    result = _evacuate(ctx, compute, 'i1')
    assert result['status'] == db_api.EVAC_FAILED
    assert 'refused' in result['error'] and 'i1' in result['error']
    row = _row(db, ctx, 'i1')
    assert row.status == db_api.EVAC_FAILED
    assert row.reason == result['error']
    [event] = dispatcher.of_type(events.INSTANCE_EVACUATE_FAILED)
    assert event.payload['instance_id'] == 'i1'
    assert event.payload['error'] == result['error']
    assert not dispatcher.of_type(events.INSTANCE_EVACUATED)


def test_evacuate_never_lands_times_out(make_ctx, compute, conf, db):
    compute.add_instance('i1')
    compute.never_lands.add('i1')
    clock = FakeClock()
    ctx = make_ctx()
    result = _evacuate(ctx, compute, 'i1', sleep=clock.sleep, clock=clock)
    assert result['status'] == db_api.EVAC_FAILED
    assert 'did not complete its evacuation within 5s' in result['error']
    assert 'task_state=rebuilding' in result['error']
    assert clock.now >= conf.evacuation.confirm_timeout
    assert set(clock.sleeps) == {conf.evacuation.confirm_interval}
    row = _row(db, ctx, 'i1')
    assert row.status == db_api.EVAC_FAILED
    assert row.confirmed_at is None
    assert 'did not complete' in row.reason


def test_evacuate_rebuild_back_on_failed_host_fails(make_ctx, compute, conf,
                                                     db):
    conf.set_override('target_host_policy', 'fixed', 'evacuation')
    conf.set_override('target_hosts', {HOST: HOST}, 'evacuation')
    compute.add_instance('i1')
    ctx = make_ctx()
    result = _evacuate(ctx, compute, 'i1')
    assert compute.calls_of('evacuate') == [('evacuate', 'i1', HOST)]
    assert result['status'] == db_api.EVAC_FAILED
    assert 'rebuild ended on the failed host' in result['error']


def test_evacuate_waits_through_novas_stop_on_the_failed_host(
        make_ctx, compute):
    """From 2.95 Nova stops the rebuilt instance before it moves ``host``:
    a moment with no task state on the failed host is not a failure while
    Nova's evacuation record is still going."""
    compute.add_instance('i1')
    compute.rebuild_polls = 3
    compute.migrations['i1'] = [fakes.FakeMigration(
        source_compute=HOST, status='accepted',
        created_at='2026-01-01T00:00:00')]
    get_instance = compute.get_instance
    shown = []

    def between_stop_and_move(iid):
        inst = get_instance(iid)
        if inst.task_state == 'rebuilding' and not shown:
            shown.append(iid)
            return dataclasses.replace(inst, task_state=None,
                                       vm_state='stopped')
        return inst

    compute.get_instance = between_stop_and_move
    result = _evacuate(make_ctx(), compute, 'i1', sleep=lambda s: None)
    assert shown == ['i1']
    assert result['status'] == db_api.EVAC_DONE, result
    assert result['target_host'] != HOST
    assert compute.calls_of('list_evacuations') == [
        ('list_evacuations', 'i1')]


def test_evacuate_rerun_after_confirmation_does_nothing_again(
        make_ctx, compute, dispatcher):
    """Resume is at-least-once: a run killed after confirming, before
    taskflow saved its result, runs again; it must not ask Nova or notify
    again (it only reads the instance, to lift a lock it may have left)."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    first = evacuation.EvacuateInstance(ctx, entry).execute()
    compute.calls.clear()
    again = evacuation.EvacuateInstance(ctx, entry).execute()
    assert again == first
    assert compute.calls == [('get_instance', 'i1')]
    assert len(dispatcher.of_type(events.INSTANCE_EVACUATED)) == 1


def test_evacuate_rerun_after_confirmation_lifts_the_lock_it_left(
        make_ctx, compute, db):
    """Killed after the confirmation, before the unlock: the resumed task
    unlocks (vmha's lock is recognised by its reason)."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    task = evacuation.EvacuateInstance(ctx, entry)
    task._lock.release = lambda: None          # the crash: no unlock
    task.execute()
    assert compute.instances['i1']['locked'] is True
    compute.calls.clear()
    evacuation.EvacuateInstance(ctx, entry).execute()
    assert compute.calls_of('unlock') == [('unlock', 'i1')]
    assert compute.instances['i1']['locked'] is False
    assert not compute.calls_of('evacuate')


def test_evacuate_fixed_target_host(make_ctx, compute, conf):
    conf.set_override('target_host_policy', 'fixed', 'evacuation')
    conf.set_override('target_hosts', {HOST: 'spare1'}, 'evacuation')
    compute.add_instance('i1')
    result = _evacuate(make_ctx(), compute, 'i1')
    assert compute.calls_of('evacuate') == [('evacuate', 'i1', 'spare1')]
    assert result['target_host'] == 'spare1'


def test_evacuate_passes_on_shared_storage(make_ctx, compute, conf):
    seen = []

    class Recording(fakes.FakeCompute):
        def evacuate(self, iid, target_host=None, on_shared_storage=False):
            seen.append(on_shared_storage)
            return super().evacuate(iid, target_host, on_shared_storage)

    conf.set_override('on_shared_storage', True, 'evacuation')
    fc = Recording()
    fc.add_instance('i1')
    _evacuate(make_ctx(compute=fc), fc, 'i1')
    assert seen == [True]


def test_evacuate_instance_gone_is_failed(make_ctx, compute, db):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    compute.fail['get_instance'] = exception.InstanceNotFound(instance='i1')
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_FAILED
    assert 'i1 not found' in result['error']
    assert not compute.calls_of('evacuate')


def test_evacuate_idempotent_already_on_other_host(make_ctx, compute, db):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    compute.instances['i1']['host'] = 'hostC'   # moved since the plan
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert not compute.calls_of('evacuate')
    assert result == {'id': 'i1', 'status': db_api.EVAC_DONE,
                      'target_host': 'hostC'}
    assert _row(db, ctx, 'i1').evacuate_calls == 0


def test_evacuate_idempotent_rebuild_in_progress(make_ctx, compute, db):
    """Nova runs an evacuation of it already (its migration record is
    live): follow it, do not ask again."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    compute.start_rebuild('i1', polls=2)
    compute.migrations['i1'] = [fakes.FakeMigration(
        source_compute=HOST, status='pre-migrating',
        created_at='2026-01-01T00:00:00')]
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert not compute.calls_of('evacuate')
    assert not compute.calls_of('reset_state')
    assert result['status'] == db_api.EVAC_DONE
    assert result['target_host'] == 'hostB'
    assert _row(db, ctx, 'i1').evacuate_calls == 0


@pytest.mark.parametrize('migration', [
    None,
    fakes.FakeMigration(source_compute=HOST, status='failed',
                        created_at='2026-01-01T00:00:00')])
def test_evacuate_stuck_rebuild_is_reset_and_evacuated(make_ctx, compute,
                                                       db, migration):
    """A rebuild the dead host was running (no live evacuation record) is
    stuck: reset, then evacuated."""
    compute.add_instance('i1', task_state='rebuilding')
    if migration:
        compute.migrations['i1'] = [migration]
    ctx = make_ctx()
    result = _evacuate(ctx, compute, 'i1')
    assert compute.calls_of('reset_state') == [('reset_state', 'i1',
                                                'active')]
    assert compute.calls_of('evacuate') == [('evacuate', 'i1', None)]
    assert result['status'] == db_api.EVAC_DONE


def _issued_before(db, ctx, iid):
    db.count_evacuate_call(ctx.recovery_id, iid)
    return db.get_evacuation(ctx.recovery_id, iid).issued_at


def _nova_time(when):
    return when.strftime('%Y-%m-%dT%H:%M:%S.%f')


def test_evacuate_idempotent_request_reached_nova(make_ctx, compute, db):
    """DB counted a call and Nova has its migration: do not ask again."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    issued = _issued_before(db, ctx, 'i1')
    compute.migrations['i1'] = [fakes.FakeMigration(
        source_compute=HOST, status='accepted',
        created_at=_nova_time(issued))]
    # Nova accepted the request but has not started the rebuild yet
    compute.start_rebuild('i1', polls=2, task_state=None)
    compute.calls.clear()
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert compute.calls_of('list_evacuations') == [('list_evacuations',
                                                     'i1')]
    assert not compute.calls_of('evacuate')
    assert result['status'] == db_api.EVAC_DONE
    assert _row(db, ctx, 'i1').evacuate_calls == 1


@pytest.mark.parametrize('migration', [
    None,                                           # request never reached
    fakes.FakeMigration(source_compute=HOST, status='error',
                        created_at='NOW'),
    fakes.FakeMigration(source_compute='hostZ', status='done',
                        created_at='NOW'),
    fakes.FakeMigration(source_compute=HOST, status='done',
                        created_at='OLD'),          # an older evacuation
])
def test_evacuate_counted_call_without_matching_migration_retries(
        make_ctx, compute, db, migration):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    issued = _issued_before(db, ctx, 'i1')
    if migration is not None:
        when = issued if migration.created_at == 'NOW' else (
            issued - datetime.timedelta(hours=2))
        migration.created_at = _nova_time(when)
        compute.migrations['i1'] = [migration]
    compute.calls.clear()
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert compute.calls_of('evacuate') == [('evacuate', 'i1', None)]
    assert result['status'] == db_api.EVAC_DONE
    row = _row(db, ctx, 'i1')
    assert row.evacuate_calls == 2
    assert row.issued_at == issued          # first issue time is kept


def test_evacuate_answer_lost_but_nova_took_it(make_ctx, compute, db):
    """The connection broke after Nova recorded the evacuation: follow it,
    do not ask twice and do not call the instance failed."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    evacuate = compute.evacuate

    def reset_after_nova_acted(iid, **kwargs):
        evacuate(iid, **kwargs)
        issued = db.get_evacuation(ctx.recovery_id, iid).issued_at
        compute.migrations[iid] = [fakes.FakeMigration(
            source_compute=HOST, status='accepted',
            created_at=_nova_time(issued))]
        raise exception.NovaUnavailable(reason='Connection reset by peer')

    compute.evacuate = reset_after_nova_acted
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_DONE
    assert len(compute.calls_of('evacuate')) == 1
    assert _row(db, ctx, 'i1').evacuate_calls == 1


def test_evacuate_answer_lost_and_nova_has_nothing_fails(make_ctx, compute,
                                                         db):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    compute.fail_evacuate['i1'] = exception.NovaUnavailable(
        reason='Connection reset by peer')
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_FAILED
    assert 'Connection reset by peer' in result['error']
    assert compute.calls_of('list_evacuations') == [('list_evacuations',
                                                     'i1')]


def test_evacuate_revert_makes_no_calls(make_ctx, compute):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    compute.calls.clear()
    evacuation.EvacuateInstance(ctx, entry).revert(result={'id': 'i1'})
    assert compute.calls == []


def test_evacuate_task_names_are_stable(make_ctx):
    entry = {'id': 'abc', 'name': 'vm', 'vm_state': 'active'}
    ctx = make_ctx()
    assert evacuation.EvacuateInstance(ctx, entry).name == 'evacuate-abc'
    assert fencing_tasks.FenceHost(ctx).name == 'fence-host'


# -- RecordOutcome ------------------------------------------------------------

def _outcome(ctx, db, statuses):
    for iid, status in statuses.items():
        db.save_evacuation(ctx.recovery_id, iid, source_host=HOST,
                           status=status)
    return record.RecordOutcome(ctx).execute()


def test_record_outcome_completed(make_ctx, db, dispatcher, host_spec):
    """``skipped`` is only ever a policy exclusion now (ListInstances
    records anything else left on the host as failed, see
    test_list_instances_records_rows_and_skips), so it does not make the
    recovery an error."""
    db.add_host(host_spec)
    ctx = make_ctx()
    result = _outcome(ctx, db, {'a': db_api.EVAC_DONE,
                                'b': db_api.EVAC_SKIPPED})
    assert result == {'state': db_api.COMPLETED,
                      'counts': {db_api.EVAC_DONE: 1, db_api.EVAC_SKIPPED: 1}}
    rec = db.get_recovery(ctx.recovery_id)
    assert rec.state == db_api.COMPLETED
    assert rec.finished_at is not None
    assert db.host_state(HOST) == 'evacuated'
    [event] = dispatcher.of_type(events.RECOVERY_COMPLETED)
    assert event.payload['state'] == db_api.COMPLETED


@pytest.mark.parametrize('bad', [db_api.EVAC_FAILED, db_api.EVAC_PENDING,
                                 db_api.EVAC_IN_PROGRESS])
def test_record_outcome_completed_with_errors(make_ctx, db, dispatcher, bad):
    ctx = make_ctx()
    result = _outcome(ctx, db, {'a': db_api.EVAC_DONE, 'b': bad})
    assert result['state'] == db_api.COMPLETED_WITH_ERRORS
    assert db.get_recovery(ctx.recovery_id).state == \
        db_api.COMPLETED_WITH_ERRORS
    [event] = dispatcher.of_type(events.RECOVERY_COMPLETED_WITH_ERRORS)
    assert event.payload[bad] == 1
    assert event.priority == events.WARNING
    assert not dispatcher.of_type(events.RECOVERY_COMPLETED)


def test_record_outcome_no_instances_is_completed(make_ctx, db):
    ctx = make_ctx()
    assert _outcome(ctx, db, {})['state'] == db_api.COMPLETED


def test_record_outcome_timestamps_from_rows(make_ctx, db):
    ctx = make_ctx()
    t0 = datetime.datetime(2030, 1, 1, 12, 0, 0)
    for n, iid in enumerate(('a', 'b')):
        db.save_evacuation(ctx.recovery_id, iid, source_host=HOST,
                           status=db_api.EVAC_DONE,
                           issued_at=t0 + datetime.timedelta(seconds=n),
                           confirmed_at=t0 + datetime.timedelta(seconds=9 + n))
    record.RecordOutcome(ctx).execute()
    rec = db.get_recovery(ctx.recovery_id)
    assert rec.first_evacuation_at == t0
    assert rec.last_confirmed_at == t0 + datetime.timedelta(seconds=10)


# -- resets, locks, cascades, microversions -----------------------------------

@pytest.mark.parametrize('vm_state, task_state, end_stopped, reset_to, '
                         'back, after', [
                             ('paused', None, False, 'active', 'active', []),
                             ('paused', None, True, 'active', 'active',
                              ['start']),
                             ('suspended', None, False, 'active', 'active',
                              []),
                             ('rescued', None, True, 'active', 'active',
                              ['start']),
                             ('resized', None, False, 'active', 'active', []),
                             ('active', 'rebooting', False, 'active',
                              'active', []),
                             ('stopped', 'powering-on', False, 'active',
                              'stopped', ['stop']),
                             ('stopped', 'powering-on', True, 'active',
                              'stopped', []),
                             ('shelved', None, False, 'active', 'stopped',
                              ['stop']),
                         ])
def test_evacuate_resets_what_nova_refuses(make_ctx, db, dispatcher,
                                           vm_state, task_state, end_stopped,
                                           reset_to, back, after):
    fc = fakes.FakeCompute(end_stopped=end_stopped)
    fc.add_instance('r1', vm_state=vm_state, task_state=task_state)
    ctx = make_ctx(compute=fc)
    result = _evacuate(ctx, fc, 'r1')
    assert result['status'] == db_api.EVAC_DONE, result
    names = [c[0] for c in fc.calls if c[0] in (
        'reset_state', 'evacuate', 'start', 'stop')]
    assert names == ['reset_state', 'evacuate'] + after
    assert fc.calls_of('reset_state') == [('reset_state', 'r1', reset_to)]
    assert (fc.instances['r1']['host'], fc.instances['r1']['vm_state'],
            fc.instances['r1']['task_state']) == ('hostB', back, None)
    row = _row(db, ctx, 'r1')
    assert row.original_vm_state == vm_state
    assert row.reason.startswith('reset from vm_state %s' % vm_state)
    assert row.reason.endswith('comes back %s' % back)
    [reset] = dispatcher.of_type(events.INSTANCE_RESET)
    assert reset.payload == {'instance_id': 'r1', 'instance_name': 'vm-r1',
                             'vm_state': vm_state, 'task_state': task_state,
                             'reset_to': reset_to, 'comes_back': back}
    types = dispatcher.types()
    assert types.index(events.INSTANCE_RESET) < types.index(
        events.INSTANCE_EVACUATE_STARTED)


@pytest.mark.parametrize('end_stopped', [False, True])
def test_evacuate_error_with_stuck_task_is_reset_to_error(make_ctx,
                                                          end_stopped):
    fc = fakes.FakeCompute(end_stopped=end_stopped)
    fc.add_instance('e1', vm_state='error', task_state='rebuilding')
    result = _evacuate(make_ctx(compute=fc), fc, 'e1')
    assert result['status'] == db_api.EVAC_DONE
    assert fc.calls_of('reset_state') == [('reset_state', 'e1', 'error'),
                                          ('reset_state', 'e1', 'error')]
    assert fc.instances['e1']['vm_state'] == 'error'


def test_evacuate_already_reset_by_a_killed_run_is_not_reset_again(
        make_ctx, compute, db):
    compute.add_instance('p1', vm_state='paused')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['p1']
    compute.reset_state('p1', 'active')        # the killed run got this far
    compute.calls.clear()
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_DONE
    assert not compute.calls_of('reset_state')
    assert compute.calls_of('evacuate') == [('evacuate', 'p1', None)]
    # the row still says it was reset (from the plan)
    assert _row(db, ctx, 'p1').reason.startswith('reset from vm_state '
                                                 'paused')


def test_evacuate_locks_then_unlocks(make_ctx, compute, db):
    compute.add_instance('i1')
    ctx = make_ctx()
    result = _evacuate(ctx, compute, 'i1')
    assert result['status'] == db_api.EVAC_DONE
    names = [c[0] for c in compute.calls if c[0] in (
        'lock', 'evacuate', 'unlock')]
    assert names == ['lock', 'evacuate', 'unlock']
    [lock] = compute.calls_of('lock')
    assert lock[2].startswith('vmha: evacuating from failed host %s' % HOST)
    assert ctx.recovery_id in lock[2]
    assert compute.instances['i1']['locked'] is False


def test_evacuate_leaves_the_owners_lock(make_ctx, compute):
    compute.add_instance('i1', locked=True, locked_reason='owner: keep')
    result = _evacuate(make_ctx(), compute, 'i1')
    assert result['status'] == db_api.EVAC_DONE
    assert not compute.calls_of('lock') and not compute.calls_of('unlock')
    assert (compute.instances['i1']['locked'],
            compute.instances['i1']['locked_reason']) == (True, 'owner: keep')


def test_evacuate_takes_over_a_lock_vmha_left(make_ctx, compute):
    """A lock of another vmha run (a crash, or the first host's recovery
    in a cascade) is vmha's to lift."""
    compute.add_instance('i1', locked=True,
                         locked_reason='vmha: evacuating from failed host '
                                       'hostZ (recovery r0)')
    _evacuate(make_ctx(), compute, 'i1')
    assert not compute.calls_of('lock')
    assert compute.calls_of('unlock') == [('unlock', 'i1')]


def test_evacuate_unlocks_after_a_failed_evacuation(make_ctx, compute):
    compute.add_instance('i1')
    compute.fail_evacuate['i1'] = exception.EvacuateRefused(
        instance='i1', reason='HTTP 409 Cannot evacuate instance in state '
        'building')
    result = _evacuate(make_ctx(), compute, 'i1')
    assert result['status'] == db_api.EVAC_FAILED
    assert compute.calls_of('unlock') == [('unlock', 'i1')]
    assert compute.instances['i1']['locked'] is False


def test_evacuate_goes_on_when_the_lock_fails(make_ctx, compute):
    compute.add_instance('i1')
    compute.fail['lock'] = exception.NovaError(reason='HTTP 500 lock')
    result = _evacuate(make_ctx(), compute, 'i1')
    assert result['status'] == db_api.EVAC_DONE
    assert compute.calls_of('evacuate') == [('evacuate', 'i1', None)]
    assert not compute.calls_of('unlock')


def test_evacuate_unlock_failure_is_not_an_evacuation_failure(make_ctx,
                                                              compute):
    compute.add_instance('i1')
    compute.fail['unlock'] = exception.NovaError(reason='HTTP 500 unlock')
    result = _evacuate(make_ctx(), compute, 'i1')
    assert result['status'] == db_api.EVAC_DONE


def test_evacuate_does_not_lock_below_2_73(make_ctx):
    """Without locked_reason vmha could not tell its lock from the
    owner's after a crash: it does not lock at all."""
    fc = fakes.FakeCompute(locks_with_reason=False)
    fc.add_instance('i1')
    assert _evacuate(make_ctx(compute=fc), fc, 'i1')['status'] == \
        db_api.EVAC_DONE
    assert not fc.calls_of('lock') and not fc.calls_of('unlock')


class StartHangs(fakes.FakeCompute):
    """2.95: lands stopped on hostB; the start vmha sends never finishes
    because hostB died in turn."""

    def start(self, iid):
        self._record('start', iid)
        self.instances[iid]['task_state'] = 'powering-on'


@pytest.mark.parametrize('how', ['forced_down', 'down', 'recovering'])
def test_evacuate_hands_over_to_a_failed_target(make_ctx, db, dispatcher,
                                                 how):
    fc = StartHangs(end_stopped=True)
    fc.add_instance('i1')
    ctx = make_ctx(compute=fc)
    if how == 'forced_down':
        fc.services['hostB'].update(forced_down=True, state='down')
    elif how == 'down':
        fc.services['hostB']['state'] = 'down'
    else:
        db.create_recovery('rec-b', 'hostB', 2)
    clock = FakeClock()
    result = _evacuate(ctx, fc, 'i1', sleep=clock.sleep, clock=clock)
    assert result == {'id': 'i1', 'status': db_api.EVAC_HANDED_OVER,
                      'target_host': 'hostB'}
    assert clock.now < ctx.conf.evacuation.confirm_timeout   # no waiting
    row = _row(db, ctx, 'i1')
    assert row.status == db_api.EVAC_HANDED_OVER
    assert row.reason.startswith('now on hostB, whose own recovery takes '
                                 'it over')
    [event] = dispatcher.of_type(events.INSTANCE_HANDED_OVER)
    assert event.payload['target_host'] == 'hostB'
    assert not dispatcher.of_type(events.INSTANCE_EVACUATE_FAILED)
    assert fc.calls_of('unlock') == [('unlock', 'i1')]
    # a rerun (resume) does not evacuate it again
    fc.calls.clear()
    again = evacuation.EvacuateInstance(ctx, _row_entry(ctx, fc)).execute()
    assert again['status'] == db_api.EVAC_HANDED_OVER
    assert not fc.calls_of('evacuate')


def _row_entry(ctx, compute):
    return {'id': 'i1', 'name': 'vm-i1', 'vm_state': 'active',
            'restore': 'active'}


def test_evacuate_on_a_healthy_target_is_not_handed_over(make_ctx, db):
    fc = StartHangs(end_stopped=True)
    fc.add_instance('i1')
    db.create_recovery('old-b', 'hostB', 2)
    db.update_recovery('old-b', state=db_api.COMPLETED)
    clock = FakeClock()
    result = _evacuate(make_ctx(compute=fc), fc, 'i1', sleep=clock.sleep,
                       clock=clock)
    assert result['status'] == db_api.EVAC_FAILED
    assert 'did not complete its evacuation' in result['error']


@pytest.mark.parametrize('end_stopped, hint', [(True, True), (False, False)])
def test_evacuate_timeout_says_when_it_may_land_shutoff(make_ctx, end_stopped,
                                                        hint):
    fc = fakes.FakeCompute(end_stopped=end_stopped)
    fc.add_instance('i1')
    fc.never_lands.add('i1')
    clock = FakeClock()
    result = _evacuate(make_ctx(compute=fc), fc, 'i1', sleep=clock.sleep,
                       clock=clock)
    assert result['status'] == db_api.EVAC_FAILED
    assert ('leaves it SHUTOFF' in result['error']) is hint
    assert ('openstack server start i1' in result['error']) is hint


def test_record_outcome_handed_over_is_not_left_behind(make_ctx, db):
    ctx = make_ctx()
    result = _outcome(ctx, db, {'a': db_api.EVAC_DONE,
                                'b': db_api.EVAC_HANDED_OVER,
                                'c': db_api.EVAC_SKIPPED})
    assert result['state'] == db_api.COMPLETED


def test_evacuate_again_when_the_rebuild_target_fails_mid_rebuild(
        make_ctx, compute, db):
    """Nova moves ``host`` only at the end of a rebuild: an instance whose
    rebuild was heading to hostB when hostB failed stays on the failed host
    with task_state rebuilding forever. Once hostB is isolated (forced
    down), it is reset and evacuated again, once."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    evacuate = compute.evacuate

    def heads_to_hostb_then_dies(iid, **kwargs):
        if compute.calls_of('evacuate'):              # the second request
            compute.migrations[iid].insert(0, fakes.FakeMigration(
                source_compute=HOST, status='accepted', dest_compute='hostC',
                created_at=_nova_time(db_api.utcnow())))
            return evacuate(iid, **kwargs)
        compute._record('evacuate', iid, None)
        issued = db.get_evacuation(ctx.recovery_id, iid).issued_at
        compute.instances[iid]['task_state'] = 'rebuilding'
        compute.migrations[iid] = [fakes.FakeMigration(
            source_compute=HOST, status='pre-migrating',
            dest_compute='hostB', created_at=_nova_time(issued))]
        compute.services['hostB'].update(forced_down=True, state='down')
        return '2.95'

    compute.evacuate = heads_to_hostb_then_dies
    compute.services['hostC'] = {'state': 'up', 'status': 'enabled',
                                 'forced_down': False}
    clock = FakeClock()
    result = evacuation.EvacuateInstance(ctx, entry, sleep=clock.sleep,
                                         clock=clock).execute()
    assert result['status'] == db_api.EVAC_DONE, result
    assert len(compute.calls_of('evacuate')) == 2
    assert compute.calls_of('reset_state') == [('reset_state', 'i1',
                                                'active')]
    assert _row(db, ctx, 'i1').evacuate_calls == 2


def test_rebuild_heading_to_a_live_host_is_followed(make_ctx, compute, db):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    compute.start_rebuild('i1', polls=3)
    compute.migrations['i1'] = [fakes.FakeMigration(
        source_compute=HOST, status='migrating', dest_compute='hostB',
        created_at='2026-01-01T00:00:00')]
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_DONE
    assert not compute.calls_of('evacuate')
    assert not compute.calls_of('reset_state')


def test_resumed_task_leaves_another_recoverys_lock(make_ctx, compute, db):
    """Handed over, then this recovery resumes: the lock the next host's
    recovery holds now is not this one's to lift."""
    compute.add_instance('i1', host='hostB', locked=True,
                         locked_reason='vmha: evacuating from failed host '
                                       'hostB (recovery rec-b)')
    ctx = make_ctx()
    db.save_evacuation(ctx.recovery_id, 'i1', source_host=HOST,
                       status=db_api.EVAC_HANDED_OVER, target_host='hostB')
    entry = {'id': 'i1', 'name': 'vm-i1', 'vm_state': 'active'}
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_HANDED_OVER
    assert not compute.calls_of('unlock')
    assert compute.instances['i1']['locked'] is True


def test_resumed_mid_evacuation_unlocks_the_lock_it_took(make_ctx, compute,
                                                         db):
    """Killed while waiting for the rebuild: the resumed task follows the
    evacuation (no second request) and lifts the lock the killed run took."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = _plan(ctx, compute)['i1']
    first = evacuation.EvacuateInstance(ctx, entry)
    compute.never_lands.add('i1')
    first._wait_landed = lambda *args: (_ for _ in ()).throw(
        SystemExit('killed'))
    first._lock.release = lambda: None      # SIGKILL: no finally runs
    with pytest.raises(SystemExit):
        first.execute()
    assert compute.instances['i1']['locked'] is True   # the crash left it
    issued = db.get_evacuation(ctx.recovery_id, 'i1').issued_at
    compute.migrations['i1'] = [fakes.FakeMigration(
        source_compute=HOST, status='migrating', dest_compute='hostB',
        created_at=_nova_time(issued))]
    compute.never_lands.discard('i1')
    compute.calls.clear()
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_DONE
    assert not compute.calls_of('evacuate') and not compute.calls_of('lock')
    assert compute.calls_of('unlock') == [('unlock', 'i1')]
    assert compute.instances['i1']['locked'] is False


def test_fallback_to_2_94_keeps_the_power_state_rule(make_ctx):
    """Negotiated 2.95+, but Nova took the request at 2.94 (old computes):
    the instance keeps its power state, so it is neither started again nor
    announced as landing SHUTOFF."""
    fc = fakes.FakeCompute(end_stopped=False)
    fc.evacuates_to_stopped = True            # the negotiated version
    fc.add_instance('i1')
    fc.add_instance('i2')
    fc.never_lands.add('i2')
    ctx = make_ctx(compute=fc)
    plan = _plan(ctx, fc)
    assert evacuation.EvacuateInstance(ctx, plan['i1']).execute()[
        'status'] == db_api.EVAC_DONE
    assert not fc.calls_of('start')
    clock = FakeClock()
    result = evacuation.EvacuateInstance(ctx, plan['i2'], sleep=clock.sleep,
                                         clock=clock).execute()
    assert result['status'] == db_api.EVAC_FAILED
    assert 'SHUTOFF' not in result['error']


def test_an_instance_waiting_for_room_is_unlocked(make_ctx, compute):
    """NoValidHost: the instance waits (vmha.capacity) without vmha's lock,
    so its owner keeps control of it meanwhile."""
    compute.add_instance('i1')
    compute.fail_evacuate['i1'] = exception.EvacuateRefused(
        instance='i1', reason='HTTP 400 No valid host was found')
    result = _evacuate(make_ctx(), compute, 'i1')
    assert result['status'] == db_api.EVAC_WAITING
    assert compute.calls_of('unlock') == [('unlock', 'i1')]
    assert compute.instances['i1']['locked'] is False


def test_a_wait_that_saw_nothing_new_is_not_judged_on_the_old_reading(
        make_ctx, compute, db):
    """The reading taken before the evacuate call shows the instance on the
    failed host with no task state. If the watcher is too busy to see the
    rebuild before the task's wait runs out, that old reading must not be
    judged as "Nova gave the rebuild up" (no migration record in this
    fake): the unit suite failed that way under load."""

    class BusyWatcher(confirm.Watcher):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.waits = 0

        def wait(self, watch, timeout):
            self.waits += 1
            if self.waits == 1:            # timed out, saw nothing
                return watch.latest
            return super().wait(watch, timeout)

    compute.add_instance('i1')
    ctx = make_ctx()
    ctx.watcher = BusyWatcher(compute, 0.1, background=False, batched=False)
    result = _evacuate(ctx, compute, 'i1')
    assert ctx.watcher.waits > 1
    assert result == {'id': 'i1', 'status': db_api.EVAC_DONE,
                      'target_host': 'hostB'}
