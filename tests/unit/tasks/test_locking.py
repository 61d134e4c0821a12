"""The instance lock EvacuateInstance takes and lifts (vmha.tasks.locking)."""

import pytest

from vmha.db import api as db_api
from vmha import exception
from vmha.tasks import evacuation
from tests.unit import fakes
from tests.unit.conftest import HOST
from tests.unit.tasks import helpers


def test_evacuate_rerun_after_confirmation_lifts_the_lock_it_left(
        make_ctx, compute, db):
    """Killed after the confirmation, before the unlock: the resumed task
    unlocks (vmha's lock is recognised by its reason)."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    task = evacuation.EvacuateInstance(ctx, entry)
    task._lock.release = lambda: None          # the crash: no unlock
    task.execute()
    assert compute.instances['i1']['locked'] is True
    compute.calls.clear()
    evacuation.EvacuateInstance(ctx, entry).execute()
    assert compute.calls_of('unlock') == [('unlock', 'i1')]
    assert compute.instances['i1']['locked'] is False
    assert not compute.calls_of('evacuate')


def test_evacuate_locks_then_unlocks(make_ctx, compute, db):
    compute.add_instance('i1')
    ctx = make_ctx()
    result = helpers.evacuate(ctx, compute, 'i1')
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
    result = helpers.evacuate(make_ctx(), compute, 'i1')
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
    helpers.evacuate(make_ctx(), compute, 'i1')
    assert not compute.calls_of('lock')
    assert compute.calls_of('unlock') == [('unlock', 'i1')]


def test_evacuate_unlocks_after_a_failed_evacuation(make_ctx, compute):
    compute.add_instance('i1')
    compute.fail_evacuate['i1'] = exception.EvacuateRefused(
        instance='i1', reason='HTTP 409 Cannot evacuate instance in state '
        'building')
    result = helpers.evacuate(make_ctx(), compute, 'i1')
    assert result['status'] == db_api.EVAC_FAILED
    assert compute.calls_of('unlock') == [('unlock', 'i1')]
    assert compute.instances['i1']['locked'] is False


def test_evacuate_goes_on_when_the_lock_fails(make_ctx, compute):
    compute.add_instance('i1')
    compute.fail['lock'] = exception.NovaError(reason='HTTP 500 lock')
    result = helpers.evacuate(make_ctx(), compute, 'i1')
    assert result['status'] == db_api.EVAC_DONE
    assert compute.calls_of('evacuate') == [('evacuate', 'i1', None)]
    assert not compute.calls_of('unlock')


def test_evacuate_unlock_failure_is_not_an_evacuation_failure(make_ctx,
                                                              compute):
    compute.add_instance('i1')
    compute.fail['unlock'] = exception.NovaError(reason='HTTP 500 unlock')
    result = helpers.evacuate(make_ctx(), compute, 'i1')
    assert result['status'] == db_api.EVAC_DONE


def test_evacuate_does_not_lock_below_2_73(make_ctx):
    """Without locked_reason vmha could not tell its lock from the
    owner's after a crash: it does not lock at all."""
    fc = fakes.FakeCompute(locks_with_reason=False)
    fc.add_instance('i1')
    assert helpers.evacuate(make_ctx(compute=fc), fc, 'i1')['status'] == \
        db_api.EVAC_DONE
    assert not fc.calls_of('lock') and not fc.calls_of('unlock')


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
    entry = helpers.plan(ctx, compute)['i1']
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
        created_at=helpers.nova_time(issued))]
    compute.never_lands.discard('i1')
    compute.calls.clear()
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_DONE
    assert not compute.calls_of('evacuate') and not compute.calls_of('lock')
    assert compute.calls_of('unlock') == [('unlock', 'i1')]
    assert compute.instances['i1']['locked'] is False


def test_an_instance_waiting_for_room_is_unlocked(make_ctx, compute):
    """NoValidHost: the instance waits (vmha.capacity) without vmha's lock,
    so its owner keeps control of it meanwhile."""
    compute.add_instance('i1')
    compute.fail_evacuate['i1'] = exception.EvacuateRefused(
        instance='i1', reason='HTTP 400 No valid host was found')
    result = helpers.evacuate(make_ctx(), compute, 'i1')
    assert result['status'] == db_api.EVAC_WAITING
    assert compute.calls_of('unlock') == [('unlock', 'i1')]
    assert compute.instances['i1']['locked'] is False
