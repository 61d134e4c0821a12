"""The vetoes and the mass-failure guard of vmha.detection.decision, as
pure functions; and the monitor reading each failed host's records once."""

import datetime
import types

import pytest

from vmha.db import api as db_api
from vmha.detection import base
from vmha.detection import decision
from vmha import inventory
from vmha import monitor
from vmha.detection import nova
from tests.unit import fakes

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0)


def last(state, finished_ago=None, rid='r1'):
    finished = (NOW - datetime.timedelta(seconds=finished_ago)
                if finished_ago is not None else None)
    return types.SimpleNamespace(id=rid, state=state, finished_at=finished)


SPEC = inventory.HostSpec(name='h1')
IN_MAINTENANCE = inventory.HostSpec(name='h1', maintenance=True)


@pytest.mark.parametrize('record, vetoed', [
    (decision.Record(), False),                        # never recovered
    (decision.Record(spec=SPEC), False),
    (decision.Record(spec=IN_MAINTENANCE), True),
    (decision.Record(spec=SPEC, last=last(db_api.RUNNING)), True),
    (decision.Record(spec=SPEC, last=last(db_api.PENDING)), True),
    # failed: once retry_failed_after (60 s here) has passed
    (decision.Record(spec=SPEC, last=last(db_api.FAILED, 59)), True),
    (decision.Record(spec=SPEC, last=last(db_api.FAILED, 60)), False),
    (decision.Record(spec=SPEC, last=last(db_api.FAILED)), True),
    # evacuated: only once put back into service
    (decision.Record(spec=SPEC, state='recovering',
                     last=last(db_api.COMPLETED)), True),
    (decision.Record(spec=SPEC, state=decision.RETURNED,
                     last=last(db_api.COMPLETED)), False),
    (decision.Record(last=last(db_api.COMPLETED)), True),   # not inventory
    (decision.Record(spec=IN_MAINTENANCE, state=decision.RETURNED,
                     last=last(db_api.COMPLETED)), True),
])
def test_veto(record, vetoed):
    reason = decision.veto(record, NOW, 60)
    assert (reason is not None) is vetoed
    assert reason is None or isinstance(reason, str)


def test_the_state_is_needed_only_after_an_evacuating_recovery():
    assert not decision.needs_state(None)
    assert not decision.needs_state(last(db_api.RUNNING))
    assert not decision.needs_state(last(db_api.FAILED, 10))
    assert decision.needs_state(last(db_api.COMPLETED))
    assert decision.needs_state(last(db_api.COMPLETED_WITH_ERRORS))


def guard(state, failed, now, total=10, window=60, pct=25, count=0):
    return decision.mass_guard(state, failed, total, now, window, pct, count)


def test_mass_guard_trips_once_and_holds_while_its_hosts_fail():
    state = decision.MassState()
    verdict = guard(state, {'h1', 'h2', 'h3'}, 0)
    assert verdict.holds and verdict.alert == ('h1', 'h2', 'h3')
    # the same hosts still failing: held, no second alert
    again = guard(verdict.state, {'h1'}, 5)
    assert again.holds and again.alert == ()
    # none of them failing any more: released
    free = guard(again.state, set(), 10)
    assert not free.holds and free.state.held == frozenset()


def test_mass_guard_counts_hosts_declared_within_the_window():
    state = decision.MassState().declare('h1', 0).declare('h2', 10)
    assert guard(state, {'h3'}, 20).alert == ('h1', 'h2', 'h3')
    # h1 and h2 were declared more than a window ago: h3 alone is fine
    late = guard(state, {'h3'}, 71)
    assert not late.holds and late.state.declared == ()


def test_mass_guard_is_pure():
    state = decision.MassState().declare('h1', 0)
    guard(state, {'h2', 'h3'}, 1)
    assert state == decision.MassState(declared=(('h1', 0),))


def test_waiting_on_nova():
    views = {
        'a': decision.HostView('a', heartbeat=base.Observation(base.LOST),
                               service=base.Observation(base.UP)),
        'b': decision.HostView('b', heartbeat=base.Observation(base.MISSING),
                               service=base.Observation(base.UP)),
        'c': decision.HostView('c', heartbeat=base.Observation(base.LOST),
                               service=base.Observation(base.STALE)),
        'd': decision.HostView('d', service=base.Observation(base.UP)),
    }
    assert sorted(decision.waiting_on_nova(views)) == ['a', 'b']


class _Recoverer:
    def __init__(self, compute, db, dispatcher):
        self.compute, self.db, self.dispatcher = compute, db, dispatcher
        self.recovered = []

    def recover(self, host, *args, **kwargs):
        self.recovered.append(host)
        return host

    def resume_all(self):
        return []


def test_the_monitor_reads_a_failed_hosts_inventory_row_once_per_poll(
        conf, db, dispatcher, monkeypatch):
    db.add_host(inventory.HostSpec(name='c2'))
    compute = fakes.FakeCompute(hosts=['c1', 'c2', 'c3', 'c4'])
    compute.services['c2']['state'] = 'down'
    stub = _Recoverer(compute, db, dispatcher)
    clock = fakes.Clock()
    mon = monitor.Monitor(conf, stub, clock=clock, sources=[
        nova.NovaSource(conf, compute=compute, clock=clock)])
    reads = []
    real = db.find_host
    monkeypatch.setattr(db, 'find_host',
                        lambda name: reads.append(name) or real(name))
    assert mon.check_once() == ['c2']
    assert reads == ['c2']
    # recovered, not put back: vetoed, still one read
    reads.clear()
    db.create_recovery('r-done', 'c2', 2)
    db.update_recovery('r-done', state=db_api.COMPLETED)
    db.update_host_state('c2', 'recovering')
    assert mon.check_once() == []
    assert reads == ['c2']
