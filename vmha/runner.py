"""How a recovery gets run: here and now, or as a job for any monitor.

The monitor starts every recovery through a runner (:func:`get_runner`):

* :class:`InProcessRunner` (no ``[jobboard] backend_url``, the embedded
  default): the monitor's own Recoverer runs it at once, in the calling
  thread. No Redis, no ZooKeeper.
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

from oslo_log import log as logging

from vmha import exception
from vmha import jobboard
from vmha import recovery

LOG = logging.getLogger(__name__)


class InProcessRunner:
    """Run each recovery now, in this process (one monitor)."""

    def __init__(self, recoverer):
        self.recoverer = recoverer

    def start(self, host, level=None, detected_at=None, detected_by=None):
        """Recover ``host``; return its final RecoveryReport."""
        return self.recoverer.recover(host, level, detected_at=detected_at,
                                      detected_by=detected_by)

    def resume_all(self):
        """Finish what a crashed process left, now."""
        return self.recoverer.resume_all()

    def close(self):
        pass


class JobboardRunner:
    """Record each recovery, then post it for the monitors' conductors."""

    def __init__(self, recoverer, board):
        self.recoverer = recoverer
        self.board = board

    def start(self, host, level=None, detected_at=None, detected_by=None):
        """Record and post the recovery of ``host``; return its (pending)
        RecoveryReport.

        Raises like :meth:`vmha.recovery.Recoverer.recover` before anything
        is recorded: RecoveryInProgress when another monitor (or an
        operator) recorded this failure first.
        """
        recovery_id = self.recoverer.record(host, level,
                                            detected_at=detected_at)
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

    def close(self):
        self.board.close()


def get_runner(conf, recoverer, board=None):
    """The runner ``conf`` asks for: an empty ``[jobboard] backend_url``
    means in-process. ``board`` (a connected :class:`vmha.jobboard.Board`)
    is shared with this process's conductor."""
    if not conf.jobboard.backend_url:
        return InProcessRunner(recoverer)
    return JobboardRunner(recoverer, board or jobboard.Board.connect(conf))
