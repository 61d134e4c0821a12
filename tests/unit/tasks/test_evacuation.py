"""EvacuateInstance: one idempotent evacuation per instance."""

import dataclasses
import datetime

import pytest

from vmha import confirm
from vmha.db import api as db_api
from vmha import events
from vmha import exception
from vmha.tasks import evacuation
from vmha.tasks import fencing as fencing_tasks
from tests.unit import fakes
from tests.unit.conftest import HOST
from tests.unit.tasks import helpers


# -- EvacuateInstance ---------------------------------------------------------


def _row(db, ctx, iid):
    return db.get_evacuation(ctx.recovery_id, iid)


def test_evacuate_success(make_ctx, compute, db, dispatcher):
    compute.add_instance('i1')
    ctx = make_ctx()
    result = helpers.evacuate(ctx, compute, 'i1')
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
    result = helpers.evacuate(ctx, fc, 'i1')
    assert result['status'] == db_api.EVAC_DONE
    assert fc.calls_of('start') == [('start', 'i1')]
    assert fc.instances['i1']['vm_state'] == 'active'
    assert fc.instances['i1']['host'] == 'hostB'


@pytest.mark.parametrize('end_stopped', [False, True])
def test_evacuate_stopped_stays_stopped(make_ctx, db, end_stopped):
    fc = fakes.FakeCompute(end_stopped=end_stopped)
    fc.add_instance('s1', vm_state='stopped')
    ctx = make_ctx(compute=fc)
    assert helpers.evacuate(ctx, fc, 's1')['status'] == db_api.EVAC_DONE
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
    assert helpers.evacuate(ctx, fc, 's1')['status'] == db_api.EVAC_DONE
    assert fc.calls_of('stop') == [('stop', 's1')]
    assert fc.instances['s1']['vm_state'] == 'stopped'


@pytest.mark.parametrize('end_stopped', [False, True])
def test_evacuate_error_instance_is_reset_to_error(make_ctx, db, end_stopped):
    fc = fakes.FakeCompute(end_stopped=end_stopped)
    fc.add_instance('e1', vm_state='error')
    ctx = make_ctx(compute=fc)
    result = helpers.evacuate(ctx, fc, 'e1')
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
    result = helpers.evacuate(ctx, compute, 'i1')
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
    clock = fakes.Clock(0.0)
    ctx = make_ctx()
    result = helpers.evacuate(ctx, compute, 'i1', sleep=clock.sleep,
                              clock=clock)
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
    result = helpers.evacuate(ctx, compute, 'i1')
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
    result = helpers.evacuate(make_ctx(), compute, 'i1', sleep=lambda s: None)
    assert shown == ['i1']
    assert result['status'] == db_api.EVAC_DONE, result
    assert result['target_host'] != HOST
    # a moment shorter than the grace (vmha.tasks.evacuation.
    # AMBIGUITY_ROUNDS) does not even need Nova's record
    assert not compute.calls_of('list_evacuations')


def test_evacuate_rerun_after_confirmation_does_nothing_again(
        make_ctx, compute, dispatcher):
    """Resume is at-least-once: a run killed after confirming, before
    taskflow saved its result, runs again; it must not ask Nova or notify
    again (it only reads the instance, to lift a lock it may have left)."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    first = evacuation.EvacuateInstance(ctx, entry).execute()
    compute.calls.clear()
    again = evacuation.EvacuateInstance(ctx, entry).execute()
    assert again == first
    assert compute.calls == [('get_instance', 'i1')]
    assert len(dispatcher.of_type(events.INSTANCE_EVACUATED)) == 1


def test_evacuate_fixed_target_host(make_ctx, compute, conf):
    conf.set_override('target_host_policy', 'fixed', 'evacuation')
    conf.set_override('target_hosts', {HOST: 'spare1'}, 'evacuation')
    compute.add_instance('i1')
    result = helpers.evacuate(make_ctx(), compute, 'i1')
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
    helpers.evacuate(make_ctx(compute=fc), fc, 'i1')
    assert seen == [True]


def test_evacuate_instance_gone_is_failed(make_ctx, compute, db):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute, resumed=True)['i1']
    compute.fail['get_instance'] = exception.InstanceNotFound(instance='i1')
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_FAILED
    assert 'i1 not found' in result['error']
    assert not compute.calls_of('evacuate')


def test_evacuate_idempotent_already_on_other_host(make_ctx, compute, db):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute, resumed=True)['i1']
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
    entry = helpers.plan(ctx, compute, resumed=True)['i1']
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
    result = helpers.evacuate(ctx, compute, 'i1')
    assert compute.calls_of('reset_state') == [('reset_state', 'i1',
                                                'active')]
    assert compute.calls_of('evacuate') == [('evacuate', 'i1', None)]
    assert result['status'] == db_api.EVAC_DONE


def _issued_before(db, ctx, iid):
    db.count_evacuate_call(ctx.recovery_id, iid)
    return db.get_evacuation(ctx.recovery_id, iid).issued_at


def test_evacuate_idempotent_request_reached_nova(make_ctx, compute, db):
    """DB counted a call and Nova has its migration: do not ask again."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    issued = _issued_before(db, ctx, 'i1')
    compute.migrations['i1'] = [fakes.FakeMigration(
        source_compute=HOST, status='accepted',
        created_at=helpers.nova_time(issued))]
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
    entry = helpers.plan(ctx, compute)['i1']
    issued = _issued_before(db, ctx, 'i1')
    if migration is not None:
        when = issued if migration.created_at == 'NOW' else (
            issued - datetime.timedelta(hours=2))
        migration.created_at = helpers.nova_time(when)
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
    entry = helpers.plan(ctx, compute)['i1']
    evacuate = compute.evacuate

    def reset_after_nova_acted(iid, **kwargs):
        evacuate(iid, **kwargs)
        issued = db.get_evacuation(ctx.recovery_id, iid).issued_at
        compute.migrations[iid] = [fakes.FakeMigration(
            source_compute=HOST, status='accepted',
            created_at=helpers.nova_time(issued))]
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
    entry = helpers.plan(ctx, compute)['i1']
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
    entry = helpers.plan(ctx, compute)['i1']
    compute.calls.clear()
    evacuation.EvacuateInstance(ctx, entry).revert(result={'id': 'i1'})
    assert compute.calls == []


def test_evacuate_task_names_are_stable(make_ctx):
    entry = {'id': 'abc', 'name': 'vm', 'vm_state': 'active'}
    ctx = make_ctx()
    assert evacuation.EvacuateInstance(ctx, entry).name == 'evacuate-abc'
    assert fencing_tasks.FenceHost(ctx).name == 'fence-host'


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
    result = helpers.evacuate(ctx, fc, 'r1')
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
    result = helpers.evacuate(make_ctx(compute=fc), fc, 'e1')
    assert result['status'] == db_api.EVAC_DONE
    assert fc.calls_of('reset_state') == [('reset_state', 'e1', 'error'),
                                          ('reset_state', 'e1', 'error')]
    assert fc.instances['e1']['vm_state'] == 'error'


def test_evacuate_already_reset_by_a_killed_run_is_not_reset_again(
        make_ctx, compute, db):
    compute.add_instance('p1', vm_state='paused')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute, resumed=True)['p1']
    compute.reset_state('p1', 'active')        # the killed run got this far
    compute.calls.clear()
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_DONE
    assert not compute.calls_of('reset_state')
    assert compute.calls_of('evacuate') == [('evacuate', 'p1', None)]
    # the row still says it was reset (from the plan)
    assert _row(db, ctx, 'p1').reason.startswith('reset from vm_state '
                                                 'paused')


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
    clock = fakes.Clock(0.0)
    result = helpers.evacuate(ctx, fc, 'i1', sleep=clock.sleep, clock=clock)
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
    clock = fakes.Clock(0.0)
    result = helpers.evacuate(make_ctx(compute=fc), fc, 'i1',
                              sleep=clock.sleep, clock=clock)
    assert result['status'] == db_api.EVAC_FAILED
    assert 'did not complete its evacuation' in result['error']


@pytest.mark.parametrize('end_stopped, hint', [(True, True), (False, False)])
def test_evacuate_timeout_says_when_it_may_land_shutoff(make_ctx, end_stopped,
                                                        hint):
    fc = fakes.FakeCompute(end_stopped=end_stopped)
    fc.add_instance('i1')
    fc.never_lands.add('i1')
    clock = fakes.Clock(0.0)
    result = helpers.evacuate(make_ctx(compute=fc), fc, 'i1',
                              sleep=clock.sleep, clock=clock)
    assert result['status'] == db_api.EVAC_FAILED
    assert ('leaves it SHUTOFF' in result['error']) is hint
    assert ('openstack server start i1' in result['error']) is hint


def test_evacuate_again_when_the_rebuild_target_fails_mid_rebuild(
        make_ctx, compute, db):
    """Nova moves ``host`` only at the end of a rebuild: an instance whose
    rebuild was heading to hostB when hostB failed stays on the failed host
    with task_state rebuilding forever. Once hostB is isolated (forced
    down), it is reset and evacuated again, once."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    evacuate = compute.evacuate

    def heads_to_hostb_then_dies(iid, **kwargs):
        if compute.calls_of('evacuate'):              # the second request
            compute.migrations[iid].insert(0, fakes.FakeMigration(
                source_compute=HOST, status='accepted', dest_compute='hostC',
                created_at=helpers.nova_time(db_api.utcnow())))
            return evacuate(iid, **kwargs)
        compute._record('evacuate', iid, None)
        issued = db.get_evacuation(ctx.recovery_id, iid).issued_at
        compute.instances[iid]['task_state'] = 'rebuilding'
        compute.migrations[iid] = [fakes.FakeMigration(
            source_compute=HOST, status='pre-migrating',
            dest_compute='hostB', created_at=helpers.nova_time(issued))]
        compute.services['hostB'].update(forced_down=True, state='down')
        return '2.95'

    compute.evacuate = heads_to_hostb_then_dies
    compute.services['hostC'] = {'state': 'up', 'status': 'enabled',
                                 'forced_down': False}
    clock = fakes.Clock(0.0)
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
    entry = helpers.plan(ctx, compute, resumed=True)['i1']
    compute.start_rebuild('i1', polls=3)
    compute.migrations['i1'] = [fakes.FakeMigration(
        source_compute=HOST, status='migrating', dest_compute='hostB',
        created_at='2026-01-01T00:00:00')]
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_DONE
    assert not compute.calls_of('evacuate')
    assert not compute.calls_of('reset_state')


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
    plan = helpers.plan(ctx, fc)
    assert evacuation.EvacuateInstance(ctx, plan['i1']).execute()[
        'status'] == db_api.EVAC_DONE
    assert not fc.calls_of('start')
    clock = fakes.Clock(0.0)
    result = evacuation.EvacuateInstance(ctx, plan['i2'], sleep=clock.sleep,
                                         clock=clock).execute()
    assert result['status'] == db_api.EVAC_FAILED
    assert 'SHUTOFF' not in result['error']


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
    result = helpers.evacuate(ctx, compute, 'i1')
    assert ctx.watcher.waits > 1
    assert result == {'id': 'i1', 'status': db_api.EVAC_DONE,
                      'target_host': 'hostB'}
