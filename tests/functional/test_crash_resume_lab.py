"""A recovery whose process is SIGKILLed mid-flow resumes without repeats.

The recovery runs in a real ``vmha-manage evacuate`` process against the lab;
the test kills it at a chosen point, resumes with ``vmha-manage recovery
resume`` in a new process, and counts with Nova's own records (evacuation
migrations) that every instance was evacuated exactly once and that
completed steps (fencing, force-down) were not run again.

The killed process still holds the recovery's ownership lease until it
expires (``[jobboard] claim_timeout`` after its last renewal): a resume
before that is refused, one after it takes the recovery over.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from vmha.db import api as db_api
from vmha.db import migration

from tests.functional import dbs
from tools.lab.access import keys
from tools.lab.access import lab as lablib

pytestmark = [lablib.requires_lab, pytest.mark.lab]

SOURCE = 'hostA'
SERVERS = 6
#: the lease of a manual run lasts this long unless renewed
LEASE = 10


def _manage(config, *args):
    return [sys.executable, '-m', 'vmha.cmd.manage', '--config-file', config,
            *args]


def _kill_when(proc, db, point, timeout=120):
    """SIGKILL ``proc`` once its recovery reached ``point``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, 'recovery ended before the kill point'
        recs = db.list_recoveries(host=SOURCE)
        if recs:
            rec = recs[0]
            evacs = db.list_evacuations(rec.id)
            done = [e for e in evacs if e.status == db_api.EVAC_DONE]
            if point == 'after-fence' and rec.fenced_at is not None:
                break
            if point == 'mid-evacuation' and len(done) >= 2:
                break
        time.sleep(0.05)
    else:
        pytest.fail('kill point %s not reached' % point)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return rec.id


def _crash_and_resume(tmp_path, lab_info, nova, url, point):
    migration.upgrade(url)
    db = db_api.Database(url, keyring=keys.keyring())
    lablib.add_lab_hosts(db, lab_info)
    config = lablib.write_config(
        tmp_path / 'vmha.conf', lab_info, url,
        **{'evacuation.max_workers': 2, 'jobboard.claim_timeout': LEASE})
    servers = lablib.boot(SERVERS, SOURCE)
    ids = [s['id'] for s in servers]
    lablib.lab('fail', SOURCE, '--mode', 'kill')

    log = open(tmp_path / 'first.log', 'w')
    proc = subprocess.Popen(_manage(config, 'evacuate', SOURCE, '--level',
                                    '2'), stdout=log, stderr=log)
    recovery_id = _kill_when(proc, db, point)
    assert db.get_recovery(recovery_id).state == db_api.RUNNING

    # the dead process's lease is live for up to LEASE seconds: refused
    early = subprocess.run(_manage(config, 'recovery', 'resume',
                                   recovery_id),
                           capture_output=True, text=True, timeout=300)
    expires = db.get_recovery(recovery_id).lease_expires_at
    if expires > db_api.utcnow():
        assert early.returncode == 1, early.stderr[-3000:]
        assert 'not running it a second time' in early.stderr
        time.sleep((expires - db_api.utcnow()).total_seconds() + 0.5)
    resumed = subprocess.run(_manage(config, 'recovery', 'resume'),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rec = db.get_recovery(recovery_id)
    assert rec.state == db_api.COMPLETED, (rec.state, rec.error)

    lablib.assert_evacuated_once(nova, ids, SOURCE)
    assert all(e.evacuate_calls == 1 for e in db.list_evacuations(rec.id))
    types = [e.event_type for e in db.list_events(recovery_id=rec.id)]
    assert types.count('vmha.host.fence.end') == 1, types
    assert types.count('vmha.service.force_down.end') == 1, types
    assert types.count('vmha.instance.evacuate.end') == SERVERS, types
    db.dispose()


@pytest.mark.parametrize('point', ['after-fence', 'mid-evacuation'])
def test_sigkill_then_resume_sqlite(point, clean_lab, tmp_path, lab_info,
                                    nova, sqlite_url):
    _crash_and_resume(tmp_path, lab_info, nova, sqlite_url, point)


def test_sigkill_then_resume_postgresql(clean_lab, tmp_path, lab_info, nova):
    with dbs.scratch_database('postgresql') as url:
        _crash_and_resume(tmp_path, lab_info, nova, url, 'mid-evacuation')
