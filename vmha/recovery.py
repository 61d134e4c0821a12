"""Run, resume and dry-run host recoveries: the one way in.

:class:`Recoverer` is the library's engine room: it records a recovery,
builds the flows for its level, runs them under taskflow engines whose state
is persisted in vmha's database, and resumes recoveries a crashed process
left unfinished (completed steps are never run again).

It is the one entry every caller uses, built once per process by
:func:`from_conf`: the monitor (directly, or through its runner and
conductor, vmha/runner.py and vmha/conductor.py, which only decide *where*
a recorded recovery runs), ``vmha-manage`` and the embedding API
(vmha/api.py). Starting is :meth:`Recoverer.recover` (or
:meth:`Recoverer.record` then :meth:`Recoverer.run`), resuming
:meth:`Recoverer.resume`/:meth:`Recoverer.resume_all`, a dry run
:meth:`Recoverer.dry_run`; capacity retries (vmha/capacity.py) work in the
context :meth:`Recoverer.context` gives.
"""

import dataclasses
import datetime
import time
import uuid

from oslo_log import log as logging
from taskflow import engines
from taskflow.persistence import backends as tf_backends
from taskflow.persistence import models as tf_models
from taskflow import states as tf_states

from vmha import compute as compute_mod
from vmha import conf as vmha_conf
from vmha import confirm
from vmha.db import api as db_api
from vmha import evacuation_plan
from vmha import events
from vmha import exception
from vmha import fencing
from vmha import flows
from vmha import inventory
from vmha import levels
from vmha import metrics
from vmha import notifier
from vmha import ownership
from vmha import pacing
from vmha import service_states
from vmha import states
from vmha import watchdog
from vmha.context import RecoveryContext

LOG = logging.getLogger(__name__)

_FAILED_FLOW_STATES = (tf_states.REVERTED, tf_states.FAILURE,
                       tf_states.REVERT_FAILURE)
#: seconds waited past a lease's expiry before trying to take it over
_LEASE_MARGIN = 0.5
#: how resume_all(wait=True) waits (replaced in unit tests)
_sleep = time.sleep


@dataclasses.dataclass
class RecoveryReport:
    """What a recovery did: state, phase timestamps, per-instance results."""

    id: str
    host: str
    level: int
    state: str
    error: str
    phases: dict
    evacuations: list
    #: what proved the host fenced: bmc-off, watchdog-expiry, or None
    fence_proof: str = None

    @classmethod
    def load(cls, db, recovery_id):
        rec = db.get_recovery(recovery_id)
        evacs = [{'instance_id': e.instance_id, 'name': e.instance_name,
                  'status': e.status, 'original_vm_state': e.original_vm_state,
                  'target_host': e.target_host, 'reason': e.reason,
                  'evacuate_calls': e.evacuate_calls,
                  'issued_at': e.issued_at, 'confirmed_at': e.confirmed_at}
                 for e in db.list_evacuations(recovery_id)]
        return cls(id=rec.id, host=rec.host, level=rec.level,
                   state=rec.state, error=rec.error,
                   phases={p: getattr(rec, p) for p in states.PHASES},
                   evacuations=evacs, fence_proof=rec.fence_proof)

    def to_dict(self):
        data = dataclasses.asdict(self)
        data['phases'] = {k: v.isoformat() if v else None
                          for k, v in self.phases.items()}
        for evac in data['evacuations']:
            for key in ('issued_at', 'confirmed_at'):
                evac[key] = evac[key].isoformat() if evac[key] else None
        return data


@dataclasses.dataclass
class DryRunReport:
    """What a recovery would do, found without changing anything."""

    host: str
    level: int
    fencing_driver: str
    power_state: str
    steps: list
    target_host: str
    instances: list

    def to_dict(self):
        return dataclasses.asdict(self)


def from_conf(conf, **collaborators):
    """The Recoverer of this process: the one factory every caller uses.

    Registers vmha's options on ``conf`` (safe to repeat: an embedding
    service passes its own ConfigOpts). ``collaborators`` (compute, db,
    dispatcher, backend, owner, fencing_driver) replace the ones built from
    ``conf``. Close it (or use it as a context manager) when done.
    """
    vmha_conf.register_opts(conf)
    return Recoverer(conf, **collaborators)


class Recoverer:
    """Recover failed compute hosts; usable embedded or from the CLI.

    Collaborators are built from ``conf`` unless given (tests and embedding
    services pass their own). Build it with :func:`from_conf`.
    """

    def __init__(self, conf, compute=None, db=None, dispatcher=None,
                 backend=None, owner=None, fencing_driver=None):
        self.conf = conf
        self._fencing_driver = fencing_driver
        self.compute = compute or compute_mod.ComputeAPI.from_conf(conf)
        self.db = db or db_api.Database.from_conf(conf)
        #: who records and runs recoveries (and holds their leases)
        self.owner = owner or ownership.process_owner()
        #: events are recorded with the deliveries owed (the outbox)
        self.dispatcher = dispatcher or notifier.from_conf(
            conf, outbox=self.db, owner=self.owner)
        self.backend = backend or tf_backends.fetch(
            db_api.taskflow_conf(self.db.url, self.db.timeout))
        #: seconds a lease lasts unless renewed: a dead owner's recovery is
        #: taken over that long after its last renewal
        self.lease_ttl = conf.jobboard.claim_timeout
        #: the limit on evacuations in flight, and the one watcher that
        #: confirms them, shared by every recovery this Recoverer runs (one
        #: Recoverer per process: monitor, conductor, vmha-manage)
        self.pacer = pacing.Pacer.from_conf(conf)
        self.watcher = confirm.Watcher.from_conf(conf, self.compute)
        self.services = service_states.ServiceStates.from_conf(
            conf, self.compute)

    # -- public -------------------------------------------------------------

    def recover(self, host_name, level=None, detected_at=None,
                recovery_id=None, detected_by=None, host_stopped=False,
                watchdog=None):
        """Recover ``host_name`` now; return its RecoveryReport.

        ``detected_by`` names what detected the failure (e.g.
        ``nova-service-state``); given, the recovery's first event is
        ``vmha.host.failure``, which then carries the recovery's id and
        level, so that a consumer can follow the failure to its outcome.

        Raises RecoveryInProgress if the host already has an unfinished
        recovery, Conflict if it is in maintenance, HostNotFenceable if it
        is not in the inventory or lacks its BMC details, ConfigError for a
        bad level or a fencing driver that cannot be loaded. Failures after the
        recovery is recorded do not raise: they are recorded (state
        ``failed``) and notified.
        """
        recovery_id = self.record(host_name, level, detected_at, recovery_id,
                                  host_stopped=host_stopped,
                                  watchdog=watchdog)
        return self.run(recovery_id, detected_by=detected_by)

    def record(self, host_name, level=None, detected_at=None,
               recovery_id=None, host_stopped=False, watchdog=None):
        """Record the recovery of ``host_name`` (pending); return its id.

        ``host_stopped``: two independent signals said the host itself
        stopped (see vmha.detection.decision); only then does level 1 skip
        fencing. ``watchdog``: the monitor's vmha.watchdog.Evidence (the
        host was armed and its heartbeat lost): fencing may then rest on the
        watchdog when the BMC cannot confirm power-off.

        Raises like :meth:`recover`. A runner that has the recovery run by
        another process (a jobboard conductor) records it, then posts it.
        """
        host = self._host(host_name)
        level = self._level(level, host)
        # a fencing driver that cannot be loaded, a host vmha would fence
        # through defaults (issue 12), or a target policy Nova would apply
        # past its scheduler, is a configuration error: refuse now rather
        # than leave a recorded recovery "running" forever
        fencing.check_fenceable(self.conf, host, self._in_inventory(host),
                                self._driver(host))
        evacuation_plan.check_target_policy(self.conf)
        recovery_id = recovery_id or str(uuid.uuid4())
        self.db.create_recovery(recovery_id, host.name, level,
                                detected_at=detected_at, owner=self.owner,
                                host_stopped=host_stopped, watchdog=watchdog)
        return recovery_id

    def run(self, recovery_id, detected_by=None, keep_alive=()):
        """Run a recorded recovery under its ownership lease; return its
        RecoveryReport. The one way to run a recovery: the monitor, the
        conductors, vmha-manage and the Python API all come here.

        From its first step if it never started, else resumed from its last
        completed step; a finished one is only reported. The lease is taken
        first, renewed every ``[jobboard] claim_timeout``/3 (with each of
        ``keep_alive``, e.g. a job claim) while the recovery runs, checked
        before every change to Nova or a BMC, and released at the end.

        Raises NotFound; RecoveryOwned while another live process holds the
        lease (nothing is done); RecoveryTakenOver when the lease was lost
        while running (this process stopped, reverting nothing: the new
        owner goes on).
        """
        if self.db.get_recovery(recovery_id).state in states.FINAL_STATES:
            return RecoveryReport.load(self.db, recovery_id)
        lease = ownership.Lease(self.db, recovery_id, self.owner,
                                self.lease_ttl)
        if not lease.take():
            raise self._owned(recovery_id)
        LOG.info('%s runs recovery %s', self.owner, recovery_id)
        try:
            with lease.kept_alive(also=keep_alive):
                return self._run_owned(recovery_id, detected_by, lease)
        except ownership.OwnershipLost:
            raise exception.RecoveryTakenOver(
                recovery_id=recovery_id, owner=self.owner, ttl=self.lease_ttl,
                host=self.db.get_recovery(recovery_id).host) from None

    def resume(self, recovery_id):
        """Finish a recovery a dead process left; completed steps are kept.
        Same as :meth:`run` (refused while a live owner runs it)."""
        return self.run(recovery_id)

    def resume_all(self, wait=True):
        """Resume every unfinished recovery that no live process runs;
        return their reports.

        ``wait`` (a monitor starting, the API): a recovery whose lease is
        still live is tried once more when that lease expires (at most
        ``claim_timeout`` later). A monitor restarted right after it crashed
        finds its dead predecessor's lease still running, and nothing else
        would resume that recovery. A live owner renews its lease and keeps
        the recovery. vmha-manage does not wait.

        One recovery that cannot go on (its host deleted from the
        inventory, Nova refusing) must not strand the others behind it: it
        is logged and reported as it stands.
        """
        reports = []
        for rec in self.db.unfinished_recoveries():
            try:
                reports.append(self.resume_when_free(rec.id, wait))
            except exception.RecoveryOwned as owned:
                LOG.warning('Not resuming: %s', owned)
                reports.append(RecoveryReport.load(self.db, rec.id))
            except exception.VmhaError as exc:
                LOG.error('Cannot resume recovery %s of host %s: %s',
                          rec.id, rec.host, exc)
                reports.append(RecoveryReport.load(self.db, rec.id))
        return reports

    def resume_when_free(self, recovery_id, wait=True):
        """run(); if ``wait``, once more after a live lease expired (a
        monitor restarted right after its predecessor died finds that
        predecessor's lease still running)."""
        try:
            return self.run(recovery_id)
        except exception.RecoveryOwned:
            if not wait:
                raise
        expires = self.db.get_recovery(recovery_id).lease_expires_at
        left = (expires - db_api.utcnow()).total_seconds() if expires else 0
        LOG.info('Recovery %s is leased for %.1fs more: waiting to see '
                 'whether its owner is alive', recovery_id, max(0, left))
        _sleep(min(max(0.0, left), self.lease_ttl) + _LEASE_MARGIN)
        return self.run(recovery_id)

    def dry_run(self, host_name, level=None):
        """Say what recovering ``host_name`` would do; change nothing."""
        host = self._host(host_name)
        level = self._level(level, host)
        needs_fencing = levels.get(level).fences_first
        driver = self._driver(host)
        fencing.check_fenceable(self.conf, host, self._in_inventory(host),
                                driver)
        driver.validate(host)
        evacuation_plan.check_target_policy(self.conf)
        power = self._probe_power(driver, host)
        plan = evacuation_plan.plan(
            self.compute.list_instances(host.name), self.conf.evacuation)
        return DryRunReport(
            host=host.name, level=level,
            fencing_driver=driver.name if needs_fencing else
            '%s (only if force-down fails)' % driver.name,
            power_state=power, steps=flows.steps(level),
            target_host=evacuation_plan.target_host(self.conf, host.name)
            or '(scheduler)', instances=plan)

    def close(self):
        self.dispatcher.close()
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def context(self, rec, lease, fence=True):
        """The RecoveryContext of recovery ``rec`` (its database row) run
        under ``lease``: every change to Nova or the BMC checks the lease
        first. ``fence=False`` (capacity retries, which only evacuate): no
        fencer at all, so nothing can power a host off, and no fencing
        driver is loaded."""
        host = self._host(rec.host, allow_maintenance=True)
        compute = ownership.Guarded(self.compute, ownership.COMPUTE_CHANGES,
                                    lease)
        fencer = None
        if fence:
            driver = ownership.Guarded(self._driver(host),
                                       ownership.FENCING_CHANGES, lease)
            fencer = fencing.Fencer.from_conf(self.conf, driver)
        return RecoveryContext(
            conf=self.conf, compute=compute, db=self.db,
            dispatcher=self.dispatcher, fencer=fencer, host=host,
            recovery_id=rec.id, level=rec.level,
            host_stopped=bool(rec.host_stopped),
            pacer=self.pacer, watcher=self.watcher, services=self.services,
            watchdog=_evidence(rec) if fence else None)

    # -- internals ----------------------------------------------------------

    def _host(self, name, allow_maintenance=False):
        host = self.db.find_host(name) or inventory.HostSpec(name=name)
        if host.maintenance and not allow_maintenance:
            raise exception.Conflict(
                reason='host %s is in maintenance: not recovering it' % name)
        return host

    def _in_inventory(self, host):
        return self.db.find_host(host.name) is not None

    def _level(self, level, host):
        return flows.effective_level(self.conf, host, level)

    def _driver(self, host):
        return self._fencing_driver or fencing.load_driver(self.conf, host)

    def _owned(self, recovery_id):
        """RecoveryOwned naming the live owner of ``recovery_id``."""
        rec = self.db.get_recovery(recovery_id)
        until = rec.lease_expires_at
        return exception.RecoveryOwned(
            recovery_id=recovery_id, host=rec.host,
            owner=rec.lease_owner or self.owner,
            until=until.isoformat(timespec='seconds') if until else '?')

    def _run_owned(self, recovery_id, detected_by, lease):
        """Run (under ``lease``) from the first step or the last one done."""
        rec = self.db.get_recovery(recovery_id)   # as it is now we own it
        if rec.state in states.FINAL_STATES:
            return RecoveryReport.load(self.db, recovery_id)
        if rec.logbook_id is None and rec.state == states.PENDING:
            ctx, book = self._begin(rec, detected_by, lease)
        else:
            LOG.info('Resuming recovery %s of host %s (level %s)', rec.id,
                     rec.host, rec.level)
            book = self._logbook(rec)
            self.db.update_recovery(recovery_id, state=states.RUNNING,
                                    owner=self.owner)
            ctx = self.context(rec, lease)
        return self._run(ctx, book)

    def _begin(self, rec, detected_by, lease):
        """Mark a pending recovery started; return its context and book."""
        book = self._new_logbook(rec.id)
        self.db.update_recovery(rec.id, logbook_id=book.uuid,
                                state=states.RUNNING, owner=self.owner)
        self.db.mark_phase(rec.id, 'started_at')
        self.db.update_host_state(rec.host, states.HOST_RECOVERING)
        ctx = self.context(rec, lease)
        if detected_by:
            self._emit_detected(ctx, detected_by)
        ctx.emit(events.RECOVERY_STARTED)
        return ctx, book

    def _emit_detected(self, ctx, detected_by):
        """Notify the failure with the detection time as recorded (the
        caller's, or now), which may precede the event by a while."""
        detected_at = self.db.get_recovery(ctx.recovery_id).detected_at
        ctx.emit(events.HOST_FAILURE_DETECTED, source=detected_by,
                 detected_at=detected_at.replace(
                     tzinfo=datetime.timezone.utc).isoformat())

    def _probe_power(self, driver, host):
        try:
            return fencing.Fencer.from_conf(self.conf,
                                            driver).power_state(host)
        except exception.VmhaError as err:
            return 'error: %s' % err

    def _new_logbook(self, recovery_id):
        book = tf_models.LogBook('recovery-%s' % recovery_id)
        with _connection(self.backend) as conn:
            conn.save_logbook(book)
        return book

    def _logbook(self, rec):
        if not rec.logbook_id:
            book = self._new_logbook(rec.id)
            self.db.update_recovery(rec.id, logbook_id=book.uuid)
            return book
        with _connection(self.backend) as conn:
            return conn.get_logbook(rec.logbook_id)

    def _run(self, ctx, book):
        try:
            storage = self._run_flow(book, flows.isolate_flow(ctx),
                                     engine='serial')
            plan = storage.fetch('instance_plan')
            self._run_flow(book, flows.evacuate_flow(ctx, plan),
                           engine='parallel', executor='threaded',
                           max_workers=self.conf.evacuation.max_workers)
        except Exception as err:
            self._fail(ctx, err)
        finally:
            self.dispatcher.flush()
        report = RecoveryReport.load(self.db, ctx.recovery_id)
        metrics.recovery_finished(report)
        return report

    def _run_flow(self, book, flow, **options):
        """Run ``flow`` in ``book``, resuming its persisted state if any."""
        detail = next((fd for fd in book if fd.name == flow.name), None)
        if detail is not None and detail.state in _FAILED_FLOW_STATES:
            raise exception.VmhaError(
                'flow %s of this recovery already ended %s; not running it '
                'again' % (flow.name, detail.state))
        engine = engines.load(flow, flow_detail=detail, book=book,
                              backend=self.backend, **options)
        engine.run()
        return engine.storage

    def _fail(self, ctx, err):
        LOG.error('Recovery %s of host %s failed: %s', ctx.recovery_id,
                  ctx.host.name, err)
        self.db.update_recovery(ctx.recovery_id, state=states.FAILED,
                                error=str(err))
        self.db.mark_phase(ctx.recovery_id, 'finished_at')
        self.db.update_host_state(ctx.host.name, states.HOST_FAILED)
        ctx.emit(events.RECOVERY_FAILED, error=str(err))


def _evidence(rec):
    """The watchdog evidence recorded with ``rec``, or None."""
    if rec.watchdog_expires_at is None or not rec.watchdog_window:
        return None
    return watchdog.Evidence(
        expires_at=watchdog.from_utc(rec.watchdog_expires_at),
        window=rec.watchdog_window)


class _connection:
    """Context manager over a taskflow backend connection."""

    def __init__(self, backend):
        self._conn = backend.get_connection()

    def __enter__(self):
        return self._conn

    def __exit__(self, *exc):
        self._conn.close()
