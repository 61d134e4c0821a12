"""A manual recovery next to monitors that share a jobboard.

Two real vmha-monitor processes (conductors and reconcilers included) on
Redis and PostgreSQL, and a real ``vmha-manage evacuate`` of a recovery that
lasts several ``claim_timeout``s: the reconcilers must not take it for an
orphan and post it, no conductor may resume it while the command runs it,
and ``vmha-manage recovery resume`` of it is refused. Evidence: the fake
cloud's call log (every evacuate request with the caller's pid, see
tests/functional/fakenova.py) and vmha's event log.

Nova here is the shared-file fake of the jobboard tests, not the lab's real
Nova: the evidence is the evacuate requests the fake received, counted per
instance and per calling process.
"""

import subprocess

import pytest

from tests.functional import dbs
from tests.functional import jobboard_cluster as jc
from tests.functional import peers
from vmha.db import api as db_api
from vmha import events

#: evacuations land this long after their request: with 4 instances and 2
#: workers the recovery lasts about 3 x claim_timeout
REBUILD_SECONDS = 2.5


@pytest.fixture
def cluster(tmp_path, redis_server):
    with dbs.scratch_database('postgresql') as url:
        made = jc.Cluster(tmp_path, redis_server.url, url,
                          delays={'force_down': 1.0},
                          rebuild_seconds=REBUILD_SECONDS)
        try:
            yield made
        finally:
            made.stop()


def _manage(cluster, *args):
    return subprocess.Popen(
        cluster.command('manage', '--config-file', str(cluster.config),
                        *args),
        cwd=str(jc.ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def _running(cluster):
    rec = cluster.recovery()
    return rec if rec is not None and rec.state == db_api.RUNNING else None


def test_manual_evacuate_beside_monitors_runs_once(cluster):
    monitors = cluster.start_monitors()
    evacuate = _manage(cluster, 'evacuate', jc.SOURCE, '--level', '2')
    rec = jc.wait_for(lambda: _running(cluster), 'the manual recovery')

    # a second run of it is refused while the command runs it
    resume = _manage(cluster, 'recovery', 'resume', rec.id)
    out, err = resume.communicate(timeout=120)
    assert resume.returncode == 1, (out, err)
    # (without a log_file, vmha-manage logs to stderr too)
    [line] = [x for x in err.splitlines() if x.startswith('vmha-manage')]
    assert line.startswith('vmha-manage: error: Recovery %s' % rec.id)
    assert 'run by' in line and 'not running it a second time' in line
    assert ':%d ' % evacuate.pid in line          # the owner: the command

    out, err = evacuate.communicate(timeout=180)
    assert evacuate.returncode == 0, (out, err, cluster.logs())
    for proc in monitors:
        proc.stop(timeout=30)
    rec = cluster.db.get_recovery(rec.id)
    assert rec.state == db_api.COMPLETED, rec.error
    finished = rec.finished_at
    started = rec.started_at
    assert (finished - started).total_seconds() > 2 * jc.CLAIM_TIMEOUT

    # Nova's side: each instance evacuated once, by the command only
    state = cluster.nova.read()
    ids = sorted(i for i in state['instances'] if i.startswith(jc.SOURCE))
    assert cluster.nova.evacuate_counts() == dict.fromkeys(ids, 1)
    callers = {call[-2] for call in cluster.nova.calls()
               if call[0] in ('evacuate', 'force_down', 'disable',
                              'power_off', 'enable', 'start')}
    assert callers == {evacuate.pid}, cluster.logs()
    # vmha's side: one start, one end, one evacuation per instance
    types = [e.event_type for e in cluster.db.list_events(recovery_id=rec.id)]
    assert types.count(events.RECOVERY_STARTED) == 1
    assert types.count(events.RECOVERY_COMPLETED) == 1
    assert types.count(events.INSTANCE_EVACUATE_STARTED) == len(ids)
    # the monitors never posted it again nor ran it
    for proc in monitors:
        log = peers.tail(proc.log, 10**6)
        assert 'posting it again' not in log, log
        assert 'runs recovery %s' % rec.id not in log, log
