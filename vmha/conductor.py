"""The conductor every vmha-monitor runs when a jobboard is configured.

:class:`RecoveryConductor` is taskflow's ``nonblocking`` conductor: it claims
jobs (Redis claims expire, see vmha/jobboard.py), runs up to ``[monitor]
max_recoveries`` at once, consumes a job whose recovery ended and abandons
one it could not finish, so that another conductor claims it. Only the
dispatch differs: the job names a recovery recorded in vmha's database, and
the Recoverer runs it, from its first step if it never started, else resumed
from its last completed step (taskflow SQL persistence in the same database).

Per job:

1. keep the claim alive while working on it (Redis);
2. run the recovery through :meth:`vmha.recovery.Recoverer.run`, which
   takes its ownership lease (vmha/ownership.py) and checks it before every
   change to Nova or a BMC; while another live process holds the lease (a
   conductor whose claim expired while it still works, a ``vmha-manage
   evacuate``), wait for it to end or die;
3. consume the job once the recovery is final, else abandon it.

:class:`ConductorService` runs the conductor in a thread beside a reconciler
that posts a job again for each recovery nobody has owned for
``claim_timeout`` (its job was lost with a backend restart, or its monitor
died between recording and posting it).
"""

import threading

from oslo_log import log as logging
from taskflow.conductors.backends import impl_nonblocking

from vmha import exception
from vmha import ownership
from vmha import states

LOG = logging.getLogger(__name__)

#: seconds between two looks at the board when it has no job for us
_WAIT_TIMEOUT = 0.5


def conductor_name():
    """Unique per process: claims and leases are per conductor."""
    return ownership.process_owner()


class RecoveryConductor(impl_nonblocking.NonBlockingConductor):
    """Claims recovery jobs and runs them through a Recoverer."""

    def __init__(self, name, board, recoverer, max_recoveries):
        super().__init__(name, board.for_conductor(),
                         wait_timeout=_WAIT_TIMEOUT,
                         max_simultaneous_jobs=max_recoveries)
        self.board = board
        self.recoverer = recoverer
        self.ttl = board.claim_timeout
        self._stopping = threading.Event()

    @property
    def name(self):
        return self._name

    def stop(self):
        self._stopping.set()
        super().stop()

    def _dispatch_job(self, job):
        """Run the job's recovery; True consumes the job, False abandons
        it (another conductor, or this one, claims it again)."""
        details = job.details or {}
        recovery_id = details.get('recovery_id')
        if not recovery_id:
            LOG.error('Job %s (%s) names no recovery: discarding it',
                      job.uuid, job.name)
            return True
        try:
            return self._run(job, recovery_id, details.get('detected_by'))
        except (ownership.OwnershipLost, exception.RecoveryTakenOver) as lost:
            LOG.warning('Abandoning job %s: %s', job.uuid, lost)
        except exception.NotFound as err:
            LOG.error('Job %s: %s; discarding it', job.uuid, err)
            return True
        except exception.VmhaError as err:
            LOG.error('Recovery %s interrupted (%s); abandoning its job for '
                      'another try', recovery_id, err)
        return False

    def _run(self, job, recovery_id, detected_by):
        """Run the recovery once its lease is free (waiting while a live
        owner holds it); True once it is final."""
        keep = [k for k in (self.board.keepalive(job, self._name),) if k]
        while True:
            try:
                report = self.recoverer.run(recovery_id,
                                            detected_by=detected_by,
                                            keep_alive=keep)
                break
            except exception.RecoveryTakenOver:
                raise
            except exception.RecoveryOwned as owned:
                LOG.info('%s; conductor %s waits for it to end or die',
                         owned, self._name)
            if self._stopping.wait(self.ttl / 3.0):
                return self._final(recovery_id)
            for extend in keep:
                extend()
        LOG.info('Recovery %s of host %s ended %s (conductor %s, job %s)',
                 report.id, report.host, report.state, self._name, job.uuid)
        return report.state in states.FINAL_STATES

    def _final(self, recovery_id):
        return (self.recoverer.db.get_recovery(recovery_id).state
                in states.FINAL_STATES)


class ConductorService:
    """A RecoveryConductor and its reconciler in background threads."""

    def __init__(self, conf, recoverer, board, name=None):
        self.recoverer = recoverer
        self.board = board
        self.conductor = RecoveryConductor(
            name or conductor_name(), board, recoverer,
            conf.monitor.max_recoveries)
        self._stop = threading.Event()
        self._threads = []

    def start(self):
        for target, label in ((self.conductor.run, 'conductor'),
                              (self._reconcile_loop, 'reconciler')):
            thread = threading.Thread(target=target, daemon=True,
                                      name='vmha-%s' % label)
            thread.start()
            self._threads.append(thread)
        LOG.info('Conductor %s claiming recovery jobs',
                 self.conductor.name)
        return self

    def _reconcile_loop(self):
        while not self._stop.wait(self.board.claim_timeout):
            try:
                self.board.repost_orphans(self.recoverer.db)
            except exception.VmhaError as err:
                LOG.error('Reconciling recovery jobs failed: %s', err)

    def stop(self, timeout=None):
        """Stop claiming; recoveries already running are finished first."""
        self._stop.set()
        self.conductor.stop()
        for thread in self._threads:
            thread.join(timeout)


def serve(conf, runner):
    """Start this process's conductor when ``runner`` posts jobs; return
    the ConductorService, or None (in-process runner: nothing to claim)."""
    board = getattr(runner, 'board', None)
    if board is None:
        return None
    return ConductorService(conf, runner.recoverer, board).start()
