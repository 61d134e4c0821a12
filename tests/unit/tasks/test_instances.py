"""ListInstances: the evacuation plan recorded per instance."""

from vmha.db import api as db_api
from vmha import events
from vmha import policy
from vmha.tasks import instances
from tests.unit.conftest import HOST


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
