"""Monitor: who is recovered, when, and the mass-failure guard."""

import datetime
import threading

import pytest

from vmha.db import api as db_api
from vmha.detection import base
from vmha.detection import decision
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

    def recover(self, host, level=None, detected_at=None, detected_by=None,
                host_stopped=False, watchdog=None):
        self.calls.append({'host': host, 'level': level,
                           'detected_at': detected_at,
                           'detected_by': detected_by,
                           'host_stopped': host_stopped,
                           'watchdog': watchdog})
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
def watch(conf, db, dispatcher, clock):
    """make(compute, membership=None, **stub) -> (Monitor, StubRecoverer);
    with ``membership``, the heartbeat source runs too."""
    def make(compute, membership=None, **kwargs):
        stub = StubRecoverer(compute, db, dispatcher, **kwargs)
        sources = [nova.NovaSource(conf, compute=compute, clock=clock)]
        if membership is not None:
            sources.append(heartbeat.HeartbeatSource(
                conf, membership=membership, clock=clock))
        return monitor.Monitor(conf, stub, sources=sources,
                               clock=clock), stub
    return make


# -- Nova only ----------------------------------------------------------------

def test_down_enabled_service_is_recovered_once(watch, clock):
    mon, stub = watch(cluster(down=['c2']))
    assert mon.check_once() == ['c2']
    [call] = stub.calls
    assert call['level'] == 2
    assert call['detected_by'].startswith(
        'Nova reports the service down, no agent heartbeat (Nova reports it '
        'down')
    assert call['host_stopped'] is False
    assert call['detected_at'] == monitor._utc(clock.now)


def test_nothing_down_nothing_recovered(watch, dispatcher):
    mon, stub = watch(cluster())
    assert mon.check_once() == []
    assert stub.calls == [] and dispatcher.events == []


def test_every_poll_sends_what_a_killed_process_owed(watch, dispatcher,
                                                     monkeypatch):
    """The outbox (vmha.notifier): the monitor is the process that sends
    the notifications another one recorded and was killed before sending;
    the dispatcher itself bounds how often it looks."""
    looks = []
    monkeypatch.setattr(dispatcher, 'redeliver', lambda: looks.append(1))
    mon, _stub = watch(cluster(down=['c2']))
    mon.check_once()
    mon.check_once()
    assert looks == [1, 1]


def test_a_service_vmha_disabled_is_left_alone(watch, conf):
    compute = cluster(down=['c2'])
    compute.services['c2'].update(
        status='disabled', disabled_reason=conf.recovery.disabled_reason)
    mon, stub = watch(compute)
    mon.check_once()
    assert stub.calls == []


@pytest.mark.parametrize('reason', ['draining for maintenance',
                                    'AUTO: Connection to libvirt lost'])
def test_a_disable_vmha_did_not_make_is_no_veto(watch, reason):
    """Issue 14: a drained (or libvirt-disabled) host that dies is
    recovered; the old rule never recovered it."""
    compute = cluster(down=['c2'])
    compute.services['c2'].update(status='disabled', disabled_reason=reason)
    mon, stub = watch(compute)
    assert mon.check_once() == ['c2']


def test_an_operators_force_down_is_judged_by_the_hosts_reports(
        watch, clock, conf):
    """Forced down by someone else, the host is failed only once its
    nova-compute also stopped reporting."""
    compute = cluster()
    compute.services['c2']['forced_down'] = True
    compute.services['c2']['state'] = 'down'
    mon, stub = watch(compute)
    for _ in range(3):
        clock.advance(conf.monitor.nova_report_interval)
        assert mon.check_once() == []          # still reporting: alive
    compute.services['c2']['frozen'] = True
    mon.check_once()
    clock.advance(conf.monitor.nova_report_interval
                  + conf.monitor.nova_report_grace + 0.1)
    assert mon.check_once() == ['c2']
    assert stub.calls[0]['detected_by'].startswith(
        'Nova reports the service down, no agent heartbeat (forced down')


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


@pytest.mark.parametrize('state', [db_api.COMPLETED,
                                   db_api.COMPLETED_WITH_ERRORS])
def test_a_recovered_host_stays_handled_until_it_is_put_back(watch, db,
                                                             state):
    """Issue 14: the old monitor recovered it again on the next poll
    (heartbeat-only detection, or Nova unreachable for one poll)."""
    db.add_host(inventory.HostSpec(name='c2'))
    _finished(db, 'r1', 'c2', state, seconds_ago=3600)
    db.update_host_state('c2', 'evacuated')
    mon, stub = watch(cluster(down=['c2']))
    for _ in range(3):
        assert mon.check_once() == []
    db.update_host_state('c2', 'healthy')     # vmha-manage host recover
    assert mon.check_once() == ['c2']


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
    db.add_host(inventory.HostSpec(name='c3', maintenance=True))
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


def _stop_reporting(mon, clock, compute, *hosts):
    """Freeze the hosts' nova-compute records and let them turn stale."""
    for host in hosts:
        compute.services[host]['frozen'] = True
    mon.check_once()
    clock.advance(mon.sources[0].stale_after + 0.1)


def test_a_lost_agent_on_a_live_host_is_only_notified(watch, agents, clock,
                                                      dispatcher, db):
    """Issue 12: SIGKILL of the agent alone powered the host off."""
    db.add_host(inventory.HostSpec(name='c2'))
    mon, stub = watch(cluster(), agents)
    mon.check_once()
    _expire(mon, clock, agents, 'c2')
    for _ in range(4):
        assert mon.check_once() == []
        clock.advance(5)
    assert stub.calls == []
    [lost] = dispatcher.of_type(events.AGENT_LOST)
    assert lost.host == 'c2' and lost.priority == events.WARNING
    assert 'nova-compute still reports' in lost.payload['reason']
    assert db.host_agents()['c2'] == monitor.AGENT_LOST
    agents.current.add('c2')
    mon.check_once()
    [back] = dispatcher.of_type(events.AGENT_RECOVERED)
    assert back.host == 'c2'
    assert db.host_agents()['c2'] == monitor.AGENT_ALIVE


def test_thousands_of_quiet_members_cost_no_judging_and_a_failure_is_seen(
        watch, clock, monkeypatch):
    """Issue 16 (10,000 members): while agents heartbeat, no host is
    judged and every quiet member keeps its view (c1-c4's Nova
    observations change every poll: how long since the last report); one
    that fails among them is declared as among four."""
    members = ['c1', 'c2', 'c3', 'c4'] + ['m%04d' % i for i in range(2000)]
    agents = fakes.FakeMembership(members=members)
    compute = cluster()
    mon, stub = watch(compute, agents)
    mon.check_once()
    before = dict(mon._views)
    judged = []
    judge = decision.judge
    monkeypatch.setattr(decision, 'judge', lambda view, *args: (
        judged.append(view.name) or judge(view, *args)))
    assert mon.check_once() == []
    assert judged == []
    assert all(mon._views[h] is before[h] for h in members[4:])
    agents.current.discard('c2')
    _stop_reporting(mon, clock, compute, 'c2')
    assert mon.check_once() == ['c2']
    assert set(judged) == {'c2'}


def test_a_restarted_monitor_remembers_a_lost_agent(watch, agents, db,
                                                    dispatcher):
    db.add_host(inventory.HostSpec(name='c2'))
    db.update_host_agent('c2', monitor.AGENT_LOST)
    mon, stub = watch(cluster(), agents)
    mon.check_once()
    assert len(dispatcher.of_type(events.AGENT_RECOVERED)) == 1
    assert db.host_agents()['c2'] == monitor.AGENT_ALIVE


def test_lost_heartbeat_and_silent_nova_compute_is_a_failure(
        watch, agents, clock):
    compute = cluster()
    mon, stub = watch(compute, agents)
    mon.check_once()
    first_seen = clock.now
    agents.current.discard('c2')
    _stop_reporting(mon, clock, compute, 'c2')
    assert mon.check_once() == ['c2']
    [call] = stub.calls
    assert call['host_stopped'] is True
    assert call['detected_by'].startswith(
        'agent heartbeat lost and nova-compute stopped reporting')
    assert call['detected_at'] == monitor._utc(first_seen)


def test_a_silent_nova_compute_with_a_live_agent_is_no_failure(
        watch, agents, clock):
    compute = cluster()
    mon, stub = watch(compute, agents)
    _stop_reporting(mon, clock, compute, 'c2')
    for _ in range(3):
        assert mon.check_once() == []
        clock.advance(5)


def test_live_heartbeat_vetoes_nova_down(watch, agents):
    mon, stub = watch(cluster(down=['c2']), agents)
    for _ in range(2):
        assert mon.check_once() == []
    assert stub.calls == []


def test_planned_stop_is_not_a_failure(watch, agents, clock):
    compute = cluster()
    mon, stub = watch(compute, agents)
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
    agents.current.discard('c2')
    _stop_reporting(mon, clock, compute, 'c2')
    assert mon.check_once() == ['c2']


def test_recovered_host_is_not_recovered_twice(watch, agents, clock,
                                               make_recoverer, conf, db):
    """After its recovery the host is handled until it is put back."""
    db.add_host(inventory.HostSpec(name='c2'))
    compute = cluster()
    compute.add_instance('i1', host='c2')
    rec = make_recoverer(compute=compute)
    sources = [nova.NovaSource(conf, compute=compute, clock=clock),
               heartbeat.HeartbeatSource(conf, membership=agents,
                                         clock=clock)]
    mon = monitor.Monitor(conf, rec, sources=sources, clock=clock)
    mon.check_once()
    agents.current.discard('c2')
    _stop_reporting(mon, clock, compute, 'c2')
    [report] = mon.check_once()
    assert report.state == db_api.COMPLETED, report.error
    for _ in range(3):
        clock.advance(1)
        assert mon.check_once() == []
    assert len(rec.db.list_recoveries(host='c2')) == 1


def test_agents_dying_together_trip_the_guard(watch, agents, clock,
                                              dispatcher):
    compute = cluster()
    mon, stub = watch(compute, agents)
    mon.check_once()
    agents.current -= {'c1', 'c2', 'c3'}
    _stop_reporting(mon, clock, compute, 'c1', 'c2', 'c3')
    clock.advance(mon.sources[1].settle)
    assert mon.check_once() == []
    assert stub.calls == []
    [alert] = dispatcher.of_type(events.MASS_FAILURE)
    assert alert.host == 'c1,c2,c3'


def test_a_slow_source_cannot_turn_into_a_burst_of_recoveries(
        watch, agents, clock, conf, dispatcher):
    """Issue 12: with the coordination backend blocking for 62 s, five
    hosts Nova reported down were all declared, "first seen 62.8 s ago",
    outside the window: the guard never fired. The guard counts what is
    declared now, however old the signals are."""
    conf.set_override('mass_failure_window', 60, 'monitor')
    compute = cluster(n=5)
    mon, stub = watch(compute, agents)
    agents.error = exception.CoordinationError(
        backend='redis://127.0.0.1:1', action='list members',
        reason='refused')
    mon.check_once()
    for host in compute.services:
        compute.services[host]['state'] = 'down'
    mon.check_once()
    clock.advance(62.8)
    assert mon.check_once() == []
    assert stub.calls == []
    [alert] = dispatcher.of_type(events.MASS_FAILURE)
    assert alert.payload == {'down': 5, 'total': 5}


class HangingSource(base.DetectionSource):
    """A source whose backend accepts and never answers."""

    entry_point_name = 'hanging'
    signal = base.HEARTBEAT

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0

    def observe(self):
        self.calls += 1
        self.release.wait(30)
        return {}


def test_a_hanging_source_is_unknown_and_asked_once(conf, db, dispatcher,
                                                   clock, caplog):
    conf.set_override('source_timeout', 0.5, 'monitor')
    compute = cluster(down=['c2'])
    stub = StubRecoverer(compute, db, dispatcher)
    hanging = HangingSource()
    mon = monitor.Monitor(conf, stub, clock=clock, sources=[
        nova.NovaSource(conf, compute=compute, clock=clock), hanging])
    try:
        # Nova still answers: the host without heartbeat evidence is
        # recovered on Nova's word, as without agents
        assert mon.check_once() == ['c2']
        mon.check_once()
        assert hanging.calls == 1        # not asked again while it hangs
        assert 'hanging has not answered' in caplog.text
    finally:
        hanging.release.set()


def test_next_delay_wakes_up_when_a_lost_agents_host_may_turn_stale(
        watch, agents, clock, conf):
    conf.set_override('poll_interval', 5, 'monitor')
    conf.set_override('nova_report_interval', 3, 'monitor')
    conf.set_override('nova_report_grace', 1, 'monitor')
    compute = cluster()
    mon, stub = watch(compute, agents)
    mon.check_once()
    assert mon.next_delay() == 5           # every agent alive: no hurry
    compute.services['c2']['frozen'] = True   # its last change: now
    clock.advance(1)
    agents.current.discard('c2')
    mon.check_once()
    clock.advance(mon.sources[1].settle)
    mon.check_once()                         # heartbeat lost, Nova up
    assert mon.verdicts(mon.observe())['c2'].kind == 'agent-lost'
    # the record turns stale 4 s after its last change: wake then, not at
    # the next poll 5 s away
    remaining = 4.0 - 1 - mon.sources[1].settle
    assert mon.next_delay() == pytest.approx(remaining
                                             + monitor._SETTLE_MARGIN)


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
                                                           caplog, db):
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
    db.add_host(inventory.HostSpec(name='c3'))
    rec = make_recoverer(compute=compute)
    mon = monitor.Monitor(conf, rec, sources=[nova.NovaSource(
        conf, compute=compute, clock=clock)])
    [report] = mon.check_once()
    assert report.host == 'c3'
    assert report.state == db_api.COMPLETED, report.error
    assert [c[1] for c in compute.calls_of('evacuate')] == ['i1']
    assert compute.services['c3']['status'] == 'disabled'
    rec_row = db.get_recovery(report.id)
    assert rec_row.detected_at == monitor._utc(clock.now)
    types = [e.event_type for e in db.list_events(recovery_id=report.id)]
    assert types[0] == events.HOST_FAILURE_DETECTED
    # next poll: vmha disabled c3 and holds it handled, nothing more to do
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


def test_nova_source_states(conf):
    conf.set_override('nova_report_interval', 3, 'monitor')
    conf.set_override('nova_report_grace', 1, 'monitor')
    compute = cluster(n=6, down=['c2'])
    compute.services['c3'].update(status='disabled',
                                  disabled_reason=conf.recovery.disabled_reason)
    compute.services['c4'].update(status='disabled',
                                  disabled_reason='draining')
    compute.services['c5'].update(forced_down=True, state='down')
    clock = fakes.Clock()
    source = nova.NovaSource(conf, compute=compute, clock=clock)
    seen = source.observe()
    assert {h: o.state for h, o in seen.items()} == {
        'c1': base.UP, 'c2': base.DOWN, 'c3': base.HANDLED,
        'c4': base.UP, 'c5': base.UP, 'c6': base.UP}
    compute.services['c6']['frozen'] = True
    compute.services['c5']['frozen'] = True
    clock.advance(4)
    # exactly interval + grace of silence is still up
    assert source.observe()['c6'].state == base.UP
    clock.advance(0.5)
    now = source.observe()
    assert now['c6'].state == base.STALE
    assert now['c6'].since == clock.now
    assert 'last report seen changing 4.5s ago' in now['c6'].detail
    assert now['c5'].state == base.DOWN
    assert now['c2'].since == seen['c2'].since
    assert now['c1'].state == base.UP
    # it reports again: up at once
    compute.services['c6']['frozen'] = False
    assert source.observe()['c6'].state == base.UP


def test_clock_times_are_recorded_as_naive_utc():
    assert monitor._utc(0) == datetime.datetime(1970, 1, 1)


def test_every_poll_lets_waiting_evacuations_retry(watch, db):
    """The capacity retries (vmha.capacity) are driven by the monitor's
    polls, and a database error there does not stop detection."""
    mon, stub = watch(cluster(down=['c2']))
    ticks = []

    class Scheduler:
        def tick(self):
            ticks.append(True)
            if len(ticks) == 2:
                raise exception.DatabaseError(reason='locked')

    mon.capacity = Scheduler()
    assert mon.check_once() == ['c2']
    mon.check_once()
    mon.check_once()
    assert len(ticks) == 3
