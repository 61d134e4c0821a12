"""How a recovery gets run: here and now, or as a job for any monitor.

The monitor starts every recovery through a runner (:func:`get_runner`):

* :class:`InProcessRunner` (no ``[jobboard] backend_url``, the embedded
  default): the monitor's own Recoverer runs it in this process, on a pool
  of ``[monitor] max_recoveries`` daemon threads, so that detection goes on
  while recoveries run (without a pool, in the calling thread: tests and
  embedding services that want the report). No Redis, no ZooKeeper.
* :class:`JobboardRunner`: records the recovery in the shared database and
  posts one job on the jobboard; the conductor (vmha/conductor.py) of
  whichever monitor claims the job runs it.

One job per host failure, however many monitors see it. Every monitor keeps
detecting, and all of them call :meth:`JobboardRunner.start` for the same
failure; the database decides which one posts: recording a recovery inserts
a row whose unique ``active_host`` column admits one active recovery per
host, so exactly one insert wins and the others get RecoveryInProgress. The
winner posts the job named after that recovery
(:func:`vmha.jobboard.job_name`): one incident, one job. Why this rather than
tooz leader election: the shared database exists anyway (it holds the flow
state) and its unique constraint is atomic on SQLite, MySQL and PostgreSQL;
no leader means no hand-over gap when a monitor dies (detection and posting
go on in every monitor); and the same rule stops a manual ``vmha-manage
evacuate`` racing the monitors. Job names alone cannot arbitrate: taskflow
jobboards do not keep names unique (Redis keys jobs by uuid, ZooKeeper by
sequence number), so check-then-post would race.
"""

import functools
import queue
import threading

from oslo_log import log as logging

from vmha import exception
from vmha import jobboard
from vmha import recovery
from vmha import threads

LOG = logging.getLogger(__name__)


class InProcessRunner:
    """Run each recovery in this process: now, or on a bounded pool.

    With ``workers`` (the monitor's ``max_recoveries``), :meth:`start`
    records the recovery at once -- so the next poll sees it active and the
    database's one-active-recovery rule holds -- and a pool thread runs it;
    failed hosts beyond the pool's size wait, recorded, for a free thread.
    The threads are daemons: SIGTERM never waits for a recovery, which
    resumes from its persisted state when a monitor starts again.
    """

    def __init__(self, recoverer, workers=None):
        self.recoverer = recoverer
        self._queue = queue.Queue() if workers else None
        self._busy = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        for number in range(workers or 0):
            threads.spawn(self._work, name='vmha-recovery-%d' % number)

    def start(self, host, level=None, detected_at=None, detected_by=None,
              host_stopped=False, watchdog=None):
        """Recover ``host``: its final RecoveryReport without a pool, its
        pending one with."""
        if self._queue is None:
            return self.recoverer.recover(
                host, level, detected_at=detected_at, detected_by=detected_by,
                host_stopped=host_stopped, watchdog=watchdog)
        recovery_id = self.recoverer.record(host, level,
                                            detected_at=detected_at,
                                            host_stopped=host_stopped,
                                            watchdog=watchdog)
        self._submit(recovery_id, lambda: self.recoverer.run(
            recovery_id, detected_by=detected_by))
        return recovery.RecoveryReport.load(self.recoverer.db, recovery_id)

    def resume_all(self):
        """Finish what a crashed process left: now without a pool, on the
        pool with (their pending reports are returned)."""
        if self._queue is None:
            return self.recoverer.resume_all()
        reports = []
        for rec in self.recoverer.db.unfinished_recoveries():
            self._submit(rec.id, functools.partial(
                self.recoverer.resume_when_free, rec.id))
            reports.append(recovery.RecoveryReport.load(self.recoverer.db,
                                                        rec.id))
        return reports

    def _submit(self, recovery_id, run):
        with self._lock:
            self._busy += 1
        self._queue.put((recovery_id, run))

    def _work(self):
        while True:
            recovery_id, run = self._queue.get()
            try:
                run()
            except exception.RecoveryOwned as owned:
                LOG.warning('Not running recovery %s: %s', recovery_id, owned)
            except Exception:
                LOG.exception('Recovery %s stopped with an error; it stays '
                              'unfinished and is resumed later', recovery_id)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._idle.notify_all()

    def wait(self, timeout=None):
        """Wait until no recovery is running or waiting; True if so."""
        with self._lock:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self):
        pass


class JobboardRunner:
    """Record each recovery, then post it for the monitors' conductors."""

    def __init__(self, recoverer, board):
        self.recoverer = recoverer
        self.board = board

    def start(self, host, level=None, detected_at=None, detected_by=None,
              host_stopped=False, watchdog=None):
        """Record and post the recovery of ``host``; return its (pending)
        RecoveryReport.

        Raises like :meth:`vmha.recovery.Recoverer.recover` before anything
        is recorded: RecoveryInProgress when another monitor (or an
        operator) recorded this failure first.
        """
        recovery_id = self.recoverer.record(host, level,
                                            detected_at=detected_at,
                                            host_stopped=host_stopped,
                                            watchdog=watchdog)
        try:
            self.board.post(host, recovery_id, detected_by)
        except exception.CoordinationError as err:
            # recorded, so not lost: a conductor posts it again once the
            # recovery has been ownerless for [jobboard] claim_timeout
            LOG.error('Recovery %s of host %s is recorded but not posted '
                      '(%s); a conductor will post it again', recovery_id,
                      host, err)
        return recovery.RecoveryReport.load(self.recoverer.db, recovery_id)

    def resume_all(self):
        """Post a job for each unfinished recovery that has neither an
        owner nor a job; return their reports. Conductors finish them."""
        return [recovery.RecoveryReport.load(self.recoverer.db, rid)
                for rid in self.board.repost_orphans(self.recoverer.db)]

    def wait(self, timeout=None):
        """Nothing runs here: the conductors run the jobs."""
        return True

    def close(self):
        self.board.close()


def get_runner(conf, recoverer, board=None):
    """The runner ``conf`` asks for: an empty ``[jobboard] backend_url``
    means in-process. ``board`` (a connected :class:`vmha.jobboard.Board`)
    is shared with this process's conductor."""
    if not conf.jobboard.backend_url:
        return InProcessRunner(recoverer, conf.monitor.max_recoveries)
    return JobboardRunner(recoverer, board or jobboard.Board.connect(conf))
