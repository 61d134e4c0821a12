"""Several real vmha-monitor processes sharing one cloud, database and board.

The monitors are tests/functional/vmha_proc.py processes (vmha-monitor with
Nova and the BMCs replaced by one shared file, tests/functional/fakenova.py);
the database and the jobboard backend are real servers. Evidence is taken on
Nova's side (the calls the fake cloud logged, with the caller's pid) and in
vmha's database.
"""

import os
import pathlib
import signal
import sys
import uuid

import pytest
import sqlalchemy as sa

from vmha.db import api as db_api
from vmha.db import migration
from vmha import inventory
from vmha import jobboard

from tests.functional import fakenova
from tests.functional import peers
from tools.lab.access import agents as agentlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = 'hostA'
HOSTS = ('hostA', 'hostB', 'hostC')
INSTANCES = 4
CLAIM_TIMEOUT = 2.0

CONFIG = '''[DEFAULT]
state_path = %(dir)s
[database]
connection = %(db)s
retry_timeout = 10
retry_interval = 0.2
[monitor]
detection_sources = nova
poll_interval = 0.5
[fencing]
default_driver = noop
power_off_confirm_interval = 0.1
[evacuation]
max_workers = 2
confirm_interval = 0.1
confirm_timeout = 60
[recovery]
wait_service_down_interval = 0.1
[notification]
drivers =
[jobboard]
backend_url = %(board)s
name = %(name)s
claim_timeout = %(ttl)s
'''


def wait_for(condition, what, timeout=60.0, interval=0.05):
    """agents.wait_for with the cluster's default timeout."""
    return agentlib.wait_for(condition, timeout, interval, what)


class Cluster:
    """One fake cloud, one database, one board name, N monitors."""

    def __init__(self, workdir, board_url, db_url, delays=None,
                 rebuild_seconds=0.5):
        self.workdir = pathlib.Path(workdir)
        self.nova = fakenova.create(
            self.workdir / 'nova.json', HOSTS, {SOURCE: INSTANCES},
            delays=delays, rebuild_seconds=rebuild_seconds)
        migration.upgrade(db_url)
        self.db = db_api.Database(db_url)
        for host in HOSTS:          # vmha fences only inventory hosts
            self.db.add_host(inventory.HostSpec(name=host))
        self.name = 'vmha-test-%s' % uuid.uuid4().hex[:8]
        self.config = self.workdir / 'vmha.conf'
        peers.write(str(self.config), CONFIG % {
            'dir': self.workdir, 'db': db_url, 'board': board_url,
            'name': self.name, 'ttl': CLAIM_TIMEOUT})
        self.monitors = []

    # -- processes ----------------------------------------------------------

    def command(self, *args):
        return [sys.executable, '-m', 'tests.functional.vmha_proc',
                self.nova.path, *args]

    def start_monitors(self, count=2):
        """Start vmha-monitors; return once their conductors claim jobs."""
        started = [self._spawn() for _ in range(count)]
        for proc in started:
            wait_for(lambda: 'claiming recovery jobs' in peers.tail(
                proc.log, 10**6) or not proc.alive(),
                'monitor %d to start' % proc.pid)
            assert proc.alive(), peers.tail(proc.log)
        return started

    def _spawn(self):
        log = str(self.workdir / ('monitor-%d.log' % len(self.monitors)))
        proc = peers.Process(
            self.command('monitor', '--config-file', str(self.config)),
            log, cwd=str(ROOT))
        self.monitors.append(proc)
        return proc

    def by_pid(self, pid):
        return next(m for m in self.monitors if m.pid == pid)

    def kill(self, proc):
        os.kill(proc.pid, signal.SIGKILL)
        proc.proc.wait(10)

    def stop(self):
        for proc in self.monitors:
            proc.stop(timeout=30)
        self.db.dispose()

    def logs(self):
        return '\n'.join('--- %s\n%s' % (m.log, peers.tail(m.log, 6000))
                         for m in self.monitors)

    # -- state --------------------------------------------------------------

    def recovery(self):
        """The one recovery of SOURCE, or None yet."""
        recs = self.db.list_recoveries(host=SOURCE)
        assert len(recs) <= 1, [r.id for r in recs]
        return recs[0] if recs else None

    def step_done(self, atom):
        """Whether taskflow persisted the recovery's step ``atom`` (a task
        name) as done: killed after that, the step must not run again."""
        with self.db.engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT count(*) FROM atomdetails WHERE name = :name AND "
                "state = 'SUCCESS'"), {'name': atom}).scalar()

    def owner_pid(self):
        """PID of the monitor whose conductor holds the recovery's lease."""
        rec = self.recovery()
        if rec is None or not rec.lease_owner:
            return None
        return int(rec.lease_owner.rpartition(':')[2])

    def wait_final(self, timeout=90.0):
        def final():
            rec = self.recovery()
            return rec if rec and rec.state in db_api.FINAL_STATES else None
        try:
            return wait_for(final, 'the recovery to end', timeout)
        except pytest.fail.Exception:
            pytest.fail('recovery did not end:\n%s' % self.logs())

    def board_recoveries(self, conf):
        board = jobboard.Board.connect(conf)
        try:
            return board.recovery_ids()
        finally:
            board.close()

    def assert_recovered_exactly_once(self):
        """Completed; each instance evacuated once; service disabled and
        forced down by exactly one request each."""
        rec = self.recovery()
        assert rec.state == db_api.COMPLETED, (rec.state, rec.error)
        state = self.nova.read()
        ids = sorted(i for i, inst in state['instances'].items()
                     if inst['id'].startswith(SOURCE))
        assert self.nova.evacuate_counts() == dict.fromkeys(ids, 1)
        moved = self.nova.list_instances(SOURCE)
        assert moved == [], [i.id for i in moved]
        svc = state['services'][SOURCE]
        assert svc['status'] == 'disabled' and svc['forced_down'], svc
        assert len(self.nova.calls('force_down')) == 1
        assert len(self.nova.calls('disable')) == 1
        assert len(self.nova.calls('power_off')) == 1
        evacs = self.db.list_evacuations(rec.id)
        assert sorted(e.instance_id for e in evacs) == ids
        assert all(e.status == db_api.EVAC_DONE for e in evacs)
        return rec
