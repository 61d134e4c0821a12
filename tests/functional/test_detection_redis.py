"""Agents and monitor against a real Redis.

vmha-agent runs as real processes; the monitor runs in this process with its
real detection sources (loaded by stevedore) and a real Recoverer whose Nova
and BMC are fakes. The fake Nova's compute services write their record
(``updated_at``) at every poll, as live nova-computes do; a host *dies* when
its agent is killed AND its record freezes. Killing only the agent is the
case that must never cost a healthy host (issue 12).

Timing: heartbeat_interval 0.5 s, heartbeat_timeout 2 s, poll_interval
0.5 s, nova_report_interval 0.5 s + grace 0.5 s. A death must be declared
within max(heartbeat_timeout, report interval + grace + poll) + poll of the
kill (the rule's bound, vmha/detection/decision.py), plus ``SLACK`` for the
work of one poll on a busy machine.
"""

import signal
import time

import pytest

from vmha.db import api as db_api
from vmha.db import migration
from vmha import events
from vmha import exception
from vmha import inventory
from vmha import monitor as monitor_mod
from vmha import recovery
from vmha import repair
from tools.lab.access import agents as agentlib
from tests.unit.conftest import make_conf
from tests.unit import fakes

HB_INTERVAL = 0.5
HB_TIMEOUT = 2.0
POLL = 0.5
REPORT = 0.5
GRACE = 0.5
BOUND = max(HB_TIMEOUT, REPORT + GRACE + POLL) + POLL
SLACK = 1.0


@pytest.fixture
def redis_url():
    """The coordination backend: the machine's Redis (tests that restart
    it override this with the private one)."""
    return agentlib.REDIS_URL


@pytest.fixture
def sources():
    """[monitor] detection_sources (tests of other set-ups override it)."""
    return 'nova,heartbeat'


@pytest.fixture
def setup(tmp_path, redis_url, sources):
    """(conf, config file, db) for one test: own group, SQLite, fakes."""
    group = agentlib.unique('vmha-test')
    url = 'sqlite:///%s' % (tmp_path / 'vmha.sqlite')
    migration.upgrade(url)
    sections = {
        'DEFAULT': {'log_file': tmp_path / 'vmha.log'},
        'database': {'connection': url},
        'coordination': {'backend_url': redis_url,
                         'group_name': group,
                         'heartbeat_interval': HB_INTERVAL,
                         'heartbeat_timeout': HB_TIMEOUT},
        'monitor': {'poll_interval': POLL,
                    'nova_report_interval': REPORT,
                    'nova_report_grace': GRACE,
                    'detection_sources': sources},
        'fencing': {'default_driver': 'noop',
                    'power_off_confirm_interval': 0},
        'evacuation': {'confirm_interval': 0.1},
        'notification': {'drivers': ''},
    }
    config = agentlib.write_config(tmp_path / 'vmha.conf', sections)
    conf = make_conf()
    conf(['--config-file', config], default_config_files=[])
    db = db_api.Database(url)
    yield conf, config, db
    db.dispose()


class Cluster:
    """Agents, fake Nova and BMCs, a real Recoverer and a monitor thread."""

    def __init__(self, tmp_path, setup, count):
        conf, config, db = setup
        self.conf, self.db = conf, db
        token = agentlib.unique('h')
        self.hosts = ['%s-%d' % (token, i) for i in range(1, count + 1)]
        self.compute = fakes.FakeCompute(hosts=self.hosts)
        self.fencing = fakes.FakeFencingDriver()
        for host in self.hosts:
            self.compute.add_instance('vm-' + host, host=host)
            db.add_host(inventory.HostSpec(name=host, fencing_driver='noop',
                                           bmc_address='192.0.2.1'))
        self.dispatcher = fakes.RecordingDispatcher(record=db.add_event)
        self.recoverer = recovery.Recoverer(
            conf, compute=self.compute, db=db, dispatcher=self.dispatcher,
            fencing_driver=self.fencing, owner='test')
        self.agents = agentlib.Agents(tmp_path, config, conf)
        self.monitor = None

    def start(self):
        self.agents.start(*self.hosts)
        mon = monitor_mod.Monitor(self.conf, self.recoverer)
        self.monitor = agentlib.MonitorThread(mon).start()
        self.monitor.wait_checks(time.time())
        return self

    def events_of(self, event_type, host):
        return [e for e in self.dispatcher.of_type(event_type)
                if e.host == host]

    def detected(self, host):
        return [e for e in self.dispatcher.of_type(
            events.HOST_FAILURE_DETECTED) if e.host == host]

    def recoveries(self, host=None):
        """Oldest first."""
        return self.db.list_recoveries(host=host)[::-1]

    def close(self):
        if self.monitor:
            self.monitor.close()
        self.agents.close()
        self.recoverer.close()


@pytest.fixture
def cluster(tmp_path, setup):
    made = []

    def make(count=4):
        made.append(Cluster(tmp_path, setup, count).start())
        return made[-1]

    yield make
    for item in made:
        item.close()


def _fail_and_measure(cl, host, signum):
    """Kill ``host``: signal its agent and freeze its nova-compute record;
    return seconds to declaration after waiting for the recovery to end."""
    before = len(cl.detected(host))
    killed = time.time()
    cl.agents.procs[host].signal(signum)
    cl.compute.services[host]['frozen'] = True
    event = agentlib.wait_for(lambda: cl.detected(host)[before:], 30,
                              what='failure of %s declared' % host)[0]
    elapsed = event.timestamp.timestamp() - killed
    print('%s: declared failed %.2fs after signal %d (bound %.1fs)'
          % (host, elapsed, signum, BOUND))
    rec = agentlib.wait_for(
        lambda: [r for r in cl.recoveries(host)
                 if r.state in db_api.FINAL_STATES][before:], 60,
        what='recovery of %s finished' % host)[0]
    assert rec.state == db_api.COMPLETED, rec.error
    return elapsed, rec


def _assert_recovered_once(cl, host, rec, elapsed):
    assert elapsed <= BOUND + SLACK, elapsed
    # the heartbeat was gone for heartbeat_timeout before it was declared
    assert elapsed >= HB_TIMEOUT - HB_INTERVAL, elapsed
    assert cl.detected(host)[0].payload['source'].startswith(
        'agent heartbeat lost and nova-compute stopped reporting')
    assert rec.host_stopped is True
    # later polls start nothing more
    cl.monitor.wait_checks(time.time() + HB_TIMEOUT + POLL)
    assert [r.host for r in cl.recoveries()] == [host]
    assert len(cl.detected(host)) == 1
    assert [c[1] for c in cl.compute.calls_of('evacuate')] == ['vm-' + host]


def test_a_dead_host_is_declared_and_recovered_once(cluster):
    cl = cluster()
    host = cl.hosts[1]
    elapsed, rec = _fail_and_measure(cl, host, signal.SIGKILL)
    _assert_recovered_once(cl, host, rec, elapsed)


def test_a_hung_host_is_declared_and_its_agent_rejoins_on_sigcont(cluster):
    cl = cluster()
    host = cl.hosts[2]
    elapsed, rec = _fail_and_measure(cl, host, signal.SIGSTOP)
    _assert_recovered_once(cl, host, rec, elapsed)
    cl.agents.procs[host].signal(signal.SIGCONT)
    cl.agents.wait_members(lambda m: host in m, what='%s back' % host)


@pytest.mark.parametrize('signum', [signal.SIGKILL, signal.SIGSTOP])
def test_a_lost_agent_on_a_live_host_costs_nothing(cluster, signum):
    """Issue 12: the old rule powered such a host off ~30 s later."""
    cl = cluster()
    host = cl.hosts[0]
    cl.agents.procs[host].signal(signum)
    agentlib.wait_for(lambda: cl.events_of(events.AGENT_LOST, host), 30,
                      what='agent of %s reported lost' % host)
    # well past every bound: still nothing done to the host
    cl.monitor.wait_checks(time.time() + 2 * BOUND)
    assert cl.recoveries() == [] and cl.detected(host) == []
    assert cl.fencing.calls == []
    assert not cl.compute.calls_of('force_down')
    assert not cl.compute.calls_of('evacuate')
    assert len(cl.events_of(events.AGENT_LOST, host)) == 1
    assert cl.db.host_agents()[host] == 'lost'
    if signum == signal.SIGSTOP:
        cl.agents.procs[host].signal(signal.SIGCONT)
    else:
        cl.agents.start(host)
    agentlib.wait_for(lambda: cl.events_of(events.AGENT_RECOVERED, host),
                      30, what='agent of %s back' % host)
    assert cl.db.host_agents()[host] == 'alive'


class TestBackendRestart:
    """The coordination backend restarted under running agents (it keeps
    nothing: every membership is gone at once) fences no host."""

    @pytest.fixture
    def redis_url(self, redis_server):
        return redis_server.url

    def test_no_host_is_fenced(self, cluster, redis_server):
        cl = cluster(3)
        redis_server.restart()
        cl.agents.wait_members(lambda m: set(cl.hosts) <= m, timeout=60,
                               what='agents joined again')
        cl.monitor.wait_checks(time.time() + 2 * BOUND)
        assert cl.recoveries() == []
        assert cl.fencing.calls == []
        assert not cl.compute.calls_of('force_down')


def test_sigterm_is_a_planned_stop(cluster):
    cl = cluster()
    host = cl.hosts[0]
    proc = cl.agents.procs[host]
    proc.signal(signal.SIGTERM)
    assert proc.proc.wait(10) == 0
    stopped = time.time()
    # the agent left at once: no waiting for an expiry
    assert host not in cl.agents.members()
    assert cl.agents.membership.left() == {host}
    cl.monitor.wait_checks(stopped + HB_TIMEOUT + 2 * POLL)
    assert cl.recoveries() == []
    assert cl.detected(host) == []


def test_restarted_agent_makes_the_host_healthy_again(cluster):
    cl = cluster(3)
    host = cl.hosts[0]
    _fail_and_measure(cl, host, signal.SIGKILL)
    cl.compute.services[host]['frozen'] = False
    fixer = repair.HostRepair(cl.conf, cl.compute, cl.db, cl.dispatcher,
                              cl.agents.membership)
    with pytest.raises(repair.exception.HostStillFailing,
                       match='no vmha-agent heartbeat'):
        fixer.run(host)
    cl.agents.start(host)                       # the repaired host boots
    report = fixer.run(host)
    assert (report.state, report.heartbeat) == ('healthy', 'alive')
    svc = cl.compute.services[host]
    assert (svc['forced_down'], svc['status']) == (False, 'enabled')
    assert cl.dispatcher.of_type(events.HOST_RECOVERED)[0].host == host
    # healthy again in the monitor's eyes: nothing more is recovered
    cl.monitor.wait_checks(time.time() + HB_TIMEOUT + POLL)
    assert len(cl.recoveries(host)) == 1
    # ... and a new failure is a new recovery
    elapsed, rec = _fail_and_measure(cl, host, signal.SIGKILL)
    assert elapsed <= HB_TIMEOUT + POLL + SLACK, elapsed
    assert len(cl.recoveries(host)) == 2


def test_mass_failure_alerts_once_and_evacuates_nothing(cluster):
    cl = cluster(5)
    victims = cl.hosts[:4]
    killed = time.time()
    for host in victims:
        cl.agents.procs[host].signal(signal.SIGKILL)
        cl.compute.services[host]['frozen'] = True
    [alert] = agentlib.wait_for(
        lambda: cl.dispatcher.of_type(events.MASS_FAILURE), 30,
        what='mass-failure alert')
    assert sorted(alert.host.split(',')) == sorted(victims)
    assert alert.payload == {'down': 4, 'total': 5}
    print('mass-failure alert %.2fs after the kills'
          % (alert.timestamp.timestamp() - killed))
    cl.monitor.wait_checks(time.time() + HB_TIMEOUT + 2 * POLL)
    assert cl.recoveries() == []
    assert cl.compute.calls_of('evacuate') == []
    assert cl.compute.calls_of('force_down') == []
    assert len(cl.dispatcher.of_type(events.MASS_FAILURE)) == 1


def test_a_recovered_host_is_not_recovered_again_while_nova_is_away(cluster):
    """Issue 14: with Nova unreachable for a poll, the old monitor started
    a new recovery of the same dead host on every poll."""
    cl = cluster(3)
    host = cl.hosts[1]
    _fail_and_measure(cl, host, signal.SIGKILL)
    cl.compute.fail['list_services'] = exception.NovaUnavailable(
        reason='nova-api is down')
    cl.monitor.wait_checks(time.time() + 3 * BOUND)
    assert len(cl.recoveries(host)) == 1
    assert [c[1] for c in cl.compute.calls_of('evacuate')] == ['vm-' + host]


def test_a_host_an_operator_disabled_is_recovered_when_it_dies(cluster):
    """Issue 14: a host drained by an operator (disabled, instances still
    there) that then died was never recovered."""
    cl = cluster(3)
    host = cl.hosts[2]
    cl.compute.services[host].update(status='disabled',
                                     disabled_reason='draining for '
                                                     'maintenance')
    _elapsed, rec = _fail_and_measure(cl, host, signal.SIGKILL)
    assert rec.state == db_api.COMPLETED
    assert [c[1] for c in cl.compute.calls_of('evacuate')] == ['vm-' + host]


class TestHeartbeatOnly:
    """``detection_sources = heartbeat`` (not recommended: one signal)."""

    @pytest.fixture
    def sources(self):
        return 'heartbeat'

    def test_a_dead_host_is_recovered_once(self, cluster):
        """Issue 14: one powered-off host was recovered 14 times in 40 s."""
        cl = cluster(3)
        host = cl.hosts[0]
        before = time.time()
        cl.agents.procs[host].signal(signal.SIGKILL)
        rec = agentlib.wait_for(
            lambda: [r for r in cl.recoveries(host)
                     if r.state in db_api.FINAL_STATES], 60,
            what='recovery of %s' % host)[0]
        assert rec.state == db_api.COMPLETED, rec.error
        assert rec.host_stopped is False
        assert 'no Nova source' in cl.detected(host)[0].payload['source']
        cl.monitor.wait_checks(time.time() + 3 * BOUND)
        assert len(cl.recoveries(host)) == 1
        assert cl.fencing.calls.count('off') == 1     # fenced once
        print('heartbeat only: recovered %.1fs after the kill' % (
            time.time() - before))
