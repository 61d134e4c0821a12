"""Two vmha-monitors share a real cloud; the one recovering a host dies.

Against the real-Nova lab, with what several monitors need in production:
a PostgreSQL database and a Redis jobboard shared by two ``vmha-monitor``
processes, vmha-agents heartbeating through Redis. hostA is powered off
through its BMC; both monitors see it, one recovery is recorded and one job
posted. Its owner is SIGKILLed once evacuations are under way; the other
monitor's conductor claims the job when the claim expires and resumes the
flow. Nova's own records are the judge: every server ACTIVE elsewhere and
evacuated exactly once (Nova's evacuation migrations), the service forced
down and disabled.
"""

import signal
import subprocess
import sys
import time

import pytest

from vmha.db import api as db_api
from vmha.db import migration
from vmha import jobboard

from tools.lab.access import agents as agentlib
from tests.functional import dbs
from tools.lab.access import keys
from tools.lab.access import lab as lablib
from tools.lab.access import monitors as lab_monitors

pytestmark = [lablib.requires_lab, pytest.mark.lab]

SOURCE = 'hostA'
SERVERS = 6
CLAIM_TIMEOUT = 5.0


@pytest.fixture
def shared_db(lab_info):
    """A fresh PostgreSQL database holding the lab's hosts."""
    with dbs.scratch_database('postgresql') as url:
        migration.upgrade(url)
        db = db_api.Database(url, keyring=keys.keyring())
        lablib.add_lab_hosts(db, lab_info)
        yield url, db
        db.dispose()


@pytest.fixture
def cluster(tmp_path, lab_info, shared_db, clean_lab):
    """(db, agents, [monitor, monitor], conf) sharing one board and
    database; a third config, ``conf.manage_config``, for vmha-manage."""
    url, db = shared_db
    group = agentlib.unique('vmha-jb')
    configs = [lab_monitors.monitor_config(
        tmp_path / ('monitor-%d.conf' % i), lab_info, url, group,
        tmp_path / ('monitor-%d.log' % i), **{
            # vmha-manage (config 2) evacuates one server after the other,
            # so that its recovery outlasts 2 x claim_timeout (the
            # reconciler would have reposted it)
            'evacuation.max_workers': 1 if i == 2 else 2,
            'jobboard.backend_url': 'redis://127.0.0.1:6379',
            'jobboard.name': group,
            'jobboard.claim_timeout': CLAIM_TIMEOUT}) for i in (0, 1, 2)]
    conf = lablib.load_conf(tmp_path / 'observer.conf', lab_info, url,
                            **{'coordination.backend_url':
                               agentlib.REDIS_URL,
                               'coordination.group_name': group,
                               'jobboard.backend_url':
                               'redis://127.0.0.1:6379',
                               'jobboard.name': group})
    agents = agentlib.Agents(tmp_path, configs[0], conf)
    monitors = []
    try:
        agents.start(*lablib.HOSTS)
        for i, config in enumerate(configs[:2]):
            monitors.append(lab_monitors.MonitorProcess(
                config, tmp_path / ('monitor-%d.log' % i)))
        for monitor in monitors:
            monitor.wait_for_log('claiming recovery jobs')
        conf.manage_config = configs[2]
        yield db, agents, monitors, conf
    finally:
        for monitor in monitors:
            monitor.stop()
        agents.close()


def _owner(db, monitors):
    """The monitor whose conductor holds the recovery's lease."""
    [rec] = db.list_recoveries(host=SOURCE) or [None]
    if rec is None or not rec.lease_owner:
        return None
    pid = int(rec.lease_owner.rpartition(':')[2])
    return next(m for m in monitors if m.pid == pid)


def _evacuating(db):
    [rec] = db.list_recoveries(host=SOURCE) or [None]
    return rec is not None and bool(db.list_evacuations(rec.id))


def test_owner_killed_mid_evacuation_other_monitor_finishes(cluster, nova):
    db, agents, monitors, conf = cluster
    ids = [s['id'] for s in lablib.boot(SERVERS, SOURCE)]
    lablib.lab('fail', SOURCE, '--mode', 'bmc')
    agents.procs[SOURCE].signal(signal.SIGKILL)

    agentlib.wait_for(lambda: _evacuating(db), 60, interval=0.1,
                      what='the first evacuation')
    owner = agentlib.wait_for(lambda: _owner(db, monitors), 10,
                              what='the owner')
    evacuated_before = db.list_evacuations(
        db.list_recoveries(host=SOURCE)[0].id)
    owner.kill()
    killed_at = time.time()
    [survivor] = [m for m in monitors if m is not owner]

    rec = agentlib.wait_for(
        lambda: next((r for r in db.list_recoveries(host=SOURCE)
                      if r.state in db_api.FINAL_STATES), None),
        180, interval=0.5, what='the recovery to end')
    assert rec.state == db_api.COMPLETED, (rec.state, rec.error)
    assert len(db.list_recoveries(host=SOURCE)) == 1
    assert 'runs recovery %s' % rec.id in survivor.log_text()
    print('owner killed after %d of %d evacuations; the other monitor '
          'completed the recovery %.1fs later (claim_timeout %.0fs)'
          % (len(evacuated_before), SERVERS,
             lab_monitors.epoch(rec.finished_at) - killed_at, CLAIM_TIMEOUT))

    lablib.assert_evacuated_once(nova, ids, SOURCE)
    evacs = db.list_evacuations(rec.id)
    assert sorted(e.instance_id for e in evacs) == sorted(ids)
    assert all(e.status == db_api.EVAC_DONE for e in evacs)

    board = jobboard.Board.connect(conf)
    try:
        agentlib.wait_for(lambda: not board.recovery_ids(), 30,
                          what='the job to be consumed')
    finally:
        board.close()
    assert survivor.alive()


# -- a manual recovery beside the monitors ------------------------------------

def _manage(config, *args):
    return subprocess.Popen(
        [sys.executable, '-m', 'vmha.cmd.manage', '--config-file',
         str(config), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def _evacuate_actions(nova, ids):
    """{id: number of "evacuate" instance actions Nova recorded}."""
    client = nova('2.53')
    return {sid: sum(1 for a in client.instance_action.list(sid)
                     if a.action == 'evacuate') for sid in ids}


def test_manual_evacuate_beside_two_monitors_runs_once(cluster, nova):
    """vmha-manage evacuate of a recovery lasting longer than claim_timeout,
    while two monitors' reconcilers and conductors watch the board: the
    command alone acts, and recovery resume of it is refused."""
    db, agents, monitors, conf = cluster
    ids = [s['id'] for s in lablib.boot(SERVERS, SOURCE)]
    evacuate = _manage(conf.manage_config, 'evacuate', SOURCE, '--level',
                       '2')
    rec = agentlib.wait_for(
        lambda: next((r for r in db.list_recoveries(host=SOURCE)
                      if r.state == db_api.RUNNING), None),
        60, interval=0.1, what='the manual recovery')
    resume = _manage(conf.manage_config, 'recovery', 'resume', rec.id)
    _out, err = resume.communicate(timeout=120)
    assert resume.returncode == 1, err
    assert 'not running it a second time' in err
    assert ':%d ' % evacuate.pid in err

    out, err = evacuate.communicate(timeout=600)
    assert evacuate.returncode == 0, (out, err[-3000:])
    rec = db.get_recovery(rec.id)
    assert rec.state == db_api.COMPLETED, rec.error
    lasted = (rec.finished_at - rec.started_at).total_seconds()
    assert lasted > 2 * CLAIM_TIMEOUT, lasted
    print('manual recovery of %d servers lasted %.1fs (claim_timeout %.0fs)'
          % (SERVERS, lasted, CLAIM_TIMEOUT))

    lablib.assert_evacuated_once(nova, ids, SOURCE)
    assert _evacuate_actions(nova, ids) == dict.fromkeys(ids, 1)
    types = [e.event_type for e in db.list_events(recovery_id=rec.id)]
    assert types.count('vmha.recovery.start') == 1, types
    assert types.count('vmha.instance.evacuate.start') == SERVERS, types
    for monitor in monitors:
        log = monitor.log_text()
        assert 'runs recovery %s' % rec.id not in log
        assert 'posting it again' not in log
