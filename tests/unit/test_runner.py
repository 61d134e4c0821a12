"""Runners (in-process or jobboard), job naming and board configuration."""

import logging
import threading
import time

import pytest

from vmha.db import api as db_api
from vmha import exception
from vmha import inventory
from vmha import jobboard
from vmha import runner
from tests.unit.conftest import HOST
from tests.unit import fakes


class FakeJob:
    def __init__(self, uuid, name, details):
        self.uuid = uuid
        self.name = name
        self.details = details


class FakeTaskflowBoard:
    """The part of a taskflow jobboard vmha.jobboard.Board uses."""

    def __init__(self, fail=None):
        self.jobs = []
        self.fail = fail

    def post(self, name, details=None):
        if self.fail:
            raise self.fail
        job = FakeJob('job-%d' % len(self.jobs), name, details)
        self.jobs.append(job)
        return job

    def iterjobs(self, ensure_fresh=False):
        return iter(list(self.jobs))

    def close(self):
        pass


def _board(fail=None, claim_timeout=30.0):
    return jobboard.Board(FakeTaskflowBoard(fail), 'redis://127.0.0.1:1',
                          claim_timeout, expiring=True)


# -- selection ----------------------------------------------------------------

def test_no_jobboard_url_runs_in_process(conf, make_recoverer):
    assert conf.jobboard.backend_url == ''
    chosen = runner.get_runner(conf, make_recoverer())
    assert isinstance(chosen, runner.InProcessRunner)


def test_jobboard_url_posts_jobs(conf, make_recoverer):
    conf.set_override('backend_url', 'redis://127.0.0.1:6379', 'jobboard')
    board = _board()
    chosen = runner.get_runner(conf, make_recoverer(), board=board)
    assert isinstance(chosen, runner.JobboardRunner)
    assert chosen.board is board


def test_in_process_runner_recovers_now(make_recoverer, compute):
    compute.add_instance('i1')
    report = runner.InProcessRunner(make_recoverer()).start(HOST)
    assert report.state == db_api.COMPLETED
    assert compute.calls_of('evacuate') == [('evacuate', 'i1', None)]


# -- job naming ---------------------------------------------------------------

class GatedCompute(fakes.FakeCompute):
    """Evacuations block until the test opens the gate."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gate = threading.Event()

    def evacuate(self, iid, target_host=None, on_shared_storage=False):
        assert self.gate.wait(30), 'gate never opened'
        return super().evacuate(iid, target_host, on_shared_storage)


def test_pooled_runner_records_at_once_and_runs_recoveries_together(
        make_recoverer, db, conf):
    """Issue 13: the embedded monitor ran recoveries inside its detection
    loop, one after the other; a second failure waited for the first."""
    fc = GatedCompute(hosts=('h1', 'h2', 'h3', 'spare'))
    for host in ('h1', 'h2', 'h3'):
        fc.add_instance('i-' + host, host=host)
        db.add_host(inventory.HostSpec(name=host))
    pool = runner.InProcessRunner(make_recoverer(compute=fc), workers=2)
    reports = [pool.start(host, 2) for host in ('h1', 'h2', 'h3')]
    # recorded before start() returned: the next poll sees them active
    assert [r.state for r in reports] == [db_api.PENDING] * 3
    # two run together (both blocked in Nova), the third waits its turn
    deadline = time.monotonic() + 30
    while len(fc.calls_of('list_instances')) < 2:
        assert time.monotonic() < deadline, 'two recoveries never ran'
        time.sleep(0.01)
    assert not pool.wait(timeout=0.2)
    assert len(fc.calls_of('list_instances')) == 2
    fc.gate.set()
    assert pool.wait(timeout=60)
    states = [db.get_recovery(r.id).state for r in reports]
    assert states == [db_api.COMPLETED] * 3


def test_pooled_runner_survives_a_recovery_that_raises(make_recoverer, db,
                                                       monkeypatch):
    rec = make_recoverer()
    pool = runner.InProcessRunner(rec, workers=1)
    calls = []

    def broken(recovery_id, detected_by=None):
        calls.append(recovery_id)
        raise RuntimeError('bug')

    monkeypatch.setattr(rec, 'run', broken)
    first = pool.start(HOST, 2)
    assert pool.wait(timeout=30)
    assert calls == [first.id]
    db.update_recovery(first.id, state=db_api.FAILED, active_host=None)
    second = pool.start(HOST, 2)        # the worker is still there
    assert pool.wait(timeout=30)
    assert calls == [first.id, second.id]


def test_job_name_is_per_host_and_recovery():
    assert jobboard.job_name('c1', 'r1') == 'vmha-recovery:c1:r1'
    assert jobboard.job_name('c1', 'r1') == jobboard.job_name('c1', 'r1')
    assert jobboard.job_name('c1', 'r2') != jobboard.job_name('c1', 'r1')


def test_all_monitors_posting_one_failure_make_one_job(make_recoverer, db,
                                                       compute):
    """Every monitor detects the failure; the database admits one."""
    board = _board()
    monitors = [runner.JobboardRunner(make_recoverer(), board)
                for _ in range(3)]
    report = monitors[0].start(HOST, detected_by='nova')
    for other in monitors[1:]:
        with pytest.raises(exception.RecoveryInProgress):
            other.start(HOST)
    [job] = board.board.jobs
    assert job.name == jobboard.job_name(HOST, report.id)
    assert job.details == {'recovery_id': report.id, 'host': HOST,
                           'detected_by': 'nova'}
    assert report.state == db_api.PENDING
    assert [r.id for r in db.list_recoveries()] == [report.id]
    assert compute.calls == []          # nothing ran here


def test_post_failure_keeps_the_recovery_for_reposting(make_recoverer, db,
                                                       caplog):
    board = _board(fail=jobboard.tf_exc.JobFailure('redis is down'))
    with caplog.at_level(logging.ERROR):
        report = runner.JobboardRunner(make_recoverer(), board).start(HOST)
    assert db.get_recovery(report.id).state == db_api.PENDING
    assert 'recorded but not posted' in caplog.text


def test_resume_all_reposts_only_ownerless_recoveries_without_job(
        make_recoverer, db):
    board = _board(claim_timeout=1.0)
    db.create_recovery('lost', HOST, 2)
    db.create_recovery('owned', 'hostB', 2)
    db.take_lease('owned', 'conductor-1', 60)
    db.create_recovery('posted', 'hostC', 2)
    board.post('hostC', 'posted')
    _age(db, ('lost', 'owned', 'posted'), seconds=5)
    reports = runner.JobboardRunner(make_recoverer(), board).resume_all()
    assert [r.id for r in reports] == ['lost']
    assert sorted(board.recovery_ids()) == ['lost', 'posted']


def _age(db, recovery_ids, seconds):
    """Pretend the recoveries were recorded ``seconds`` ago."""
    past = db_api.utcnow() - db_api.datetime.timedelta(seconds=seconds)
    for rid in recovery_ids:
        db.update_recovery(rid, created_at=past)


# -- board configuration ------------------------------------------------------

def test_redis_board_conf():
    conf = jobboard.board_conf(
        'redis://:s%40cret@10.0.0.5:6380/2?socket_timeout=9', 'cloud', 30)
    assert conf == {'board': 'redis', 'host': '10.0.0.5', 'port': 6380,
                    'namespace': 'cloud', 'password': 's@cret', 'db': '2',
                    'socket_timeout': '9', 'socket_connect_timeout': 5.0}


def test_zookeeper_board_conf_session_is_the_claim_timeout():
    conf = jobboard.board_conf('zookeeper://z1:2181,z2:2181', 'cloud', 12.5)
    assert conf == {'board': 'zookeeper', 'hosts': 'z1:2181,z2:2181',
                    'path': '/cloud/jobs', 'timeout': 12.5,
                    'check_compatible': False}


def test_unknown_board_scheme_is_a_config_error():
    with pytest.raises(exception.ConfigError) as err:
        jobboard.board_conf('etcd3+http://127.0.0.1:2379', 'cloud', 30)
    assert 'redis:// or zookeeper://' in str(err.value)


def test_redis_claims_expire_zookeeper_claims_are_left_alone():
    redis = _board()
    assert isinstance(redis.for_conductor(), jobboard.ExpiringClaims)
    zookeeper = jobboard.Board(FakeTaskflowBoard(), 'zookeeper://z:1', 30,
                               expiring=False)
    assert zookeeper.for_conductor() is zookeeper.board
    assert zookeeper.keepalive(FakeJob('j', 'n', {}), 'me') is None


class RepostingCompute(fakes.FakeCompute):
    """While the recovery evacuates (its lease live), the recovery looks old
    and a monitor's reconciler runs: it must not post it again."""

    def __init__(self, db, board):
        super().__init__()
        self.db, self.board = db, board
        self.reposted = None

    def evacuate(self, iid, target_host=None, on_shared_storage=False):
        rec = self.db.list_recoveries()[0]
        _age(self.db, [rec.id], seconds=3600)
        self.reposted = self.board.repost_orphans(self.db)
        return super().evacuate(iid, target_host, on_shared_storage)


def test_reconciler_never_reposts_a_recovery_a_manual_run_holds(
        make_recoverer, db):
    """vmha-manage evacuate (a plain Recoverer) next to monitors on a
    jobboard: its recovery has no job, but a live lease."""
    board = _board(claim_timeout=1.0)
    compute = RepostingCompute(db, board)
    compute.add_instance('i1')
    report = make_recoverer(compute=compute).recover(HOST, level=2)
    assert report.state == db_api.COMPLETED
    assert compute.reposted == []
    assert board.board.jobs == []


def test_orphans_exclude_live_leases_however_old(db):
    db.create_recovery('old-but-owned', HOST, 2)
    db.take_lease('old-but-owned', 'cli:1', 60)
    db.update_recovery('old-but-owned', created_at=db_api.utcnow()
                       - db_api.datetime.timedelta(days=1))
    assert db.orphaned_recoveries(grace=1.0) == []
    db.update_recovery('old-but-owned', lease_expires_at=db_api.utcnow()
                       - db_api.datetime.timedelta(seconds=5))
    assert [r.id for r in db.orphaned_recoveries(grace=1.0)] == [
        'old-but-owned']


class CountingCompute(fakes.FakeCompute):
    """Counts evacuations in flight: requested and not yet landed."""

    def __init__(self, **kwargs):
        super().__init__(rebuild_polls=3, **kwargs)
        self.in_flight = 0
        self.most = 0

    def evacuate(self, iid, target_host=None, on_shared_storage=False):
        result = super().evacuate(iid, target_host, on_shared_storage)
        with self.mutex:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        return result

    def observe(self, iid):
        before = self.instances[iid]['host']
        inst = super().observe(iid)
        if before != inst.host:          # it just landed
            with self.mutex:
                self.in_flight -= 1
        return inst


def test_evacuations_in_flight_are_bounded_across_recoveries(
        make_recoverer, db, conf):
    """Issue 13: a rack failing runs several recoveries at once; together
    they never have more than [evacuation] max_in_flight evacuations in
    flight."""
    conf.set_override('max_in_flight', 2, 'evacuation')
    conf.set_override('max_workers', 4, 'evacuation')
    fc = CountingCompute(hosts=('h1', 'h2', 'h3', 'spare'))
    for host in ('h1', 'h2', 'h3'):
        db.add_host(inventory.HostSpec(name=host))
        for n in range(4):
            fc.add_instance('%s-%d' % (host, n), host=host)
    pool = runner.InProcessRunner(make_recoverer(compute=fc), workers=3)
    reports = [pool.start(host, 2) for host in ('h1', 'h2', 'h3')]
    assert pool.wait(timeout=120)
    assert [db.get_recovery(r.id).state for r in reports] == [
        db_api.COMPLETED] * 3
    assert len(fc.calls_of('evacuate')) == 12
    assert fc.most == 2
