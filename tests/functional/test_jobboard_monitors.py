"""Several vmha-monitor processes share recoveries through a jobboard.

Two real monitors (their conductors included) on one database and one Redis
or ZooKeeper jobboard; Nova and the BMCs are one file all processes share
(see tests/functional/jobboard_cluster.py). A host fails: exactly one
recovery runs; the monitor running it is SIGKILLed after each step in turn,
or the coordination backend restarts under it: the other monitor finishes
the recovery and Nova's log shows every instance evacuated exactly once.
"""

import subprocess
import time

import pytest

from vmha import exception
from vmha import jobboard

from tests.functional import dbs
from tests.functional import jobboard_cluster as jc
from tests.functional import peers

BACKENDS = ('redis', 'zookeeper')
#: step -> (slow calls of the fake cloud, "the step is done" check); a
#: step is done once persisted (killed between Nova's answer and that, a
#: step runs again: at-least-once, which the tasks' checks make harmless)
KILL_POINTS = {
    'after-fence': ({'force_down': 2.0},
                    lambda c: c.step_done('fence-host')),
    'after-force-down': ({'disable': 2.0},
                         lambda c: c.step_done('force-down-service')),
    'mid-evacuation': ({}, lambda c: c.nova.calls('evacuate')),
}


@pytest.fixture(params=BACKENDS)
def board_server(request):
    return request.getfixturevalue('%s_server' % request.param)


@pytest.fixture
def make_cluster(tmp_path, board_server, sqlite_url):
    made = []

    def make(db_url=None, **kwargs):
        cluster = jc.Cluster(tmp_path, board_server.url,
                             db_url or sqlite_url, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


def _board_conf(cluster, server):
    return peers.make_conf(jobboard__backend_url=server.url,
                           jobboard__name=cluster.name,
                           jobboard__claim_timeout=jc.CLAIM_TIMEOUT)


def _fail_and_kill_owner(cluster, done):
    """Fail the host; SIGKILL the monitor running the recovery once
    ``done(cluster)``; return the killed process."""
    cluster.nova.fail_host(jc.SOURCE)
    jc.wait_for(lambda: done(cluster), 'the kill point')
    owner = cluster.by_pid(jc.wait_for(cluster.owner_pid, 'an owner'))
    cluster.kill(owner)
    return owner


def _assert_finished_by(cluster, survivor, killed):
    """The survivor made the calls after the kill; none came later from
    the dead process."""
    callers = {call[-2] for call in cluster.nova.calls()}
    assert survivor.pid in callers, cluster.logs()
    assert callers <= {survivor.pid, killed.pid}


# -- one failure, two monitors ------------------------------------------------

@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_two_monitors_one_failure_one_recovery(make_cluster, board_server,
                                               database):
    if database == 'postgresql':
        with dbs.scratch_database('postgresql') as url:
            _one_failure_one_recovery(make_cluster(url), board_server)
    else:
        _one_failure_one_recovery(make_cluster(), board_server)


def _one_failure_one_recovery(cluster, server):
    first, second = cluster.start_monitors()
    cluster.nova.fail_host(jc.SOURCE)
    rec = cluster.wait_final()
    cluster.assert_recovered_exactly_once()
    runs = [m for m in (first, second)
            if 'runs recovery %s' % rec.id in peers.tail(m.log, 10**6)]
    assert len(runs) == 1, cluster.logs()
    jc.wait_for(lambda: not cluster.board_recoveries(
        _board_conf(cluster, server)), 'the job to be consumed')
    cluster.stop()


@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_racing_posts_make_one_job(make_cluster, board_server, database):
    """Four processes record and post the same failure at the same instant:
    one recovery, one job."""
    def race(cluster):
        at = time.time() + 3.0
        procs = [subprocess.Popen(
            cluster.command('post', str(cluster.config), jc.SOURCE,
                            str(at)), cwd=str(jc.ROOT),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for _ in range(4)]
        outputs = sorted(p.communicate(timeout=60)[0].split()[0]
                         for p in procs)
        assert outputs == ['posted', 'refused', 'refused', 'refused']
        rec = cluster.recovery()
        assert cluster.board_recoveries(
            _board_conf(cluster, board_server)) == {rec.id}

    if database == 'postgresql':
        with dbs.scratch_database('postgresql') as url:
            race(make_cluster(url))
    else:
        race(make_cluster())


# -- the monitor running the recovery dies ---------------------------------

@pytest.mark.parametrize('point', sorted(KILL_POINTS))
def test_sigkill_owner_other_monitor_finishes(make_cluster, point):
    delays, done = KILL_POINTS[point]
    cluster = make_cluster(delays=delays, rebuild_seconds=1.5)
    monitors = cluster.start_monitors()
    killed = _fail_and_kill_owner(cluster, done)
    survivor = next(m for m in monitors if m is not killed)
    cluster.wait_final()
    cluster.assert_recovered_exactly_once()
    _assert_finished_by(cluster, survivor, killed)


# -- the coordination backend restarts -------------------------------------

@pytest.mark.parametrize('kill_owner', [False, True],
                         ids=['restart', 'restart-then-kill-owner'])
def test_backend_restart_during_recovery(make_cluster, board_server,
                                         kill_owner):
    """Redis forgets every job and claim; ZooKeeper keeps its data. Either
    way the recovery completes, or is resumed when its owner dies too."""
    cluster = make_cluster(delays={'force_down': 2.0})
    monitors = cluster.start_monitors()
    cluster.nova.fail_host(jc.SOURCE)
    jc.wait_for(lambda: cluster.step_done('fence-host'), 'fencing')
    board_server.restart()
    if kill_owner:
        owner = cluster.by_pid(cluster.owner_pid())
        cluster.kill(owner)
        survivor = next(m for m in monitors if m is not owner)
    cluster.wait_final()
    cluster.assert_recovered_exactly_once()
    if kill_owner:
        _assert_finished_by(cluster, survivor, owner)


# -- an unreachable board -----------------------------------------------------

def test_unreachable_board_is_a_clear_error():
    conf = peers.make_conf(jobboard__backend_url=(
                               'redis://:Sup3rSecret@127.0.0.1:16219'),
                           jobboard__claim_timeout=1.0)
    with pytest.raises(exception.CoordinationError) as err:
        jobboard.Board.connect(conf)
    assert '127.0.0.1:16219' in str(err.value)
    assert 'failed to connect' in str(err.value)
    assert 'Sup3rSecret' not in str(err.value)
