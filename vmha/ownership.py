"""Who runs a recovery: an ownership lease in vmha's database.

A jobboard claim says which conductor should run a job, but a claim can end
while its holder still runs: a pause longer than the claim's expiry, or the
coordination backend restarted and forgot it. Then a second conductor claims
the job. The lease is what keeps the two from both acting on the cloud:

* a conductor runs a recovery only once it holds the lease (an atomic
  conditional UPDATE of the recovery's row, so on every database backend
  exactly one of two contenders wins);
* it renews the lease in the background while the recovery runs, and
  renews-and-checks it right before every change it makes to Nova or a BMC
  (:class:`Guarded`);
* a conductor that finds its lease taken over raises :class:`OwnershipLost`
  and stops without reverting anything: the new owner resumes the recovery
  from its persisted state, and the tasks check Nova before acting.

Every run of a recovery takes the lease, whoever starts it (a conductor, the
in-process monitor, ``vmha-manage evacuate`` or ``recovery resume``, the
Python API): :meth:`vmha.recovery.Recoverer.run` is the one way in. A
recovery whose lease a live owner holds is refused (RecoveryOwned); a lease
whose owner stopped renewing it expires and is taken over. Owners are named
per process (:func:`process_owner`), and within one process a lease is held
by one :class:`Lease` at a time, so two threads of one process cannot both
run a recovery either.

The remaining window (a stall between the check and the request itself longer
than the lease) is covered by the tasks' own idempotence checks.
"""

import contextlib
import os
import socket
import threading

from oslo_log import log as logging

from vmha import exception

LOG = logging.getLogger(__name__)

#: ComputeAPI methods that change something in Nova
COMPUTE_CHANGES = frozenset(('force_down', 'disable', 'enable', 'evacuate',
                             'start', 'stop', 'reset_state', 'lock',
                             'unlock', 'add_to_aggregate'))
#: FencingDriver methods that change a host's power
FENCING_CHANGES = frozenset(('power_off', 'power_on'))


#: (database URL, recovery id, owner) -> the Lease of this process holding it
_HELD = {}
_HELD_LOCK = threading.Lock()


def process_owner():
    """``host:pid``: unique per process, so that two processes on one host
    (a monitor and vmha-manage) are two owners."""
    return '%s:%d' % (socket.gethostname(), os.getpid())


class OwnershipLost(BaseException):
    """This process no longer owns the recovery: stop, change nothing.

    Not an Exception on purpose: a task failure makes taskflow revert the
    flow (unset force-down, re-enable the service), which would undo the new
    owner's work. Like a killed process, it leaves the recovery as it is.
    """


class Lease:
    """The lease of one recovery, held by ``owner`` for ``ttl`` seconds."""

    def __init__(self, db, recovery_id, owner, ttl):
        self.db = db
        self.recovery_id = recovery_id
        self.owner = owner
        self.ttl = ttl
        self._lost = threading.Event()

    def take(self):
        """True if ``owner`` holds the lease now (nobody else does).

        Taking it (again) starts a new tenure: a loss seen before is over.
        False as well while another Lease object of this process, of the
        same owner, holds it (the database cannot tell the two apart).
        """
        key = self._key()
        with _HELD_LOCK:
            if _HELD.get(key, self) is not self:
                return False
            taken = self.db.take_lease(self.recovery_id, self.owner, self.ttl)
            if taken:
                _HELD[key] = self
                self._lost.clear()
        return taken

    def _key(self):
        return (self.db.url, self.recovery_id, self.owner)

    def check(self):
        """Renew the lease; raise OwnershipLost unless it is still ours."""
        if not self._lost.is_set() and self._renew():
            return
        raise OwnershipLost('recovery %s is no longer owned by %s'
                            % (self.recovery_id, self.owner))

    def _renew(self):
        try:
            held = self.db.renew_lease(self.recovery_id, self.owner,
                                       self.ttl)
        except exception.DatabaseError as err:
            LOG.error('Recovery %s: cannot confirm ownership: %s',
                      self.recovery_id, err)
            return False
        if not held:
            self._lost.set()
            LOG.error('Recovery %s was taken over by another monitor: %s '
                      'stops working on it', self.recovery_id, self.owner)
        return held

    def release(self):
        """Give the lease up (unless another Lease of this process holds
        it: that one is not ours to give)."""
        key = self._key()
        with _HELD_LOCK:
            if _HELD.get(key, self) is not self:
                return
            _HELD.pop(key, None)
        try:
            self.db.release_lease(self.recovery_id, self.owner)
        except exception.DatabaseError as err:
            LOG.warning('Recovery %s: could not release its lease (it '
                        'expires by itself): %s', self.recovery_id, err)

    @contextlib.contextmanager
    def kept_alive(self, also=()):
        """Renew every ttl/3 (and call each of ``also``) until the block
        ends; then release the lease."""
        stop = threading.Event()
        thread = threading.Thread(target=self._keep_alive,
                                  args=(stop, also), daemon=True,
                                  name='lease-%s' % self.recovery_id[:8])
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.release()

    def _keep_alive(self, stop, also):
        while not stop.wait(self.ttl / 3.0) and not self._lost.is_set():
            self._renew()
            for extend in also:
                _quietly(extend)


def _quietly(call):
    """Run a keep-alive callback; a failure is logged, never raised."""
    try:
        call()
    except Exception as err:  # the next round tries again
        LOG.warning('Keep-alive %s failed: %s', call, err)


class Guarded:
    """``target`` whose ``changes`` methods check ``lease`` before running.

    Everything else passes through unchanged.
    """

    def __init__(self, target, changes, lease):
        self._target = target
        self._changes = changes
        self._lease = lease

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if name not in self._changes:
            return attr

        def checked(*args, **kwargs):
            self._lease.check()
            return attr(*args, **kwargs)

        return checked
