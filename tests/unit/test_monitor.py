"""Monitor: who is recovered, when, and the mass-failure guard."""

import datetime
import threading

import pytest

from vmha.db import api as db_api
from vmha.detection import base
from vmha.detection import heartbeat
from vmha.detection import nova
from vmha import events
from vmha import exception
from vmha import inventory
from vmha import monitor
from tests.unit import fakes


class StubRecoverer:
    """What the monitor uses of a Recoverer; records recover() calls."""

    def __init__(self, compute, db, dispatcher, fail=None):
        self.compute = compute
        self.db = db
        self.dispatcher = dispatcher
        self.calls = []
        self.fail = fail or {}

    @property
    def recovered(self):
        return [call['host'] for call in self.calls]

    def recover(self, host, level=None, detected_at=None, detected_by=None):
        self.calls.append({'host': host, 'level': level,
                           'detected_at': detected_at,
                           'detected_by': detected_by})
        if host in self.fail:
            raise self.fail[host]
        return host

    def resume_all(self):
        return []


def cluster(n=4, down=()):
    compute = fakes.FakeCompute(hosts=['c%d' % i for i in range(1, n + 1)])
    for host in down:
        compute.services[host]['state'] = 'down'
    return compute


@pytest.fixture
def clock():
    return fakes.Clock()


@pytest.fixture
def bmc():
    return fakes.FakeBMC()


@pytest.fixture
def watch(conf, db, dispatcher, clock, bmc):
    """make(compute, membership=None, **stub) -> (Monitor, StubRecoverer);
    with ``membership``, the heartbeat source runs too."""
    def make(compute, membership=None, **kwargs):
        stub = StubRecoverer(compute, db, dispatcher, **kwargs)
        sources = [nova.NovaSource(conf, compute=compute, clock=clock)]
        if membership is not None:
            sources.append(heartbeat.HeartbeatSource(
                conf, membership=membership, clock=clock))
        return monitor.Monitor(conf, stub, sources=sources, bmc=bmc,
                               clock=clock), stub
    return make


# -- Nova only ----------------------------------------------------------------

def test_down_enabled_service_is_recovered_once(watch, clock):
    mon, stub = watch(cluster(down=['c2']))
    assert mon.check_once() == ['c2']
    [call] = stub.calls
    assert call['level'] == 2
    assert call['detected_by'] == ('Nova reports the service down (no '
                                   'agent heartbeat)')
    assert call['detected_at'] == monitor._utc(clock.now)


def test_nothing_down_nothing_recovered(watch, dispatcher):
    mon, stub = watch(cluster())
    assert mon.check_once() == []
    assert stub.calls == [] and dispatcher.events == []


@pytest.mark.parametrize('fields', [{'status': 'disabled'},
                                    {'forced_down': True}])
def test_handled_services_are_left_alone(watch, fields):
    compute = cluster(down=['c2'])
    compute.services['c2'].update(fields)
    mon, stub = watch(compute)
    mon.check_once()
    assert stub.calls == []


def test_maintenance_host_not_recovered(watch, db):
    db.add_host(inventory.HostSpec(name='c2', maintenance=True))
    db.add_host(inventory.HostSpec(name='c3'))
    mon, stub = watch(cluster(down=['c2', 'c3'], n=8))
    mon.check_once()
    assert stub.recovered == ['c3']


def test_per_host_level_override(watch, db):
    db.add_host(inventory.HostSpec(name='c2', level=3))
    mon, stub = watch(cluster(down=['c1', 'c2'], n=8))
    mon.check_once()
    assert [(c['host'], c['level']) for c in stub.calls] == [('c1', 2),
                                                             ('c2', 3)]


@pytest.mark.parametrize('state', [db_api.PENDING, db_api.RUNNING])
def test_host_with_active_recovery_not_recovered(watch, db, state):
    db.create_recovery('r1', 'c2', 2)
    db.update_recovery('r1', state=state)
    mon, stub = watch(cluster(down=['c2']))
    mon.check_once()
    assert stub.calls == []


def _finished(db, rid, host, state, seconds_ago):
    db.create_recovery(rid, host, 2)
    db.update_recovery(rid, state=state, finished_at=db_api.utcnow()
                       - datetime.timedelta(seconds=seconds_ago))


def test_failed_recovery_retried_only_after_delay(watch, db, conf):
    conf.set_override('retry_failed_after', 300, 'monitor')
    _finished(db, 'r1', 'c2', db_api.FAILED, seconds_ago=10)
    mon, stub = watch(cluster(down=['c2']))
    mon.check_once()
    assert stub.calls == []
    db.update_recovery('r1', finished_at=db_api.utcnow()
                       - datetime.timedelta(seconds=301))
    mon.check_once()
    assert stub.recovered == ['c2']


def test_completed_recovery_does_not_block_a_new_failure(watch, db):
    _finished(db, 'r1', 'c2', db_api.COMPLETED, seconds_ago=1)
    mon, stub = watch(cluster(down=['c2']))
    mon.check_once()
    assert stub.recovered == ['c2']


def test_conflict_on_one_host_does_not_stop_others(watch):
    mon, stub = watch(cluster(n=8, down=['c1', 'c2']), fail={
        'c1': exception.RecoveryInProgress(host='c1', recovery_id='x',
                                           state='running')})
    assert mon.check_once() == ['c2']
    assert stub.recovered == ['c1', 'c2']


def test_error_on_one_host_does_not_stop_others(watch):
    """E.g. a host whose fencing driver is not installed."""
    mon, stub = watch(cluster(n=8, down=['c1', 'c2']), fail={
        'c1': exception.DriverNotFound(kind='fencing', name='x',
                                       namespace='vmha.fencing',
                                       available='noop')})
    assert mon.check_once() == ['c2']
    assert stub.recovered == ['c1', 'c2']


def test_every_recovery_starts_through_one_method(watch, monkeypatch):
    mon, stub = watch(cluster(n=8, down=['c1', 'c2']))
    started = []
    monkeypatch.setattr(mon, '_start_recovery',
                        lambda *args: started.append(args) or args[0])
    assert mon.check_once() == ['c1', 'c2']
    assert [args[:2] for args in started] == [('c1', 2), ('c2', 2)]
    assert stub.calls == []


# -- mass-failure guard -------------------------------------------------------

def test_mass_failure_alerts_once_and_recovers_nothing(watch, dispatcher,
                                                       conf):
    conf.set_override('max_failed_hosts_percent', 50, 'monitor')
    compute = cluster(n=4, down=['c1', 'c2', 'c3'])
    mon, stub = watch(compute)
    for _ in range(3):
        assert mon.check_once() == []
    assert stub.calls == []
    [alert] = dispatcher.of_type(events.MASS_FAILURE)
    assert alert.host == 'c1,c2,c3'
    assert alert.payload == {'down': 3, 'total': 4}
    assert alert.priority == events.ERROR
    # one host back is not enough: the others still wait for an operator
    compute.services['c1']['state'] = 'up'
    assert mon.check_once() == [] and stub.calls == []
    # all back; a later mass failure is a new alert
    for host in ('c2', 'c3'):
        compute.services[host]['state'] = 'up'
    mon.check_once()
    for host in ('c1', 'c2', 'c3'):
        compute.services[host]['state'] = 'down'
    mon.check_once()
    assert len(dispatcher.of_type(events.MASS_FAILURE)) == 2
    assert stub.calls == []


def test_the_guard_holds_until_the_operator_handled_every_host(
        watch, dispatcher, db):
    compute = cluster(n=5, down=['c1', 'c2', 'c3'])
    mon, stub = watch(compute)
    mon.check_once()
    for host in ('c1', 'c2'):
        db.add_host(inventory.HostSpec(name=host, maintenance=True))
    # c3 was part of the mass failure: still not recovered automatically
    assert mon.check_once() == []
    compute.services['c3']['forced_down'] = True   # operator evacuated it
    mon.check_once()
    compute.services['c4']['state'] = 'down'       # a new, single failure
    assert mon.check_once() == ['c4']
    assert len(dispatcher.of_type(events.MASS_FAILURE)) == 1


def test_exactly_the_percentage_is_not_mass_failure(watch, conf):
    conf.set_override('max_failed_hosts_percent', 50, 'monitor')
    mon, stub = watch(cluster(n=4, down=['c1', 'c2']))
    mon.check_once()
    assert stub.recovered == ['c1', 'c2']


def test_absolute_mass_failure_limit(watch, conf, dispatcher):
    conf.set_override('max_failed_hosts', 1, 'monitor')
    mon, stub = watch(cluster(n=10, down=['c1', 'c2']))
    mon.check_once()
    assert stub.calls == []
    assert len(dispatcher.of_type(events.MASS_FAILURE)) == 1


def test_only_failures_within_the_window_count_together(watch, conf, clock,
                                                        db):
    conf.set_override('mass_failure_window', 60, 'monitor')
    compute = cluster(n=4, down=['c1'])
    db.create_recovery('r1', 'c1', 2)          # c1: being recovered
    mon, stub = watch(compute)
    mon.check_once()
    clock.advance(61)
    for host in ('c2', 'c3'):
        compute.services[host]['state'] = 'down'
    # 3 of 4 down, but only 2 failed within the window
    mon.check_once()
    assert stub.recovered == ['c2', 'c3']


# -- heartbeats ---------------------------------------------------------------

@pytest.fixture
def agents():
    return fakes.FakeMembership(members=['c1', 'c2', 'c3', 'c4'])


def _expire(mon, clock, agents, *hosts):
    """Drop ``hosts`` from the group and let their settle time pass."""
    agents.current -= set(hosts)
    mon.check_once()
    clock.advance(mon.sources[1].settle)


def test_lost_heartbeat_with_bmc_answering_is_recovered(watch, agents, bmc,
                                                        clock):
    bmc.default = 'on'
    mon, stub = watch(cluster(), agents)
    assert mon.check_once() == []
    agents.current.discard('c2')
    first_seen = clock.now
    assert mon.check_once() == []            # missing: settling
    assert bmc.asked == []
    clock.advance(mon.sources[1].settle)
    assert mon.check_once() == ['c2']
    [call] = stub.calls
    assert call['detected_by'] == 'heartbeat lost, BMC answers (power on)'
    assert call['detected_at'] == monitor._utc(first_seen)
    assert bmc.asked == ['c2']


def test_lost_heartbeat_waits_for_a_second_signal(watch, agents, bmc, clock):
    compute = cluster()
    mon, stub = watch(compute, agents)
    mon.check_once()
    _expire(mon, clock, agents, 'c2')
    for _ in range(2):
        assert mon.check_once() == []
    assert bmc.asked == ['c2', 'c2']
    compute.services['c2']['state'] = 'down'   # Nova agrees now
    assert mon.check_once() == ['c2']
    assert stub.calls[0]['detected_by'] == (
        'heartbeat lost, Nova reports the service down')


def test_live_heartbeat_vetoes_nova_down(watch, agents, bmc):
    bmc.default = 'on'
    mon, stub = watch(cluster(down=['c2']), agents)
    for _ in range(2):
        assert mon.check_once() == []
    assert stub.calls == [] and bmc.asked == []


def test_planned_stop_is_not_a_failure(watch, agents, bmc, clock):
    bmc.default = 'on'
    mon, stub = watch(cluster(), agents)
    mon.check_once()
    agents.current.discard('c2')
    agents.left_hosts.add('c2')
    for _ in range(3):
        assert mon.check_once() == []
        clock.advance(10)
    assert stub.calls == []
    # the agent is back, then its host dies: a failure again
    agents.left_hosts.discard('c2')
    agents.current.add('c2')
    mon.check_once()
    _expire(mon, clock, agents, 'c2')
    assert mon.check_once() == ['c2']


def test_recovered_host_is_not_recovered_twice(watch, agents, bmc, clock,
                                               make_recoverer, conf):
    """After its recovery the host is forced down and disabled: handled."""
    bmc.default = 'on'
    compute = cluster()
    compute.add_instance('i1', host='c2')
    rec = make_recoverer(compute=compute)
    rec.db.add_host(inventory.HostSpec(name='c2'))  # only inventory hosts
    sources = [nova.NovaSource(conf, compute=compute, clock=clock),
               heartbeat.HeartbeatSource(conf, membership=agents,
                                         clock=clock)]
    mon = monitor.Monitor(conf, rec, sources=sources, bmc=bmc, clock=clock)
    mon.check_once()
    _expire(mon, clock, agents, 'c2')
    [report] = mon.check_once()
    assert report.state == db_api.COMPLETED, report.error
    for _ in range(3):
        clock.advance(1)
        assert mon.check_once() == []
    assert len(rec.db.list_recoveries(host='c2')) == 1


def test_agents_dying_together_trip_the_guard(watch, agents, bmc, clock,
                                              dispatcher):
    """Expiries up to one heartbeat interval apart are seen together."""
    bmc.default = 'on'
    mon, stub = watch(cluster(), agents)
    mon.check_once()
    agents.current -= {'c1', 'c2'}
    mon.check_once()
    clock.advance(mon.sources[1].settle / 2)
    agents.current.discard('c3')
    mon.check_once()
    clock.advance(mon.sources[1].settle / 2)
    # c1 and c2 are lost now, c3 still settling: 3 of 4 suspected
    assert mon.check_once() == []
    assert stub.calls == [] and bmc.asked == []
    [alert] = dispatcher.of_type(events.MASS_FAILURE)
    assert alert.host == 'c1,c2,c3'


def test_next_delay_wakes_up_when_a_suspicion_settles(watch, agents, clock,
                                                      conf):
    conf.set_override('poll_interval', 5, 'monitor')
    mon, stub = watch(cluster(), agents)
    mon.check_once()
    assert mon.next_delay() == 5
    agents.current.discard('c2')
    mon.check_once()
    settle = mon.sources[1].settle
    assert settle < 5
    assert mon.next_delay() == pytest.approx(settle + monitor._SETTLE_MARGIN)


def test_a_failing_source_leaves_the_decision_to_the_others(watch, agents,
                                                           caplog):
    mon, stub = watch(cluster(down=['c2']), agents)
    assert mon.check_once() == []          # c2 has a live agent
    agents.error = exception.CoordinationError(backend='redis://x',
                                               action='list members',
                                               reason='refused')
    # no heartbeat information: Nova alone decides, as without agents
    assert mon.check_once() == ['c2']
    assert 'Detection source heartbeat failed' in caplog.text


# -- the loop -----------------------------------------------------------------

def test_monitor_drives_a_real_recovery(conf, db, make_recoverer, clock):
    compute = cluster(n=4, down=['c3'])
    compute.add_instance('i1', host='c3')
    compute.add_instance('i2', host='c1')
    rec = make_recoverer(compute=compute)
    db.add_host(inventory.HostSpec(name='c3'))   # only inventory hosts
    mon = monitor.Monitor(conf, rec, sources=[nova.NovaSource(
        conf, compute=compute, clock=clock)], bmc=fakes.FakeBMC())
    [report] = mon.check_once()
    assert report.host == 'c3'
    assert report.state == db_api.COMPLETED, report.error
    assert [c[1] for c in compute.calls_of('evacuate')] == ['i1']
    assert compute.services['c3']['status'] == 'disabled'
    rec_row = db.get_recovery(report.id)
    assert rec_row.detected_at == monitor._utc(clock.now)
    types = [e.event_type for e in db.list_events(recovery_id=report.id)]
    assert types[0] == events.HOST_FAILURE_DETECTED
    # next poll: c3 is disabled and forced down, nothing more to do
    assert mon.check_once() == []
    assert len(db.list_recoveries()) == 1


class CountingStop(threading.Event):
    """Set after ``polls`` waits; records the delays asked for."""

    def __init__(self, polls):
        super().__init__()
        self.polls = polls
        self.delays = []

    def wait(self, timeout=None):
        self.delays.append(timeout)
        if len(self.delays) >= self.polls:
            self.set()
        return self.is_set()


def test_run_resumes_then_polls_until_stopped(watch, conf):
    resumed = []
    mon, stub = watch(cluster(down=['c2']))
    stub.resume_all = lambda: resumed.append(True) or []
    stop = CountingStop(2)
    mon.run(stop)
    assert resumed == [True]
    assert stub.recovered == ['c2', 'c2']   # stub leaves the host failed
    assert stop.delays == [conf.monitor.poll_interval] * 2


def test_run_survives_source_errors(watch):
    compute = cluster(down=['c2'])
    compute.fail['list_services'] = exception.NovaUnavailable(reason='x')
    mon, stub = watch(compute)
    mon.run(CountingStop(2))
    assert len(compute.calls_of('list_services')) == 2
    assert stub.calls == []


def test_run_survives_database_errors(watch, monkeypatch):
    mon, stub = watch(cluster(down=['c2']))

    def broken(*args, **kwargs):
        raise exception.DatabaseError(reason='locked')

    monkeypatch.setattr(mon.db, 'find_host', broken)
    mon.run(CountingStop(2))
    assert stub.calls == []


def test_nova_source_states():
    compute = cluster(n=4, down=['c2', 'c3', 'c4'])
    compute.services['c3']['forced_down'] = True
    compute.services['c4']['status'] = 'disabled'
    clock = fakes.Clock()
    source = nova.NovaSource(None, compute=compute, clock=clock)
    seen = source.observe()
    assert {h: o.state for h, o in seen.items()} == {
        'c1': base.UP, 'c2': base.DOWN, 'c3': base.HANDLED,
        'c4': base.HANDLED}
    clock.advance(3)
    assert source.observe()['c2'].since == seen['c2'].since
    compute.services['c2']['state'] = 'up'
    source.observe()
    compute.services['c2']['state'] = 'down'
    assert source.observe()['c2'].since == clock.now


def test_clock_times_are_recorded_as_naive_utc():
    assert monitor._utc(0) == datetime.datetime(1970, 1, 1)
