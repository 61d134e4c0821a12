"""Capacity: evacuations Nova found no room for wait, and are retried.

Nova refuses an evacuation for lack of capacity with NoValidHost, rarely at
once (the API answers "No valid host was found"), usually after accepting it:
the conductor's scheduler finds no host, sets the evacuation migration to
``error``, the instance to vm_state ERROR with the fault "No valid host was
found..." (nova/conductor/manager.py, ``rebuild_instance``), and leaves it on
the failed host, where nothing runs it. Then vmha:

* evacuates it to a reserved host (:mod:`vmha.reserved`) when the inventory
  has a free one;
* otherwise records the evacuation ``waiting`` (its recovery ends
  ``completed_with_errors``; ``vmha-manage recovery show`` lists it with
  Nova's answer) and notifies ``vmha.instance.evacuate.waiting``;
* retries waiting evacuations (:func:`retry_waiting`) when a host returns to
  service (``vmha-manage host reinstate``), when Nova reports a compute service
  newly enabled and up (:func:`capacity_changed`), on a bounded back-off
  (:func:`next_retry`, ``[capacity] retry_*``), and on demand
  (``vmha-manage recovery retry``). :class:`RetryScheduler` is the monitor's
  hook for the two automatic triggers.

A retry restores the state the instance had before the failure, recorded by
the first attempt (``original_vm_state``), never the ERROR Nova set since:
it first resets such an instance to active (from microversion 2.95 Nova
brings an evacuated instance up stopped unless it is in ERROR: a stopped
instance left in ERROR would boot), then evacuates, confirms and restores the
state exactly as a recovery does (the same EvacuateInstance task).

Retries of one recovery never run twice at once, in any number of processes:
they hold the recovery's ownership lease (:mod:`vmha.ownership`), whose expiry
frees it if the retrying process dies; the task's own checks (is it already
being rebuilt, did an evacuate request reach Nova) make a resumed retry safe.
"""

import collections
import concurrent.futures
import datetime
import functools
import uuid

from oslo_log import log as logging

from vmha import compute as compute_mod
from vmha.db import api as db_api
from vmha import events
from vmha import exception
from vmha import metrics
from vmha import ownership
from vmha import reserved
from vmha import states
from vmha import threads

LOG = logging.getLogger(__name__)

NO_VALID_HOST = 'no valid host was found'

TRIGGER_MANUAL = 'manual'
TRIGGER_HOST_RECOVERED = 'host-recovered'
TRIGGER_CAPACITY = 'capacity-changed'
TRIGGER_BACKOFF = 'backoff'


def is_no_valid_host(err):
    """Did Nova refuse (or give up) an evacuation for lack of room?"""
    return NO_VALID_HOST in str(err).lower()


# -- the NoValidHost branch of EvacuateInstance -------------------------

def no_room(task, err):
    """What an EvacuateInstance ``task`` does when Nova found no host
    (``err``): evacuate to a reserved host, or record the instance waiting.
    Returns the task's result."""
    ctx = task.ctx
    tried = list(task.entry.get('tried_hosts') or ())
    tried.append(task.entry.get('target_host'))
    spare = reserved.room_for(ctx, [h for h in tried if h])
    if spare is None:
        return _wait(task, err)
    LOG.info('Recovery %s: evacuating instance %s to reserved host %s',
             ctx.recovery_id, task.instance_id, spare)
    reset_error(ctx, task.instance_id, task.entry['vm_state'])
    task.entry = dict(task.entry, target_host=spare, tried_hosts=tried)
    return task.execute()


def _wait(task, err):
    ctx = task.ctx
    row = ctx.db.get_evacuation(ctx.recovery_id, task.instance_id)
    now = db_api.utcnow()
    since = row.waiting_since or now
    retry_at = next_retry(ctx.conf.capacity, row.retries or 0, since, now)
    reason = 'no capacity (%s); %s' % (
        err, 'next automatic retry at %sZ' % retry_at.isoformat(
            timespec='seconds') if retry_at else
        'no more automatic retries (retry when capacity returns or with '
        'vmha-manage recovery retry)')
    LOG.warning('Recovery %s: instance %s waits for capacity: %s',
                ctx.recovery_id, task.instance_id, reason)
    ctx.db.save_evacuation(ctx.recovery_id, task.instance_id,
                           status=states.EVAC_WAITING, reason=reason,
                           waiting_since=since, next_retry_at=retry_at)
    ctx.emit(events.INSTANCE_EVACUATE_WAITING, instance_id=task.instance_id,
             instance_name=task.entry.get('name'), error=str(err),
             original_vm_state=row.original_vm_state,
             retries=row.retries or 0,
             next_retry_at=retry_at.isoformat() if retry_at else None)
    return {'id': task.instance_id, 'status': states.EVAC_WAITING,
            'error': str(err)}


def next_retry(conf, retries, since, now):
    """When to retry automatically after ``retries`` retries of an
    evacuation waiting since ``since``: an exponential back-off from
    ``retry_interval`` up to ``retry_max_interval``; None once
    ``retry_max_attempts`` or ``retry_max_age`` is reached."""
    if conf.retry_max_attempts and retries >= conf.retry_max_attempts:
        return None
    delay = min(conf.retry_interval * 2 ** min(retries, 32),
                conf.retry_max_interval)
    when = now + datetime.timedelta(seconds=delay)
    if conf.retry_max_age and when > since + datetime.timedelta(
            seconds=conf.retry_max_age):
        return None
    return when


def reset_error(ctx, instance_id, original):
    """Set an instance Nova put in ERROR (NoValidHost) back to active before
    it is evacuated again, unless it was in ERROR before the failure.

    Best effort: Nova evacuates ERROR instances too, and the task restores
    the original state after landing; a failed reset only means a stopped
    instance may run briefly at its destination.
    """
    try:
        inst = ctx.compute.get_instance(instance_id)
        if (inst.vm_state == compute_mod.VM_ERROR and original !=
                compute_mod.VM_ERROR and inst.task_state is None
                and inst.host == ctx.host.name):
            ctx.compute.reset_state(instance_id, compute_mod.VM_ACTIVE)
    except exception.VmhaError as err:
        LOG.warning('Instance %s: cannot reset its ERROR state before '
                    'evacuating it again: %s', instance_id, err)


# -- what changed in Nova ---------------------------------------------------

def hosts_with_room(services):
    """Compute hosts the scheduler may use: enabled, up, not forced down."""
    return {svc.host for svc in services
            if svc.status == 'enabled' and not svc.is_down
            and not svc.forced_down}


def capacity_changed(before, after):
    """Does ``after`` (a list of compute.Service) have a usable host that
    ``before`` had not (a new compute, or one enabled or up again)?"""
    return bool(hosts_with_room(after) - hosts_with_room(before))


# -- retries ------------------------------------------------------------------

def retry_waiting(recoverer, host=None, recovery_id=None, due=None,
                  trigger=TRIGGER_MANUAL):
    """Evacuate again the instances waiting for capacity; return the
    RecoveryReport of each recovery retried.

    ``recoverer`` gives conf, compute, db and dispatcher (a
    :class:`vmha.recovery.Recoverer`). ``host``/``recovery_id``: only the
    recoveries of that failed host / that recovery; ``due`` (naive UTC
    datetime): only evacuations whose automatic retry is due by then.
    Recoveries another process is retrying, or whose host is being
    recovered again, are left alone.
    """
    rows = recoverer.db.waiting_evacuations(host=host,
                                            recovery_id=recovery_id, due=due)
    by_recovery = collections.OrderedDict()
    for row in rows:
        by_recovery.setdefault(row.recovery_id, []).append(row)
    reports = []
    for rid, waiting in by_recovery.items():
        try:
            report = _retry_recovery(recoverer, rid, waiting, trigger)
        except ownership.OwnershipLost as lost:
            LOG.warning('Retry of recovery %s stopped: %s', rid, lost)
            continue
        except exception.VmhaError as err:
            # Nova or the database failing for one recovery: the others
            # still go, and this one waits for the next trigger
            LOG.error('Retry of recovery %s failed: %s', rid, err)
            continue
        if report is not None:
            metrics.recovery_retried(report)
            reports.append(report)
    return reports


def _retry_recovery(recoverer, recovery_id, rows, trigger):
    db = recoverer.db
    rec = db.get_recovery(recovery_id)
    if db.list_recoveries(host=rec.host, states=states.ACTIVE_STATES):
        LOG.info('Not retrying recovery %s: host %s is being recovered '
                 'again, that recovery takes its instances', rec.id,
                 rec.host)
        return None
    lease = ownership.Lease(db, rec.id, '%s/retry-%s' % (
        recoverer.owner, uuid.uuid4().hex[:8]),
        recoverer.conf.jobboard.claim_timeout)
    if not lease.take():
        LOG.info('Recovery %s is being retried elsewhere', rec.id)
        return None
    with lease.kept_alive():
        rows = [row for row in (db.get_evacuation(rec.id, r.instance_id)
                                for r in rows)
                if row.status in _RETRYABLE]
        if not rows:
            return None
        ctx = recoverer.context(rec, lease, fence=False)
        ctx.emit(events.RECOVERY_RETRY_STARTED, instances=len(rows),
                 trigger=trigger)
        if _source_back(ctx):
            for row in rows:
                _left_on_source(ctx, row)
        else:
            _attempt_all(ctx, rows)
        _close(ctx)
    from vmha import recovery   # recovery imports the task modules
    return recovery.RecoveryReport.load(db, rec.id)


_RETRYABLE = (states.EVAC_WAITING, states.EVAC_IN_PROGRESS)


def _source_back(ctx):
    """Is the failed host in service again? Nova refuses to evacuate from a
    host whose compute service is up."""
    try:
        svc = ctx.compute.get_service(ctx.host.name)
    except exception.ComputeServiceNotFound:
        return False
    return not (svc.is_down or svc.forced_down)


def _left_on_source(ctx, row):
    reason = ('the failed host %s is back in service: the instance stays '
              'there (Nova does not evacuate from a live host); check it '
              'and start it by hand' % ctx.host.name)
    ctx.db.save_evacuation(ctx.recovery_id, row.instance_id,
                           status=states.EVAC_FAILED, reason=reason,
                           next_retry_at=None)
    ctx.emit(events.INSTANCE_EVACUATE_FAILED, instance_id=row.instance_id,
             instance_name=row.instance_name, error=reason)


def _attempt_all(ctx, rows):
    workers = min(len(rows), ctx.conf.evacuation.max_workers)
    with concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix='retry') as pool:
        for future in [pool.submit(_attempt, ctx, row) for row in rows]:
            future.result()


def _attempt(ctx, row):
    # the task modules import this one: import here, not at the top
    from vmha.tasks import evacuation
    ctx.db.save_evacuation(ctx.recovery_id, row.instance_id,
                           retries=(row.retries or 0) + 1,
                           next_retry_at=None)
    entry = {'id': row.instance_id, 'name': row.instance_name,
             'vm_state': row.original_vm_state}
    reset_error(ctx, row.instance_id, row.original_vm_state)
    return evacuation.EvacuateInstance(ctx, entry).execute()


def _close(ctx):
    """The recovery's state from its evacuation records again."""
    from vmha.tasks import record
    rows = ctx.db.list_evacuations(ctx.recovery_id)
    state, counts = record.summarize(rows)
    confirmed = [r.confirmed_at for r in rows if r.confirmed_at]
    ctx.db.update_recovery(ctx.recovery_id, state=state,
                           last_confirmed_at=max(confirmed) if confirmed
                           else None)
    if state == states.COMPLETED:
        ctx.emit(events.RECOVERY_COMPLETED, state=state, **counts)
    else:
        ctx.emit(events.RECOVERY_COMPLETED_WITH_ERRORS, state=state,
                 error=record.left_behind(rows), **counts)


# -- the monitor's hook -----------------------------------------------------

class RetryScheduler:
    """Automatic retries, for the monitor: call :meth:`tick` once per poll.

    Each tick costs one database query while nothing waits. When something
    does, it compares Nova's compute services with the previous tick's
    (``services`` if the caller listed them already, else it lists them):
    a host newly usable retries every waiting evacuation, otherwise those
    whose back-off is due are retried. Retries run in one background thread
    (``background=False``: in the caller's), so detection never waits for
    them; a tick while it runs does nothing.
    """

    def __init__(self, recoverer, background=True, clock=db_api.utcnow):
        self.recoverer = recoverer
        self.background = background
        self._clock = clock
        self._services = None
        self._thread = None

    @property
    def busy(self):
        return self._thread is not None and self._thread.is_alive()

    def tick(self, services=None):
        """Start the retries due now; return the trigger used, or None."""
        if self.busy:
            return None
        now = self._clock()
        waiting = self.recoverer.db.waiting_evacuations()
        if not waiting:
            self._services = None
            return None
        trigger = self._trigger(waiting, services, now)
        if trigger is None:
            return None
        due = None if trigger == TRIGGER_CAPACITY else now
        if not self.background:
            self._run(due, trigger)
            return trigger
        self._thread = threads.spawn(functools.partial(self._run, due,
                                                       trigger),
                                     name='vmha-capacity-retry')
        return trigger

    def _trigger(self, waiting, services, now):
        try:
            services = (services if services is not None
                        else self.recoverer.compute.list_services())
        except exception.VmhaError as err:
            LOG.warning('Capacity retries: cannot list compute services: '
                        '%s', err)
            services = None
        if services is not None:
            before, self._services = self._services, services
            if before is not None and capacity_changed(before, services):
                return TRIGGER_CAPACITY
        if any(row.status == states.EVAC_IN_PROGRESS or (
                row.next_retry_at is not None and row.next_retry_at <= now)
               for row in waiting):
            return TRIGGER_BACKOFF
        return None

    def _run(self, due, trigger):
        try:
            retry_waiting(self.recoverer, due=due, trigger=trigger)
        except exception.VmhaError as err:
            LOG.error('Capacity retries failed: %s', err)

    def join(self, timeout=None):
        if self._thread is not None:
            self._thread.join(timeout)
