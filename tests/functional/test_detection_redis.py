"""Agents and monitor against the real Redis on 127.0.0.1:6379.

vmha-agent runs as real processes; the monitor runs in this process with its
real detection sources (loaded by stevedore) and a real Recoverer whose Nova
and BMC are fakes (every compute service "up", every BMC answering "on"), so
a lost heartbeat is corroborated by the BMC, as for a host that dies before
Nova notices.

Timing: heartbeat_interval 0.5 s, heartbeat_timeout 2 s, poll_interval
0.5 s. A failure must be declared within heartbeat_timeout + poll_interval
of the kill, plus ``SLACK`` for the work of one poll on a busy machine.
"""

import signal
import time

import pytest

from vmha.db import api as db_api
from vmha.db import migration
from vmha.detection import bmc as bmc_mod
from vmha import events
from vmha import inventory
from vmha import monitor as monitor_mod
from vmha import recovery
from vmha import repair
from tests.functional import agents as agentlib
from tests.unit.conftest import make_conf
from tests.unit import fakes

HB_INTERVAL = 0.5
HB_TIMEOUT = 2.0
POLL = 0.5
SLACK = 0.5


@pytest.fixture
def setup(tmp_path):
    """(conf, config file, db) for one test: own group, SQLite, fakes."""
    group = agentlib.unique('vmha-test')
    url = 'sqlite:///%s' % (tmp_path / 'vmha.sqlite')
    migration.upgrade(url)
    sections = {
        'DEFAULT': {'log_file': tmp_path / 'vmha.log'},
        'database': {'connection': url},
        'coordination': {'backend_url': agentlib.REDIS_URL,
                         'group_name': group,
                         'heartbeat_interval': HB_INTERVAL,
                         'heartbeat_timeout': HB_TIMEOUT},
        'monitor': {'poll_interval': POLL,
                    'detection_sources': 'nova,heartbeat'},
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
        for host in self.hosts:
            self.compute.add_instance('vm-' + host, host=host)
            db.add_host(inventory.HostSpec(name=host))   # only these fenced
        self.dispatcher = fakes.RecordingDispatcher(record=db.add_event)
        self.recoverer = recovery.Recoverer(
            conf, compute=self.compute, db=db, dispatcher=self.dispatcher,
            fencing_driver=fakes.FakeFencingDriver(), owner='test')
        self.agents = agentlib.Agents(tmp_path, config, conf)
        self.monitor = None

    def start(self):
        self.agents.start(*self.hosts)
        mon = monitor_mod.Monitor(
            self.conf, self.recoverer,
            bmc=bmc_mod.BMCProbe(self.conf, fakes.FakeFencingDriver()))
        self.monitor = agentlib.MonitorThread(mon).start()
        self.monitor.wait_checks(time.time())
        return self

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
    """Send ``signum`` to ``host``'s agent; return seconds to declaration
    after waiting for the recovery to finish."""
    before = len(cl.detected(host))
    killed = time.time()
    cl.agents.procs[host].signal(signum)
    event = agentlib.wait_for(lambda: cl.detected(host)[before:], 30,
                              what='failure of %s declared' % host)[0]
    elapsed = event.timestamp.timestamp() - killed
    print('%s: declared failed %.2fs after signal %d (bound %.1fs)'
          % (host, elapsed, signum, HB_TIMEOUT + POLL))
    rec = agentlib.wait_for(
        lambda: [r for r in cl.recoveries(host)
                 if r.state in db_api.FINAL_STATES][before:], 60,
        what='recovery of %s finished' % host)[0]
    assert rec.state == db_api.COMPLETED, rec.error
    return elapsed, rec


def _assert_recovered_once(cl, host, rec, elapsed):
    assert elapsed <= HB_TIMEOUT + POLL + SLACK, elapsed
    # the heartbeat was gone for heartbeat_timeout before it was declared
    assert elapsed >= HB_TIMEOUT - HB_INTERVAL, elapsed
    assert 'heartbeat lost' in cl.detected(host)[0].payload['source']
    detection = (rec.started_at - rec.detected_at).total_seconds()
    assert 0 <= detection <= HB_INTERVAL + POLL + SLACK, detection
    # later polls start nothing more
    cl.monitor.wait_checks(time.time() + HB_TIMEOUT + POLL)
    assert [r.host for r in cl.recoveries()] == [host]
    assert len(cl.detected(host)) == 1
    assert [c[1] for c in cl.compute.calls_of('evacuate')] == ['vm-' + host]


def test_sigkill_is_declared_and_recovered_once(cluster):
    cl = cluster()
    host = cl.hosts[1]
    elapsed, rec = _fail_and_measure(cl, host, signal.SIGKILL)
    _assert_recovered_once(cl, host, rec, elapsed)


def test_sigstop_is_declared_and_the_agent_rejoins_on_sigcont(cluster):
    cl = cluster()
    host = cl.hosts[2]
    elapsed, rec = _fail_and_measure(cl, host, signal.SIGSTOP)
    _assert_recovered_once(cl, host, rec, elapsed)
    cl.agents.procs[host].signal(signal.SIGCONT)
    cl.agents.wait_members(lambda m: host in m, what='%s back' % host)


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
