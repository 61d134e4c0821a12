"""Dead ends: a rebuild heading to a host that failed meanwhile is
requested again; one heading to a host that was fenced once and is back in
service since is followed, never requested twice (two rebuilds of one
instance on two live hosts)."""

from vmha.db import api as db_api
from vmha import service_states
from vmha.tasks import evacuation
from vmha.tasks import instances
from tests.unit import fakes
from tests.unit.conftest import HOST


def _heading_to_hostb(compute):
    """Evacuate requests go to hostB, with Nova's migration record, and the
    rebuild lasts several dead-end check periods."""
    evacuate = compute.evacuate

    def evacuate_to_hostb(iid, target_host=None, on_shared_storage=False):
        version = evacuate(iid, 'hostB', on_shared_storage)
        compute.migrations.setdefault(iid, []).insert(0, fakes.FakeMigration(
            source_compute=HOST, status='pre-migrating', dest_compute='hostB',
            created_at=db_api.utcnow().isoformat()))
        return version

    compute.evacuate = evacuate_to_hostb
    compute.rebuild_polls = 40


def _evacuate(make_ctx, compute):
    compute.add_instance('i1')
    ctx = make_ctx(services=service_states.ServiceStates(compute, 0.0))
    entry = {e['id']: e for e in instances.ListInstances(ctx).execute()}['i1']
    compute.calls.clear()
    clock = fakes.Clock()
    return evacuation.EvacuateInstance(ctx, entry, sleep=clock.sleep,
                                       clock=clock).execute()


def _fenced_once(db, host, state):
    db.create_recovery('rec-' + host, host, 2, owner='unit-test')
    db.update_recovery('rec-' + host, state=state, fence_confirmed=True)


def test_a_host_back_in_service_since_its_fencing_is_no_dead_end(
        make_ctx, compute, db):
    """hostB was fenced by a recovery that completed, then repaired: its
    service is up. hostC failing now opens the dead-end check; hostB's
    old fencing must not make its running rebuild a dead end."""
    _fenced_once(db, 'hostB', db_api.COMPLETED)
    compute.services['hostC'] = {'state': 'down', 'status': 'enabled',
                                 'forced_down': True}
    _heading_to_hostb(compute)
    result = _evacuate(make_ctx, compute)
    assert result == {'id': 'i1', 'status': db_api.EVAC_DONE,
                      'target_host': 'hostB'}
    assert len(compute.calls_of('evacuate')) == 1
    assert compute.calls_of('list_evacuations')     # it did check


def test_a_host_fenced_by_a_running_recovery_is_a_dead_end(
        make_ctx, compute, db):
    _fenced_once(db, 'hostB', db_api.RUNNING)
    _heading_to_hostb(compute)
    evacuate = compute.evacuate
    compute.evacuate = lambda iid, target_host=None, **kw: (
        evacuate(iid, **kw) if len(compute.calls_of('evacuate')) < 1
        else fakes.FakeCompute.evacuate(compute, iid, 'hostC', **kw))
    compute.services['hostC'] = {'state': 'up', 'status': 'enabled',
                                 'forced_down': False}
    result = _evacuate(make_ctx, compute)
    assert len(compute.calls_of('evacuate')) == 2
    assert result['status'] == db_api.EVAC_DONE, result
