"""Prometheus metrics: each is moved by what vmha records (vmha.metrics).

Counters are process-wide, so every test reads the change it caused
(``Delta``) rather than an absolute value.
"""

import datetime
import pathlib
import re
import socket
import urllib.request

import pytest

from vmha import agent as agent_mod
from vmha.db import api as db_api
from vmha.detection import base
from vmha.detection import decision
from vmha.detection import heartbeat
from vmha.detection import nova
from vmha import events
from vmha import exception
from vmha import fencing
from vmha import metrics
from vmha import monitor
from vmha import notifier
from tests.unit.conftest import HOST
from tests.unit.conftest import make_conf
from tests.unit import fakes
from tests.unit import test_monitor


def value(name, **labels):
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """How much samples moved since this object was made."""

    def __init__(self, *samples):
        self._before = {sample: value(sample[0], **dict(sample[1:]))
                        for sample in samples}

    def __getitem__(self, sample):
        return value(sample[0], **dict(sample[1:])) - self._before[sample]


def sample(name, **labels):
    return (name,) + tuple(sorted(labels.items()))


# -- events, as the notifier records them -------------------------------------

class BrokenNotifier:
    def notify(self, event):
        raise RuntimeError('receiver gone')

    def close(self):
        pass


def test_evacuation_outcomes_and_notification_failures_come_from_events():
    evacuated = sample('vmha_evacuations_total', outcome='evacuated')
    waiting = sample('vmha_evacuations_total', outcome='waiting')
    failures = sample('vmha_notification_failures_total', driver='broken')
    sent = sample('vmha_notifications_sent_total', driver='list')
    typed = sample('vmha_events_total', event_type=events.INSTANCE_EVACUATED)
    delta = Delta(evacuated, waiting, failures, sent, typed)
    recorded = []
    dispatcher = notifier.Dispatcher(
        {'broken': BrokenNotifier(), 'list': fakes.ListNotifier()},
        record=recorded.append)
    try:
        for event_type in (events.INSTANCE_EVACUATED,
                           events.INSTANCE_EVACUATED,
                           events.INSTANCE_EVACUATE_WAITING):
            dispatcher.emit(events.Event(event_type, host=HOST))
        assert dispatcher.flush(5)
    finally:
        dispatcher.close(5)
    assert delta[evacuated] == 2
    assert delta[waiting] == 1
    assert delta[typed] == 2
    assert delta[sent] == 3
    # one per undelivered event, as the event log records them
    assert delta[failures] == 3
    assert [e.event_type for e in recorded].count(
        events.NOTIFICATION_FAILED) == 3


def test_a_metric_that_cannot_be_updated_never_breaks_the_caller(
        monkeypatch):
    def broken(**labels):
        raise ValueError('bad label')

    monkeypatch.setattr(metrics.EVENTS, 'labels', broken)
    metrics.event_recorded(events.Event(events.RECOVERY_STARTED, host=HOST))


# -- recoveries: outcome by level, phases from the recorded timestamps --------

def test_a_recovery_counts_its_outcome_and_observes_its_phases(
        make_recoverer, compute, db):
    compute.add_instance('i1')
    phases = ('detection', 'fencing', 'service_down', 'first_evacuation',
              'last_confirmed', 'total')
    counts = {phase: sample('vmha_recovery_phase_seconds_count', phase=phase)
              for phase in phases}
    done = sample('vmha_recoveries_total', level='2', outcome='completed')
    evacuated = sample('vmha_evacuations_total', outcome='evacuated')
    power_off = sample('vmha_bmc_call_seconds_count', driver='fake',
                       operation='power off', outcome='ok')
    fast = sample('vmha_recovery_phase_seconds_bucket', phase='detection',
                  le='3.0')
    slow = sample('vmha_recovery_phase_seconds_bucket', phase='detection',
                  le='5.0')
    delta = Delta(done, evacuated, power_off, fast, slow, *counts.values())
    detected = db_api.utcnow() - datetime.timedelta(seconds=4)
    recoverer = make_recoverer(
        dispatcher=notifier.Dispatcher({}, record=db.add_event))
    report = recoverer.recover(HOST, level=2, detected_at=detected)
    assert report.state == db_api.COMPLETED
    assert delta[done] == 1
    assert delta[evacuated] == 1
    assert delta[power_off] == 1
    assert {phase: delta[counts[phase]] for phase in phases} == dict.fromkeys(
        phases, 1)
    # the detection phase is what was recorded: about 4 s
    assert (delta[fast], delta[slow]) == (0, 1)


def test_a_failed_recovery_counts_as_failed_without_later_phases(
        make_recoverer, driver):
    driver.stays_on = True
    failed = sample('vmha_recoveries_total', level='2', outcome='failed')
    fencing_phase = sample('vmha_recovery_phase_seconds_count',
                           phase='fencing')
    delta = Delta(failed, fencing_phase)
    report = make_recoverer().recover(HOST, level=2)
    assert report.state == db_api.FAILED
    assert delta[failed] == 1
    assert delta[fencing_phase] == 0


def test_a_finished_recovery_run_again_is_not_counted_twice(make_recoverer):
    recoverer = make_recoverer()
    report = recoverer.recover(HOST, level=2)
    done = sample('vmha_recoveries_total', level='2', outcome='completed')
    delta = Delta(done)
    recoverer.run(report.id)
    assert delta[done] == 0


def epoch_marks(**seconds):
    marks = dict.fromkeys(db_api.PHASES)
    marks.update(seconds)
    return marks


def test_phase_seconds_level_2():
    marks = epoch_marks(detected_at=100.0, started_at=104.0, fenced_at=110.0,
                        service_down_at=111.0, first_evacuation_at=112.0,
                        last_confirmed_at=130.0, finished_at=131.0)
    assert metrics.phase_seconds(marks) == {
        'detection': 4.0, 'fencing': 6.0, 'service_down': 1.0,
        'first_evacuation': 12.0, 'last_confirmed': 30.0, 'total': 31.0}


def test_phase_seconds_level_1_service_down_counts_from_the_declaration():
    """Level 1 forces down first and fences only if that fails: the
    service-down phase is measured from the declaration."""
    marks = epoch_marks(detected_at=100.0, started_at=103.0,
                        service_down_at=104.0, fenced_at=109.0)
    assert metrics.phase_seconds(marks)['service_down'] == 1.0
    del marks['fenced_at']
    assert metrics.phase_seconds(marks)['service_down'] == 1.0
    assert 'last_confirmed' not in metrics.phase_seconds(marks)


def test_a_recovery_that_is_not_final_is_left_to_whoever_finishes_it():
    class Report:
        state = db_api.RUNNING
        level = 2
        phases = {}

    running = sample('vmha_recoveries_total', level='2', outcome='running')
    delta = Delta(running)
    metrics.recovery_finished(Report())
    assert delta[running] == 0


# -- the monitor: hosts by state, heartbeats lost, declarations ---------------

def view(name, heartbeat_state=None, service_state=None):
    return decision.HostView(
        name,
        heartbeat=base.Observation(heartbeat_state) if heartbeat_state
        else None,
        service=base.Observation(service_state) if service_state else None)


def test_hosts_by_state_from_one_poll():
    views = {v.name: v for v in (
        view('m-ok', base.ALIVE, base.UP),
        view('m-lost', base.LOST, base.UP),
        view('m-dead', base.LOST, base.STALE),
        view('m-suspect', base.MISSING, base.STALE),
        view('m-handled', None, base.HANDLED),
        view('m-blind'))}
    verdicts = {host: verdict for host, verdict in (
        (host, decision.judge(v)) for host, v in views.items()) if verdict}
    metrics.poll_observed(views, verdicts, now=1234.5)
    assert {state: value('vmha_hosts', state=state)
            for state in metrics.HOST_STATES} == {
        'ok': 1, 'agent_lost': 1, 'failed': 1, 'suspect': 1, 'handled': 1,
        'unknown': 1}
    assert value('vmha_host_signals', signal='heartbeat', state='lost') == 2
    assert value('vmha_host_signals', signal='service',
                 state='unknown') == 1
    assert value('vmha_monitor_last_poll_timestamp_seconds') == 1234.5


def test_a_lost_heartbeat_counts_once_until_it_comes_back():
    lost = sample('vmha_heartbeats_lost_total')
    delta = Delta(lost)
    for state in (base.ALIVE, base.MISSING, base.LOST, base.LOST, base.ALIVE,
                  base.LOST):
        metrics.poll_observed({'hb-1': view('hb-1', state, base.UP)}, {})
    metrics.poll_observed({}, {})      # not reported: keeps its state
    metrics.poll_observed({'hb-1': view('hb-1', base.LOST, base.UP)}, {})
    assert delta[lost] == 2


@pytest.mark.parametrize('rule, states', [
    (decision.RULE_TWO_SIGNALS, (base.LOST, base.STALE)),
    (decision.RULE_NOVA_DOWN, (None, base.DOWN)),
])
def test_every_failed_verdict_names_its_rule(rule, states):
    assert decision.judge(view('h', *states)).rule == rule


def test_heartbeat_only_rule():
    verdict = decision.judge(view('h', base.LOST), nova_configured=False)
    assert verdict.rule == decision.RULE_HEARTBEAT_ONLY


def test_the_monitor_counts_declarations_by_rule_and_polls(
        conf, db, dispatcher):
    compute = test_monitor.cluster(down=['c2'])
    clock = fakes.Clock()
    stub = test_monitor.StubRecoverer(compute, db, dispatcher)
    mon = monitor.Monitor(
        conf, stub, clock=clock, sources=[
            nova.NovaSource(conf, compute=compute, clock=clock),
            heartbeat.HeartbeatSource(
                conf, membership=fakes.FakeMembership(['c1', 'c3', 'c4']),
                clock=clock)])
    declared = sample('vmha_host_declarations_total',
                      rule=decision.RULE_NOVA_DOWN)
    polls = sample('vmha_monitor_polls_total')
    delta = Delta(declared, polls)
    assert mon.check_once() == ['c2']
    assert delta[declared] == 1
    assert delta[polls] == 1
    assert value('vmha_hosts', state='ok') == 3


# -- remote calls -------------------------------------------------------------

def test_nova_calls_are_timed_with_their_outcome():
    @metrics.nova_call
    def get_instance(instance_id):
        if instance_id == 'gone':
            raise exception.InstanceNotFound(instance=instance_id)
        return instance_id

    ok = sample('vmha_nova_call_seconds_count', call='get_instance',
                outcome='ok')
    error = sample('vmha_nova_call_seconds_count', call='get_instance',
                   outcome='error')
    delta = Delta(ok, error)
    assert get_instance('i1') == 'i1'
    with pytest.raises(exception.InstanceNotFound):
        get_instance('gone')
    assert (delta[ok], delta[error]) == (1, 1)


def test_every_nova_request_of_computeapi_is_timed():
    from vmha import compute
    timed = {name for name, attr in vars(compute.ComputeAPI).items()
             if hasattr(attr, '__wrapped__')}
    assert {'evacuate', 'force_down', 'list_services', 'get_instance',
            'list_instances', 'disable', 'enable', '_negotiate'} <= timed


def test_a_bmc_timeout_is_timed_as_an_error(host_spec):
    class Hanging(fakes.FakeFencingDriver):
        def get_power_state(self, host):
            import time
            time.sleep(1)

    error = sample('vmha_bmc_call_seconds_count', driver='fake',
                   operation='power status', outcome='error')
    delta = Delta(error)
    fencer = fencing.Fencer(Hanging(), 1, 0, 0.05)
    with pytest.raises(exception.BMCTimeout):
        fencer.power_state(host_spec)
    assert delta[error] == 1


# -- vmha-agent ---------------------------------------------------------------

def test_agent_heartbeats_by_outcome(tmp_path):
    conf = make_conf(state_path=str(tmp_path), agent__host='c1',
                     coordination__heartbeat_interval=0.2,
                     coordination__heartbeat_timeout=2.0)
    membership = fakes.FakeMembership()
    membership.heartbeat = lambda: None
    membership.is_member = lambda host: True
    membership.join = lambda host, caps: None
    ok = sample('vmha_agent_heartbeats_total', outcome='ok')
    error = sample('vmha_agent_heartbeats_total', outcome='error')
    delta = Delta(ok, error)
    heart = agent_mod.Agent(conf, connect=lambda conf, host: membership)
    heart.beat()

    def unreachable():
        raise exception.CoordinationError(reason='backend down')
    membership.heartbeat = unreachable
    heart.beat()
    assert (delta[ok], delta[error]) == (1, 1)
    assert value('vmha_agent_last_heartbeat_timestamp_seconds') > 0


# -- the endpoint -------------------------------------------------------------

def scrape(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                                timeout=5) as answer:
        return answer.read().decode()


def test_the_endpoint_serves_the_registry_and_stops():
    conf = make_conf(metrics__enabled=True, metrics__port=0)
    with metrics.serving(conf, 'monitor') as endpoint:
        text = scrape(endpoint.port)
        assert '# TYPE vmha_recovery_phase_seconds histogram' in text
        assert '# TYPE vmha_hosts gauge' in text
        assert 'process_cpu_seconds_total' in text
    with pytest.raises(OSError):
        scrape(endpoint.port)


def test_the_endpoint_is_off_unless_enabled():
    conf = make_conf(metrics__port=0, metrics__agent_port=0)
    for process in ('monitor', 'agent'):
        with metrics.serving(conf, process) as endpoint:
            assert endpoint is None


def test_a_port_in_use_is_logged_and_vmha_goes_on(caplog):
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    try:
        conf = make_conf(metrics__agent_enabled=True,
                         metrics__agent_port=taken.getsockname()[1])
        with metrics.serving(conf, 'agent') as endpoint:
            assert endpoint is None
    finally:
        taken.close()
    assert 'going on without them' in caplog.text


# -- the documentation --------------------------------------------------------

def exposed_names():
    """Every metric family vmha.metrics defines, as Prometheus names it."""
    return {family.name + ('_total' if family.type == 'counter' else '')
            for family in metrics.REGISTRY.collect()
            if family.name.startswith('vmha_')}


def test_every_metric_is_documented():
    doc = (pathlib.Path(__file__).resolve().parents[2] / 'doc' / 'source'
           / 'reference' / 'metrics.rst').read_text()
    documented = set(re.findall(r'^``(vmha_\w+)`` \(', doc, re.M))
    assert exposed_names() == documented
