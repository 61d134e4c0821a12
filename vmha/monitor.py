"""Watch compute hosts and recover those that fail.

Each poll (``[monitor] poll_interval``, or sooner when a suspicion is due to
settle) the monitor asks every detection source what it sees, applies the
rule of :mod:`vmha.detection.decision` (vetoes, second signal, mass-failure
guard) and starts a recovery for each host declared failed, always through
:meth:`Monitor._start_recovery`.

Detection time is recorded with each recovery: ``detected_at`` is when a
failure signal was first seen (a heartbeat membership expired, or Nova first
reported the service down), ``started_at`` is when the monitor declared the
failure; ``vmha-manage recovery show`` prints both, and the log line that
declares a failure gives the difference.

Recoveries start through a runner (vmha/runner.py): in the polling thread,
one after the other (the default), or as jobboard jobs that the conductors of
all monitors share (``[jobboard] backend_url``).
"""

import datetime
import time

from oslo_log import log as logging

from vmha.db import api as db_api
from vmha import detection
from vmha.detection import base
from vmha.detection import bmc as bmc_mod
from vmha.detection import decision
from vmha import events
from vmha import exception
from vmha import flows
from vmha import inventory
from vmha import runner as runner_mod

LOG = logging.getLogger(__name__)

#: wake a little after a settle time ends, not just before it
_SETTLE_MARGIN = 0.01


def _utc(timestamp):
    """Naive UTC datetime (the database's convention) of a clock time."""
    return datetime.datetime.fromtimestamp(
        timestamp, datetime.timezone.utc).replace(tzinfo=None)


class Monitor:
    """The detection loop; recovers through a :class:`Recoverer`.

    ``sources`` and ``bmc`` (a BMCProbe) are built from ``conf`` unless
    given.
    """

    def __init__(self, conf, recoverer, sources=None, bmc=None,
                 clock=time.time, runner=None):
        self.conf = conf
        self.recoverer = recoverer
        self.runner = runner or runner_mod.InProcessRunner(recoverer)
        self._clock = clock
        self.sources = (sources if sources is not None else
                        detection.load_sources(conf,
                                               compute=recoverer.compute,
                                               clock=clock))
        self.bmc = bmc or bmc_mod.BMCProbe(conf)
        self._mass_hosts = set()
        self._waiting = set()
        self.checks = 0

    @property
    def db(self):
        return self.recoverer.db

    # -- one poll -----------------------------------------------------------

    def observe(self):
        """{host: HostView} from every source that answers."""
        reports = {}
        for source in self.sources:
            try:
                observed = source.observe()
            except exception.VmhaError as err:
                LOG.error('Detection source %s failed: %s', source.name, err)
                continue
            reports.setdefault(source.signal, {}).update(observed)
        return decision.combine(reports)

    def suspects(self, views):
        """The views of hosts suspected failed and not in maintenance."""
        return {host: view for host, view in views.items()
                if decision.is_suspect(view) and not self._maintenance(host)}

    def check_once(self):
        """Look once; recover what failed. Returns the recovery reports."""
        self.checks += 1
        views = self.observe()
        suspects = self.suspects(views)
        self._waiting &= set(suspects)
        if self._mass_failure(len(views), suspects):
            return []
        reports = (self._consider(suspects[host]) for host in sorted(suspects))
        return [report for report in reports if report is not None]

    def _maintenance(self, host):
        spec = self.db.find_host(host)
        return spec is not None and spec.maintenance

    def should_recover(self, host):
        """No unfinished recovery, and no failed one younger than
        ``retry_failed_after``."""
        last = self.db.list_recoveries(host=host, limit=1)
        if not last:
            return True
        last = last[0]
        if last.state in db_api.ACTIVE_STATES:
            return False
        if last.state == db_api.FAILED and last.finished_at:
            age = db_api.utcnow() - last.finished_at
            return age.total_seconds() >= self.conf.monitor.retry_failed_after
        return True

    def _consider(self, view):
        if not self.should_recover(view.name):
            return None
        spec = self.db.find_host(view.name) or inventory.HostSpec(
            name=view.name)
        level = flows.effective_level(self.conf, spec)
        reason = decision.judge(view, level, lambda: self.bmc.answer(spec))
        if reason is None:
            self._note_waiting(view)
            return None
        return self._declare(view, level, reason)

    def _note_waiting(self, view):
        """Say once that a lost heartbeat lacks its second signal."""
        if (view.heartbeat_state != base.LOST
                or view.name in self._waiting):
            return
        self._waiting.add(view.name)
        LOG.warning('Host %s: heartbeat lost but no second signal (Nova: %s, '
                    'BMC does not answer); not recovering it yet', view.name,
                    view.service_state or 'unknown')

    def _declare(self, view, level, reason):
        first_seen = view.first_seen
        LOG.warning('Host %s declared failed: %s; first seen %.2fs ago; '
                    'recovering at level %d', view.name, reason,
                    self._clock() - first_seen, level)
        return self._start_recovery(view.name, level, _utc(first_seen),
                                    reason)

    def _start_recovery(self, host, level, detected_at, detected_by):
        """Start the recovery of ``host``: the monitor's only way to.

        Returns its RecoveryReport, or None when it could not start (the
        host is already being recovered, its fencing driver is missing...):
        the other failed hosts must still be recovered.
        """
        try:
            return self.runner.start(host, level, detected_at=detected_at,
                                     detected_by=detected_by)
        except exception.Conflict as err:
            LOG.info('Not recovering %s: %s', host, err)
        except exception.VmhaError as err:
            LOG.error('Cannot recover %s: %s', host, err)
        return None

    # -- mass-failure guard -------------------------------------------------

    def _mass_failure(self, total, suspects):
        """Apply the mass-failure guard; True while it holds."""
        if self._mass_hosts & set(suspects):
            return True
        self._mass_hosts = set()
        now = self._clock()
        window = self.conf.monitor.mass_failure_window
        recent = sorted(host for host, view in suspects.items()
                        if now - view.first_seen <= window)
        if not decision.mass_failure(
                len(recent), total, self.conf.monitor.max_failed_hosts_percent,
                self.conf.monitor.max_failed_hosts):
            return False
        self._mass_hosts = set(recent)
        LOG.error('Mass failure: %d of %d compute hosts suspected failed '
                  '(%s); NOT evacuating, waiting for an operator',
                  len(recent), total, ', '.join(recent))
        self.recoverer.dispatcher.emit(events.Event(
            events.MASS_FAILURE, host=','.join(recent),
            payload={'down': len(recent), 'total': total}))
        return True

    # -- loop ---------------------------------------------------------------

    def next_delay(self):
        """Seconds until the next poll: the interval, or less when a
        source's state is due to change sooner."""
        delay = self.conf.monitor.poll_interval
        changes = [c for c in (s.next_change() for s in self.sources)
                   if c is not None]
        if changes:
            due = min(changes) - self._clock() + _SETTLE_MARGIN
            delay = min(delay, max(_SETTLE_MARGIN, due))
        return delay

    def run(self, stop):
        """Resume what a crash left, then watch until ``stop`` (a
        threading.Event) is set."""
        for report in self.runner.resume_all():
            LOG.info('Resumed recovery %s of %s: %s', report.id, report.host,
                     report.state)
        while not stop.is_set():
            try:
                self.check_once()
            except exception.VmhaError as err:
                LOG.error('Monitor check failed: %s', err)
            stop.wait(self.next_delay())

    def close(self):
        for source in self.sources:
            source.close()
