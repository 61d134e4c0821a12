"""A healthy host whose vmha-agent dies keeps running (issue 12).

Against the real-Nova lab, with real vmha-agent processes on Redis and a
real vmha-monitor process: the agent of a healthy ``hostA`` is SIGKILLed or
SIGSTOPped while its nova-compute keeps reporting to Nova and its servers
keep running. At every ``quick_evacuate_level`` nothing may happen to the
host -- no fencing, no force-down, no evacuation: its BMC still says "on",
its servers are untouched -- and ``vmha.agent.lost`` is recorded. The
coordination backend restarting under running agents fences nothing
either. Level 1's quick path (no power-off) is taken only on two signals:
agent lost *and* nova-compute no longer reporting.
"""

import json
import signal
import time

import pytest

from vmha.db import api as db_api
from vmha import events

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib
from tools.lab.access import monitors as lab_monitors

pytestmark = [lablib.requires_lab, pytest.mark.lab]

SOURCE = 'hostA'


def _events(db, event_type, host=SOURCE):
    return [e for e in db.list_events(host=host)
            if e.event_type == event_type]


def _assert_untouched(nova, ids, db):
    """hostA as it was: BMC on, servers ACTIVE there, never evacuated,
    service enabled and not forced down, no recovery recorded."""
    assert db.list_recoveries() == []
    status = json.loads(lablib.lab('status', '--json'))
    assert status['bmc'][SOURCE] == 'on', status
    for sid, (host, vm_state, task) in lablib.server_states(
            nova, ids).items():
        assert (host, vm_state, task) == (SOURCE, 'active', None), sid
    assert lablib.evacuation_counts(nova, ids) == dict.fromkeys(ids, 0)
    svc = lablib.service(nova, SOURCE)
    assert (svc.status, svc.forced_down, svc.state) == (
        'enabled', False, 'up'), svc


@pytest.mark.parametrize('signum', [signal.SIGKILL, signal.SIGSTOP],
                         ids=['sigkill', 'sigstop'])
@pytest.mark.parametrize('level', [1, 2, 3])
def test_a_dead_agent_never_costs_a_healthy_host(level, signum, lab_info,
                                                  start_cluster, nova):
    ids = [s['id'] for s in lablib.boot(2, SOURCE)]
    db, agents, proc = start_cluster(level)
    killed = time.time()
    agents.procs[SOURCE].signal(signum)
    [lost] = agentlib.wait_for(lambda: _events(db, events.AGENT_LOST), 30,
                               what='vmha.agent.lost for %s' % SOURCE)
    print('level %d, signal %d: agent lost reported %.1fs after the kill'
          % (level, signum, lab_monitors.epoch(lost.created_at) - killed))
    assert 'nova-compute still reports' in lost.payload['reason']
    # well past the detection bound, twice: still nothing done
    time.sleep(2 * lab_monitors.detection_bound(lab_info))
    assert proc.alive()
    _assert_untouched(nova, ids, db)
    assert len(_events(db, events.AGENT_LOST)) == 1
    if signum == signal.SIGSTOP:
        agents.procs[SOURCE].signal(signal.SIGCONT)
        agentlib.wait_for(lambda: _events(db, events.AGENT_RECOVERED), 30,
                          what='vmha.agent.recovered for %s' % SOURCE)


def test_a_coordination_backend_restart_fences_nothing(
        start_cluster, nova, redis_server, lab_info):
    ids = [s['id'] for s in lablib.boot(2, SOURCE)]
    db, agents, proc = start_cluster(2, backend_url=redis_server.url)
    redis_server.restart()
    agents.wait_members(lambda m: set(lablib.HOSTS) <= m, timeout=60,
                        what='agents joined again')
    time.sleep(2 * lab_monitors.detection_bound(lab_info))
    assert proc.alive()
    _assert_untouched(nova, ids, db)


def test_level1_quick_path_on_two_signals(start_cluster, nova, lab_info):
    """nova-compute killed and the agent with it: both signals say the host
    stopped, so level 1 forces it down without powering it off."""
    ids = [s['id'] for s in lablib.boot(2, SOURCE)]
    db, agents, proc = start_cluster(1)
    failed_at = time.time()
    lablib.lab('fail', SOURCE, '--mode', 'kill')
    agents.procs[SOURCE].signal(signal.SIGKILL)
    rec = agentlib.wait_for(
        lambda: [r for r in db.list_recoveries(host=SOURCE)
                 if r.state in db_api.FINAL_STATES], 120, interval=0.5,
        what='recovery of %s' % SOURCE)[0]
    assert rec.state == db_api.COMPLETED, rec.error
    assert rec.host_stopped is True and rec.fenced_at is None
    declared = lab_monitors.epoch(rec.started_at) - failed_at
    print('level 1 quick path: declared %.1fs after the kill, recovered in '
          '%.1fs' % (declared,
                     lab_monitors.epoch(rec.finished_at) - failed_at))
    assert declared <= lab_monitors.detection_bound(lab_info) + 1.0
    lablib.assert_evacuated_once(nova, ids, SOURCE)
    status = json.loads(lablib.lab('status', '--json'))
    assert status['bmc'][SOURCE] == 'on'
