"""One notification per outcome, even when the run is killed between
saving an instance's outcome and recording its event (the crash-resume lab
test caught 5 evacuate.end events for 6 instances)."""

from vmha.db import api as db_api
from vmha import events
from vmha.tasks import evacuation
from tests.unit.conftest import HOST
from tests.unit.tasks import helpers


def _killed_before_the_event(ctx, entry):
    """Run the task, killed right after it saved the instance's outcome."""
    task = evacuation.EvacuateInstance(ctx, entry)

    def killed(*args, **kwargs):
        raise SystemExit('SIGKILL')
    task._emit_evacuated = killed
    task._lock.release = lambda: None          # no finally runs on SIGKILL
    try:
        task.execute()
    except SystemExit:
        pass
    else:
        raise AssertionError('the run was not killed')


def test_resume_sends_the_outcome_the_killed_run_did_not(
        make_ctx, compute, dispatcher, db):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    _killed_before_the_event(ctx, entry)
    assert db.get_evacuation(ctx.recovery_id, 'i1').status == \
        db_api.EVAC_DONE
    assert not dispatcher.of_type(events.INSTANCE_EVACUATED)
    compute.calls.clear()
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_DONE
    assert not compute.calls_of('evacuate')
    [sent] = dispatcher.of_type(events.INSTANCE_EVACUATED)
    assert sent.payload['instance_id'] == 'i1'
    assert sent.payload['target_host'] == result['target_host']
    assert sent.payload['vm_state'] == 'active'
    evacuation.EvacuateInstance(ctx, entry).execute()     # once more
    assert len(dispatcher.of_type(events.INSTANCE_EVACUATED)) == 1


def test_resume_sends_a_handover_the_killed_run_did_not(
        make_ctx, compute, dispatcher, db):
    compute.add_instance('i1', host='hostB')
    ctx = make_ctx()
    db.save_evacuation(ctx.recovery_id, 'i1', source_host=HOST,
                       status=db_api.EVAC_HANDED_OVER, target_host='hostB',
                       reason='hostB failed in turn')
    entry = {'id': 'i1', 'name': 'vm-i1', 'vm_state': 'active'}
    for _ in range(2):
        result = evacuation.EvacuateInstance(ctx, entry).execute()
        assert result['status'] == db_api.EVAC_HANDED_OVER
    [sent] = dispatcher.of_type(events.INSTANCE_HANDED_OVER)
    assert sent.payload['target_host'] == 'hostB'
    assert sent.payload['reason'] == 'hostB failed in turn'
