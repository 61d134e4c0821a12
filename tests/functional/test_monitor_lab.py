"""vmha-monitor recovers a host powered off through its BMC, unattended.

Against the real-Nova lab: servers run on hostA; ``lab fail hostA --mode
bmc`` powers hostA off through its IPMI BMC (its nova-compute dies with it);
a ``vmha-monitor`` process, started before and never touched, must notice
and leave every server ACTIVE on another host, evacuated once.

Two ways to notice, one test each:

* ``heartbeat``: vmha-agent processes for the three hosts heartbeat through
  the real Redis; hostA's agent is SIGKILLed with the power-off (a powered
  off host runs nothing). The lost heartbeat plus nova-compute no longer
  writing its service record declare it failed within seconds.
* ``hung``: the same, but hostA hangs instead (``lab fail --mode stop``
  SIGSTOPs its nova-compute, its agent is SIGSTOPped): both signals stop,
  the BMC still says "on"; fencing powers it off.
* ``nova``: no agent; Nova marks the service down after its
  service_down_time and the monitor acts on that.
"""

import signal
import time

import pytest

from vmha.db import api as db_api

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib
from tools.lab.access import monitors as lab_monitors

pytestmark = [lablib.requires_lab, pytest.mark.lab]

SOURCE = 'hostA'
SERVERS = 3
HB_TIMEOUT = lab_monitors.HB_TIMEOUT
POLL = lab_monitors.POLL


@pytest.fixture
def lab_cluster(tmp_path, lab_info, vmha_setup, sqlite_url, clean_lab):
    """(config path, conf, db, Agents) wired to the lab and Redis."""
    conf, db = vmha_setup
    config = lab_monitors.monitor_config(
        tmp_path / 'vmha.conf', lab_info, sqlite_url,
        agentlib.unique('vmha-lab'), tmp_path / 'monitor.log')
    conf(['--config-file', config], default_config_files=[])
    agents = agentlib.Agents(tmp_path, config, conf)
    yield config, conf, db, agents
    agents.close()


@pytest.fixture
def monitor_process(lab_cluster, tmp_path):
    procs = []

    def start():
        proc = lab_monitors.MonitorProcess(lab_cluster[0],
                                           tmp_path / 'monitor.log')
        procs.append(proc)
        proc.wait_for_log(lab_monitors.WATCHING)
        return proc

    yield start
    for proc in procs:
        proc.stop()


def _recovered(db):
    recs = [r for r in db.list_recoveries(host=SOURCE)
            if r.state in db_api.FINAL_STATES]
    return recs[0] if recs else None


@pytest.mark.parametrize('detection', ['heartbeat', 'hung', 'nova'])
def test_bmc_power_off_is_recovered_unattended(
        detection, tmp_path, lab_cluster, monitor_process, nova, lab_info):
    config, conf, db, agents = lab_cluster
    servers = lablib.boot(SERVERS, SOURCE)
    ids = [s['id'] for s in servers]
    with_agents = detection != 'nova'
    if with_agents:
        agents.start(*lablib.HOSTS)
    proc = monitor_process()
    time.sleep(3 * POLL)        # a few polls with every agent alive

    failed_at = time.time()
    if detection == 'hung':
        lablib.lab('fail', SOURCE, '--mode', 'stop')
        agents.procs[SOURCE].signal(signal.SIGSTOP)
    else:
        lablib.lab('fail', SOURCE, '--mode', 'bmc')
    if detection == 'heartbeat':
        agents.procs[SOURCE].signal(signal.SIGKILL)

    timeout = 60 if with_agents else (
        lab_info['service_down_time'] + 120)
    rec = agentlib.wait_for(lambda: _recovered(db), timeout, interval=0.5,
                            what='recovery of %s' % SOURCE)
    assert rec.state == db_api.COMPLETED, rec.error
    assert proc.alive(), 'the monitor died: %s' % proc.proc.stderr.read()

    lablib.assert_evacuated_once(nova, ids, SOURCE)

    [event] = [e for e in db.list_events(recovery_id=rec.id)
               if e.event_type == 'vmha.host.failure']
    declared = lab_monitors.epoch(rec.started_at) - failed_at
    if with_agents:
        assert rec.host_stopped is True
        assert event.payload['source'].startswith(
            'agent heartbeat lost and nova-compute stopped reporting')
        assert declared <= lab_monitors.detection_bound(lab_info) + 1.0, \
            declared
    else:
        assert 'Nova reports the service down' in event.payload['source']
    print('%s: declared %.1fs after the power-off, recovery %s in %.1fs'
          % (detection, declared, rec.state,
             lab_monitors.epoch(rec.finished_at) - failed_at))
    assert len(db.list_recoveries(host=SOURCE)) == 1

