"""Self-fencing by watchdog on the real-Nova lab (issue 17).

hostA's vmha-agent arms the lab's stand-in watchdog
(tools/lab/files/lab_watchdog.py, one process per test, never a real
watchdog): it powers hostA off through its chassis control (its nova-compute
dies) and kills the agent when it is not petted for ``TIMEOUT`` seconds.
Real vmha-agent and vmha-monitor processes, real Redis, real IPMI BMCs.

* the BMC process is killed and the host powered off: an armed host is
  recovered once its watchdog has certainly fired (``fence_proof``
  ``watchdog-expiry``), each instance once; an unarmed one is refused;
* the agent is SIGKILLed: the stand-in resets the host within the timeout
  and it is recovered like any failed host (its BMC confirms off); a
  SIGTERMed agent disarms and nothing happens;
* the agent is cut off from Redis (a TCP proxy in front of Redis for it
  alone) while Nova still sees the host, and the BMC is gone too: the host
  resets itself, then is recovered, and its nova-compute was dead before
  the first evacuation was issued.
"""

import json
import signal
import subprocess
import sys
import time

import pytest

from vmha.db import api as db_api
from vmha import watchdog

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib
from tools.lab.access import monitors as lab_monitors
from tests.functional.peers import tcp_proxy

pytestmark = [lablib.requires_lab, pytest.mark.lab]

SOURCE = 'hostA'
TIMEOUT = 3          # [watchdog] timeout of hostA's agent
MARGIN = 0.5         # [watchdog] margin, agent and monitor
WINDOW = TIMEOUT + 2 * MARGIN
STAND_IN = lablib.ROOT + '/tools/lab/files/lab_watchdog.py'
PROXY_PORT = 16282   # tcp_proxy's range; 16280/16281 are taken


class StandIn:
    """The stand-in watchdog process of hostA and its event log."""

    def __init__(self, tmp_path, host_env):
        self.socket = str(tmp_path / ('watchdog-%s.sock' % SOURCE))
        self.log = tmp_path / ('watchdog-%s.log' % SOURCE)
        self.proc = subprocess.Popen(
            [sys.executable, STAND_IN, '--socket', self.socket,
             '--host-env', host_env, '--log', str(self.log)],
            stdin=subprocess.DEVNULL)
        agentlib.wait_for(lambda: 'listening' in self.kinds(), 10,
                          what='stand-in watchdog')

    def events(self):
        try:
            text = self.log.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line]

    def kinds(self):
        return [e['event'] for e in self.events()]

    def at(self, kind):
        return [e['at'] for e in self.events() if e['event'] == kind]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


@pytest.fixture
def cluster(tmp_path, lab_info, vmha_setup, sqlite_url, clean_lab):
    """start(armed=True, proxy=None) -> (db, agents, monitor, stand-in):
    agents on every lab host (hostA's armed with the stand-in, and on
    ``proxy``'s port if given), a vmha-monitor process watching them."""
    conf, db = vmha_setup
    started = []

    def start(armed=True, proxy=None):
        stand_in = StandIn(tmp_path, lab_info['hosts'][SOURCE]['host_env'])
        started.append(stand_in)
        config = lab_monitors.monitor_config(
            tmp_path / 'vmha.conf', lab_info, sqlite_url,
            agentlib.unique('vmha-wd'), tmp_path / 'monitor.log', **{
                'recovery.quick_evacuate_level': 2,
                'fencing.bmc_timeout': 2,
                'watchdog.margin': MARGIN})
        conf(['--config-file', config], default_config_files=[])
        options = {}
        if armed:
            options['watchdog'] = {'driver': 'lab', 'timeout': TIMEOUT,
                                   'margin': MARGIN,
                                   'device': stand_in.socket}
        if proxy:
            options['coordination'] = {
                'backend_url': 'redis://127.0.0.1:%d?timeout=5'
                % proxy.port}
        agents = agentlib.Agents(tmp_path, config, conf,
                                 host_options={SOURCE: options})
        started.append(agents)
        agents.start(*lablib.HOSTS)
        if armed:
            agentlib.wait_for(lambda: 'armed' in stand_in.kinds(), 10,
                              what='hostA armed')
        monitor = lab_monitors.MonitorProcess(config,
                                              tmp_path / 'monitor.log')
        started.append(monitor)
        monitor.wait_for_log(lab_monitors.WATCHING)
        time.sleep(3 * lab_monitors.POLL)
        return db, agents, monitor, stand_in

    yield start
    for thing in reversed(started):
        (thing.close if isinstance(thing, agentlib.Agents)
         else thing.stop)()


def _final(db, timeout=90):
    return agentlib.wait_for(
        lambda: [r for r in db.list_recoveries(host=SOURCE)
                 if r.state in db_api.FINAL_STATES], timeout, interval=0.5,
        what='recovery of %s' % SOURCE)[0]


def _status():
    return json.loads(lablib.lab('status', '--json'))


@pytest.mark.parametrize('armed', [True, False], ids=['armed', 'unarmed'])
def test_bmc_gone_host_off_recovered_only_when_armed(armed, cluster, nova):
    ids = [s['id'] for s in lablib.boot(2, SOURCE)]
    db, agents, monitor, stand_in = cluster(armed=armed)
    lablib.lab('bmc', SOURCE, 'down')
    off_at = time.time()
    lablib.lab('fail', SOURCE, '--mode', 'kill')     # powered off ...
    agents.procs[SOURCE].signal(signal.SIGKILL)      # ... with its agent
    rec = _final(db)
    assert monitor.alive()
    if not armed:
        # today's rule, still: no proof, no evacuation
        assert rec.state == db_api.FAILED
        assert rec.fence_proof is None and rec.fenced_at is None
        assert 'BMC' in rec.error, rec.error
        assert lablib.evacuation_counts(nova, ids) == dict.fromkeys(ids, 0)
        return
    assert rec.state == db_api.COMPLETED, rec.error
    assert rec.fence_proof == watchdog.PROOF_WATCHDOG
    fenced = lab_monitors.epoch(rec.fenced_at) - off_at
    first = lab_monitors.epoch(rec.first_evacuation_at) - off_at
    print('armed, BMC gone: declared %.1fs, fenced by watchdog expiry '
          '%.1fs, first evacuation %.1fs, done %.1fs after the power-off'
          % (lab_monitors.epoch(rec.started_at) - off_at, fenced, first,
             lab_monitors.epoch(rec.finished_at) - off_at))
    # its last heartbeat came at most one interval before the power-off
    assert fenced >= WINDOW - 0.5, fenced
    assert lab_monitors.epoch(rec.fenced_at) >= lab_monitors.epoch(
        rec.watchdog_expires_at)
    lablib.assert_evacuated_once(nova, ids, SOURCE)
    assert len(db.list_recoveries(host=SOURCE)) == 1


def test_killed_agent_resets_its_host_which_is_recovered(cluster, nova):
    ids = [s['id'] for s in lablib.boot(2, SOURCE)]
    db, agents, monitor, stand_in = cluster()
    killed = time.time()
    agents.procs[SOURCE].signal(signal.SIGKILL)
    agentlib.wait_for(lambda: stand_in.at('host-powered-off'), 20,
                      what='the stand-in to reset hostA')
    fired = stand_in.at('fired')[0] - killed
    print('agent SIGKILLed: watchdog fired %.2fs later (timeout %ds)'
          % (fired, TIMEOUT))
    assert fired <= TIMEOUT + 0.5
    assert _status()['processes']['nova-compute-' + SOURCE]['state'] == \
        'dead'
    rec = _final(db)
    assert rec.state == db_api.COMPLETED, rec.error
    assert rec.fence_proof == watchdog.PROOF_BMC      # its BMC answers
    lablib.assert_evacuated_once(nova, ids, SOURCE)


def test_sigtermed_agent_disarms_and_nothing_happens(cluster, nova,
                                                     lab_info):
    ids = [s['id'] for s in lablib.boot(1, SOURCE)]
    db, agents, monitor, stand_in = cluster()
    agents.procs[SOURCE].signal(signal.SIGTERM)
    agents.procs[SOURCE].proc.wait(30)
    agentlib.wait_for(lambda: 'disarmed' in stand_in.kinds(), 10,
                      what='hostA disarmed')
    time.sleep(TIMEOUT + lab_monitors.detection_bound(lab_info))
    assert 'fired' not in stand_in.kinds()
    assert db.list_recoveries() == []
    status = _status()
    assert status['bmc'][SOURCE] == 'on'
    assert status['processes']['nova-compute-' + SOURCE]['state'] == \
        'running'
    assert lablib.evacuation_counts(nova, ids) == {ids[0]: 0}


@pytest.fixture
def redis_proxy():
    proxy = tcp_proxy.TCPProxy(PROXY_PORT, 6379).start()
    yield proxy
    proxy.stop()


def test_host_cut_off_from_coordination_resets_then_is_recovered(
        cluster, nova, redis_proxy):
    """Partitioned: its agent loses Redis, Nova still hears its compute,
    its BMC is gone. It must reset itself before anything is evacuated."""
    ids = [s['id'] for s in lablib.boot(2, SOURCE)]
    db, agents, monitor, stand_in = cluster(proxy=redis_proxy)
    lablib.lab('bmc', SOURCE, 'down')
    cut = time.time()
    redis_proxy.cut()
    agentlib.wait_for(lambda: stand_in.at('host-powered-off'), 20,
                      what='hostA to reset itself')
    dead_at = stand_in.at('host-powered-off')[0]
    rec = _final(db)
    assert rec.state == db_api.COMPLETED, rec.error
    assert rec.fence_proof == watchdog.PROOF_WATCHDOG
    first = lab_monitors.epoch(rec.first_evacuation_at)
    print('cut off from Redis: reset %.1fs, declared %.1fs, first '
          'evacuation %.1fs after the cut (compute dead %.1fs before it)'
          % (dead_at - cut, lab_monitors.epoch(rec.started_at) - cut,
             first - cut, first - dead_at))
    # no instance on two hosts: its compute was dead before the first
    # evacuate call was recorded
    assert dead_at < first
    lablib.assert_evacuated_once(nova, ids, SOURCE)
