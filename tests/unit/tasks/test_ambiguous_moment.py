"""From 2.95 a rebuild shows, for a moment, no task state on the failed
host (stopped before Nova moves ``host``). Reading Nova's evacuation record
for every instance that passes through it cost nova-api one request per
evacuation (issue 16); the record is read only once the state outlasts a
few confirmation rounds, or is ERROR."""

from vmha.db import api as db_api
from tests.unit import fakes
from tests.unit.conftest import HOST
from tests.unit.tasks import helpers


class LastMoment(fakes.FakeCompute):
    """Each rebuild shows one reading of "stopped, no task, still on the
    failed host" before it lands."""

    def __init__(self, **kwargs):
        super().__init__(end_stopped=True, **kwargs)
        self.moments = set()

    def observe(self, iid):
        with self.mutex:
            pending = self._pending.get(iid)
            if (pending and pending['polls'] == 1
                    and iid not in self.moments):
                self.moments.add(iid)
                data = self.instances[iid]
                data.update(task_state=None, vm_state='stopped')
                return self._inst(data)
        return super().observe(iid)


def test_the_last_moment_of_a_rebuild_reads_no_record(make_ctx):
    fc = LastMoment()
    fc.add_instance('i1')
    clock = fakes.Clock()
    result = helpers.evacuate(make_ctx(compute=fc), fc, 'i1',
                              sleep=clock.sleep, clock=clock)
    assert result['status'] == db_api.EVAC_DONE, result
    assert fc.moments == {'i1'}
    assert not fc.calls_of('list_evacuations')


def test_a_rebuild_nova_gave_up_still_fails(make_ctx, compute):
    """Nova gave the rebuild up (its record says failed) and the instance
    stays on the failed host: still reported, after the grace."""
    compute.add_instance('i1')
    compute.fail_evacuate = {}
    evacuate = compute.evacuate

    def gives_up(iid, target_host=None, on_shared_storage=False):
        return evacuate(iid, HOST, on_shared_storage)   # lands "on" HOST
    compute.evacuate = gives_up
    clock = fakes.Clock()
    result = helpers.evacuate(make_ctx(), compute, 'i1', sleep=clock.sleep,
                              clock=clock)
    assert result['status'] == db_api.EVAC_FAILED
    assert 'rebuild ended on the failed host' in result['error']
    assert compute.calls_of('list_evacuations')
