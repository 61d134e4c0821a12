"""Ownership leases, the side-effect guard and the conductor's dispatch."""

import threading

import pytest

from vmha import api
from vmha import conductor
from vmha.db import api as db_api
from vmha import exception
from vmha import ownership
from tests.unit import fakes
from tests.unit.conftest import HOST


def _lease(db, owner, recovery_id='r1', ttl=30):
    return ownership.Lease(db, recovery_id, owner, ttl)


@pytest.fixture
def recorded(db):
    db.create_recovery('r1', HOST, 2)
    return 'r1'


# -- leases -------------------------------------------------------------------

def test_one_owner_at_a_time(db, recorded):
    first, second = _lease(db, 'c1'), _lease(db, 'c2')
    assert first.take()
    assert not second.take()
    assert first.take()                    # taking again is renewing
    first.check()
    first.release()
    assert second.take()
    with pytest.raises(ownership.OwnershipLost):
        first.check()


def test_expired_lease_is_taken_over_and_the_old_owner_stops(db, recorded):
    stalled = _lease(db, 'c1', ttl=0.01)
    assert stalled.take()
    db.update_recovery('r1', lease_expires_at=db_api.utcnow()
                       - db_api.datetime.timedelta(seconds=1))
    assert _lease(db, 'c2').take()
    with pytest.raises(ownership.OwnershipLost):
        stalled.check()


def test_kept_alive_renews_then_releases(db, recorded):
    """Event-driven, no wall-clock bound: the keep-alive callback runs right
    after a renewal, so once it ran the expiry has moved."""
    lease = _lease(db, 'c1', ttl=0.3)
    assert lease.take()
    renewed = threading.Event()
    with lease.kept_alive(also=[renewed.set]):
        before = db.get_recovery('r1').lease_expires_at
        assert renewed.wait(30)
        assert db.get_recovery('r1').lease_expires_at > before
    assert db.get_recovery('r1').lease_owner is None


def test_one_holder_per_owner_within_a_process(db, recorded):
    """Two threads of one process share an owner name: the database cannot
    tell them apart, the process can."""
    first, second = _lease(db, 'c1'), _lease(db, 'c1')
    assert first.take()
    assert not second.take()
    second.release()                       # not the holder: changes nothing
    assert db.get_recovery('r1').lease_owner == 'c1'
    first.release()
    assert second.take()
    second.release()


def test_guard_checks_only_changes(db, recorded):
    compute = fakes.FakeCompute()
    lease = _lease(db, 'c1')
    guarded = ownership.Guarded(compute, ownership.COMPUTE_CHANGES, lease)
    guarded.get_service(HOST)              # a read: no lease needed
    with pytest.raises(ownership.OwnershipLost):
        guarded.disable(HOST, 'x')
    assert compute.calls_of('disable') == []
    lease.take()
    guarded.disable(HOST, 'x')
    assert len(compute.calls_of('disable')) == 1


# -- a recovery whose owner lost its lease ------------------------------------

class TakeoverCompute(fakes.FakeCompute):
    """Another conductor takes the recovery over while force-down runs."""

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    def force_down(self, host, forced=True):
        svc = super().force_down(host, forced)
        rec = self.db.list_recoveries()[0]
        self.db.update_recovery(rec.id, lease_owner='c2')
        return svc


def test_lost_lease_stops_without_reverting(make_recoverer, db):
    compute = TakeoverCompute(db)
    compute.add_instance('i1')
    recoverer = make_recoverer(compute=compute)
    recovery_id = recoverer.record(HOST)
    with pytest.raises(exception.RecoveryTakenOver) as err:
        recoverer.run(recovery_id)
    assert recovery_id in str(err.value) and 'taken over' in str(err.value)
    assert [c[0] for c in compute.calls if c[0] in (
        'force_down', 'disable', 'enable', 'evacuate')] == ['force_down']
    assert compute.services[HOST]['forced_down']        # not reverted
    assert db.get_recovery(recovery_id).state == db_api.RUNNING
    assert db.get_recovery(recovery_id).lease_owner == 'c2'   # not released

    db.release_lease(recovery_id, 'c2')
    report = make_recoverer(compute=compute).run(recovery_id)
    assert report.state == db_api.COMPLETED
    assert len(compute.calls_of('evacuate')) == 1
    assert len(compute.calls_of('disable')) == 1


# -- every run holds the lease ------------------------------------------------

class LeaseSpy(fakes.FakeCompute):
    """Notes who holds the recovery's lease when Nova is asked to evacuate."""

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db
        self.holders = []

    def evacuate(self, iid, target_host=None, on_shared_storage=False):
        rec = self.db.list_recoveries()[0]
        self.holders.append((rec.lease_owner,
                             rec.lease_expires_at > db_api.utcnow()))
        return super().evacuate(iid, target_host, on_shared_storage)


@pytest.mark.parametrize('how', ['recover', 'resume', 'resume_all', 'api'])
def test_every_way_to_run_holds_then_releases_the_lease(
        make_recoverer, conf, db, dispatcher, driver, host_spec, how):
    db.add_host(host_spec)        # vmha recovers inventory hosts only
    spy = LeaseSpy(db)
    spy.add_instance('i1')
    if how == 'recover':
        report = make_recoverer(compute=spy).recover(HOST, level=2)
    elif how == 'api':
        report = api.recover_host(conf, HOST, level=2, compute=spy, db=db,
                                  dispatcher=dispatcher,
                                  fencing_driver=driver, owner='embedder')
    else:
        recovery_id = make_recoverer(compute=spy).record(HOST, level=2)
        recoverer = make_recoverer(compute=spy)
        report = (recoverer.resume(recovery_id) if how == 'resume'
                  else recoverer.resume_all()[0])
    assert report.state == db_api.COMPLETED, report.error
    owner = 'embedder' if how == 'api' else 'unit-test'
    assert spy.holders == [(owner, True)]
    assert db.get_recovery(report.id).lease_owner is None


def test_a_recovery_a_live_owner_runs_is_refused(make_recoverer, db,
                                                 compute, driver):
    compute.add_instance('i1')
    recovery_id = make_recoverer().record(HOST, level=2)
    assert _lease(db, 'monitor-7:42', recovery_id).take()
    for run in (make_recoverer().run, make_recoverer().resume):
        with pytest.raises(exception.RecoveryOwned) as err:
            run(recovery_id)
        assert 'monitor-7:42' in str(err.value)
        assert recovery_id in str(err.value)
    [report] = make_recoverer().resume_all(wait=False)   # left to it
    assert report.state == db_api.PENDING
    assert compute.calls == [] and driver.calls == []
    assert db.get_recovery(recovery_id).lease_owner == 'monitor-7:42'


def test_a_dead_owners_recovery_is_taken_over(make_recoverer, db, compute):
    compute.add_instance('i1')
    recovery_id = make_recoverer().record(HOST, level=2)
    assert _lease(db, 'dead:1', recovery_id).take()
    db.update_recovery(recovery_id, lease_expires_at=db_api.utcnow()
                       - db_api.datetime.timedelta(seconds=1))
    report = make_recoverer().run(recovery_id)
    assert report.state == db_api.COMPLETED
    assert len(compute.calls_of('evacuate')) == 1


def test_a_finished_recovery_is_reported_without_a_lease(make_recoverer, db,
                                                         compute):
    report = make_recoverer().recover(HOST, level=2)
    assert _lease(db, 'other', report.id).take()
    again = make_recoverer().run(report.id)          # no RecoveryOwned
    assert again.to_dict() == report.to_dict()


def test_owner_defaults_to_host_and_pid(make_recoverer):
    import os
    owner = make_recoverer(owner=None).owner
    assert owner == ownership.process_owner()
    assert owner.endswith(':%d' % os.getpid())


# -- the conductor's dispatch -------------------------------------------------

class Job:
    def __init__(self, details):
        self.uuid = 'job-1'
        self.name = 'vmha-recovery'
        self.details = details


class Board:
    claim_timeout = 0.3

    def for_conductor(self):
        return self

    def keepalive(self, job, who):
        return None


@pytest.fixture
def make_conductor(make_recoverer):
    def make(name='c1'):
        return conductor.RecoveryConductor(name, Board(), make_recoverer(),
                                           max_recoveries=2)
    return make


def test_dispatch_runs_the_recovery_then_consumes(make_conductor, compute,
                                                  db, recorded):
    compute.add_instance('i1')
    assert make_conductor()._dispatch_job(Job({'recovery_id': 'r1'}))
    rec = db.get_recovery('r1')
    assert rec.state == db_api.COMPLETED and rec.lease_owner is None
    assert len(compute.calls_of('evacuate')) == 1


def test_dispatch_of_a_finished_recovery_only_consumes(make_conductor,
                                                      compute, db, recorded):
    db.update_recovery('r1', state=db_api.COMPLETED)
    assert make_conductor()._dispatch_job(Job({'recovery_id': 'r1'}))
    assert compute.calls == []


def test_dispatch_waits_for_a_live_owner_and_abandons_on_stop(
        make_conductor, compute, db, recorded):
    assert _lease(db, 'c2').take()
    waiting = make_conductor()
    threading.Timer(0.2, waiting.stop).start()
    assert not waiting._dispatch_job(Job({'recovery_id': 'r1'}))
    assert compute.calls == []
    assert db.get_recovery('r1').lease_owner == 'c2'


def test_dispatch_discards_a_job_without_recovery(make_conductor):
    assert make_conductor()._dispatch_job(Job({}))


def test_dispatch_waits_for_a_manual_run_then_consumes(make_conductor,
                                                       compute, db, recorded):
    """A vmha-manage evacuate holds the lease: the conductor that claimed the
    (reposted) job does nothing until it ended, then consumes the job."""
    manual = _lease(db, 'vmha-manage:99')
    assert manual.take()

    def finish():
        db.update_recovery('r1', state=db_api.COMPLETED)
        manual.release()

    timer = threading.Timer(0.3, finish)
    timer.start()
    assert make_conductor()._dispatch_job(Job({'recovery_id': 'r1'}))
    timer.join()
    assert compute.calls == []


def test_dispatch_abandons_a_recovery_taken_over(make_recoverer, db,
                                                recorded):
    """Lost mid-run: abandon the job (the new owner's conductor has it),
    do not wait to consume it."""
    compute = TakeoverCompute(db)
    compute.add_instance('i1')
    waiting = conductor.RecoveryConductor(
        'c1', Board(), make_recoverer(compute=compute), max_recoveries=2)
    assert not waiting._dispatch_job(Job({'recovery_id': 'r1'}))
    assert [c[0] for c in compute.calls if c[0] in (
        'force_down', 'evacuate')] == ['force_down']
    assert db.get_recovery('r1').lease_owner == 'c2'


def _expire(db, recovery_id):
    db.update_recovery(recovery_id, lease_expires_at=db_api.utcnow()
                       - db_api.datetime.timedelta(seconds=1))


@pytest.mark.parametrize('owner_alive', [False, True])
def test_restarted_monitor_waits_for_its_dead_predecessors_lease(
        make_recoverer, db, compute, monkeypatch, owner_alive):
    """An in-process monitor restarted right after a crash: the recovery
    its predecessor ran is still leased. It waits for the lease to expire
    and resumes it, unless the owner is alive and renewed it."""
    from vmha import recovery as recovery_mod
    from vmha import runner
    compute.add_instance('i1')
    recovery_id = make_recoverer().record(HOST, level=2)
    assert _lease(db, 'host:4242', recovery_id, ttl=20).take()
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        if owner_alive:
            db.renew_lease(recovery_id, 'host:4242', 20)
        else:
            _expire(db, recovery_id)

    monkeypatch.setattr(recovery_mod, '_sleep', sleep)
    [report] = runner.InProcessRunner(make_recoverer()).resume_all()
    assert len(slept) == 1 and 19 < slept[0] <= 30 + 1
    if owner_alive:
        assert report.state == db_api.PENDING
        assert compute.calls == []
    else:
        assert report.state == db_api.COMPLETED
        assert len(compute.calls_of('evacuate')) == 1
