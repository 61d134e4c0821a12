"""Watch compute hosts and recover those that fail.

Each poll (``[monitor] poll_interval``, or sooner when a suspicion is due to
settle) the monitor asks every detection source what it sees -- each under
``[monitor] source_timeout``, so a source that stalls is "unknown" for that
poll instead of stalling detection -- applies the rule of
:mod:`vmha.detection.decision` (vetoes, two signals, mass-failure guard),
notifies agents lost on live hosts, and starts a recovery for each host
declared failed, always through :meth:`Monitor._start_recovery`.

Detection time is recorded with each recovery: ``detected_at`` is when a
failure signal was first seen (a heartbeat membership expired, or
nova-compute's last report), ``started_at`` is when the monitor declared the
failure; ``vmha-manage recovery show`` prints both, and the log line that
declares a failure gives the difference.

An armed host (its agent reported a watchdog, :mod:`vmha.watchdog`) whose
heartbeat is lost is declared with the watchdog evidence: its recovery may
count it fenced once its watchdog has certainly fired, if its BMC cannot
confirm power-off. A host whose inventory entry requires a watchdog and
whose agent heartbeats unarmed is notified once (``vmha.agent.watchdog.
missing``).

Recoveries start through a runner (vmha/runner.py): on the monitor's own
bounded pool of recovery threads (the default, ``[monitor]
max_recoveries``), or as jobboard jobs that the conductors of all monitors
share (``[jobboard] backend_url``). Detection never waits for a recovery.
"""

import time

from oslo_log import log as logging

from vmha import capacity
from vmha import coordination
from vmha.db import api as db_api
from vmha import detection
from vmha.detection import base
from vmha.detection import decision
from vmha import events
from vmha import exception
from vmha import flows
from vmha import inventory
from vmha import metrics
from vmha import runner as runner_mod
from vmha import threads
from vmha import watchdog

LOG = logging.getLogger(__name__)

#: wake a little after a settle time ends, not just before it
_SETTLE_MARGIN = 0.01

#: seconds the list of hosts that require a watchdog is kept
_REQUIRED_TTL = 60.0

AGENT_ALIVE = 'alive'
AGENT_LOST = 'lost'


#: naive UTC datetime (the database's convention) of a clock time
_utc = watchdog.to_utc


class Monitor:
    """The detection loop; recovers through a runner.

    ``sources`` are built from ``conf`` unless given; ``runner`` defaults to
    running each recovery at once in the calling thread (tests, ``--once``).
    """

    def __init__(self, conf, recoverer, sources=None, clock=time.time,
                 runner=None):
        self.conf = conf
        self.recoverer = recoverer
        self.runner = runner or runner_mod.InProcessRunner(recoverer)
        self._clock = clock
        self.sources = (sources if sources is not None else
                        detection.load_sources(conf,
                                               compute=recoverer.compute,
                                               clock=clock))
        self.nova_configured = any(source.signal == base.SERVICE
                                   for source in self.sources)
        self._calls = {}          # source name -> its unanswered Call
        self._mass = decision.MassState()   # the mass-failure guard's
        self._refused = set()     # hosts whose recovery could not start
        self._waiting_on_nova = ()  # hosts whose agent is lost, Nova up
        self._views = {}          # the last poll's views (decision.combine)
        # inventory hosts -> what was last recorded about their agent
        self._agents = self.db.host_agents()
        self._agents_lost = {host for host, agent in self._agents.items()
                             if agent == AGENT_LOST}
        self._unarmed = set()     # hosts notified: watchdog required, none
        self._required = (None, frozenset())   # (read at, hosts requiring)
        # evacuations waiting for room are retried beside detection
        self.capacity = capacity.RetryScheduler(recoverer)
        self.checks = 0
        self.failed_sources = []

    @property
    def db(self):
        return self.recoverer.db

    # -- one poll -----------------------------------------------------------

    def observe(self):
        """{host: HostView} from every source that answers in time."""
        reports = {}
        #: the sources that did not answer this poll (vmha-monitor --once
        #: exits non-zero when there is one)
        self.failed_sources = []
        for source in self.sources:
            observed = self._ask(source)
            if observed is not None:
                reports.setdefault(source.signal, {}).update(observed)
            else:
                self.failed_sources.append(source.name)
        self._views = decision.combine(reports, self._views)
        return self._views

    def _ask(self, source):
        """``source.observe()`` under the deadline, or None (unknown).

        A source still busy with an earlier poll is not asked again: its
        hosts stay unknown until that call returns.
        """
        call = self._calls.get(source.name)
        timeout = 0 if call is not None else self.conf.monitor.source_timeout
        if call is None:
            call = threads.Call(source.observe,
                                name='vmha-source-%s' % source.name)
            self._calls[source.name] = call
        try:
            return call.result(timeout)
        except threads.DeadlineExceeded:
            LOG.error('Detection source %s has not answered for %.1fs or '
                      'more; what it watches is unknown this poll',
                      source.name, self.conf.monitor.source_timeout)
            return None
        except exception.VmhaError as err:
            LOG.error('Detection source %s failed: %s', source.name, err)
            return None
        except Exception:
            LOG.exception('Detection source %s failed', source.name)
            return None
        finally:
            if call.done:
                del self._calls[source.name]

    def verdicts(self, views):
        """{host: Verdict} for the hosts the rule says something about."""
        judged = ((host, decision.judge(view, self.nova_configured))
                  for host, view in views.items())
        return {host: verdict for host, verdict in judged if verdict}

    def check_once(self):
        """Look once; recover what failed. Returns the recovery reports."""
        self.checks += 1
        views = self.observe()
        suspects = decision.suspects(views)
        verdicts = self.verdicts(suspects)
        metrics.poll_observed(views, verdicts)
        self._note_agents(views, verdicts)
        self._note_unarmed(views)
        self._waiting_on_nova = decision.waiting_on_nova(suspects)
        records = {host: self._record(host)
                   for host, verdict in verdicts.items()
                   if verdict.kind == decision.FAILED}
        now = db_api.utcnow()
        failed = {host: verdicts[host] for host, record in records.items()
                  if decision.veto(record, now,
                                   self.conf.monitor.retry_failed_after)
                  is None}
        if self._mass_failure(len(views), failed):
            return []
        reports = (self._declare(views[host], failed[host],
                                 records[host].spec)
                   for host in sorted(failed))
        reports = [report for report in reports if report is not None]
        self._retry_waiting()
        # notifications a killed process recorded but never sent
        self.recoverer.dispatcher.redeliver()
        return reports

    def _retry_waiting(self):
        """Retry evacuations that wait for room, when it came back or
        their back-off is due (vmha.capacity; in its own thread)."""
        try:
            self.capacity.tick()
        except exception.VmhaError as err:
            LOG.error('Could not look for evacuations waiting for room: %s',
                      err)

    def _record(self, host):
        """What the database says about a failed ``host`` (the vetoes of
        vmha.detection.decision): its inventory entry read once, its
        latest recovery, and its state only when the rule needs it."""
        spec = self.db.find_host(host)
        last = self.db.list_recoveries(host=host, limit=1)
        last = last[0] if last else None
        state = (self.db.host_state(host)
                 if spec is not None and decision.needs_state(last) else None)
        return decision.Record(spec=spec, state=state, last=last)

    def _declare(self, view, verdict, spec):
        spec = spec or inventory.HostSpec(name=view.name)
        level = flows.effective_level(self.conf, spec)
        first_seen = view.first_seen
        self._mass = self._mass.declare(view.name, self._clock())
        metrics.host_declared(verdict)
        LOG.warning('Host %s declared failed: %s; first seen %.2fs ago; '
                    'recovering at level %d', view.name, verdict.reason,
                    self._clock() - first_seen, level)
        return self._start_recovery(view.name, level, _utc(first_seen),
                                    verdict, self._watchdog_evidence(view))

    def _watchdog_evidence(self, view):
        """The watchdog evidence of a host whose heartbeat is lost and
        whose agent was armed when last seen alive, else None (no proof
        but the BMC's)."""
        armed = view.heartbeat.watchdog if view.heartbeat else None
        if view.heartbeat_state != base.LOST or not armed:
            return None
        evidence = watchdog.Evidence.from_report(
            armed, armed.get('last_alive'), self._clock(),
            coordination.expiry(self.conf), self.conf.watchdog.margin)
        LOG.info('Host %s: its agent had armed a watchdog (%s, %ss); if '
                 'its BMC cannot confirm power-off it counts as reset from '
                 '%s on', view.name, armed.get('driver'), armed['timeout'],
                 evidence.expires_at_utc.isoformat(timespec='seconds'))
        return evidence

    def _start_recovery(self, host, level, detected_at, verdict,
                        evidence=None):
        """Start the recovery of ``host``: the monitor's only way to.

        Returns its RecoveryReport, or None when it could not start (the
        host is already being recovered, cannot be fenced...): the other
        failed hosts must still be recovered.
        """
        try:
            report = self.runner.start(host, level, detected_at=detected_at,
                                       detected_by=verdict.reason,
                                       host_stopped=verdict.host_stopped,
                                       watchdog=evidence)
        except exception.Conflict as err:
            LOG.info('Not recovering %s: %s', host, err)
        except exception.VmhaError as err:
            if host not in self._refused:
                LOG.error('Cannot recover %s: %s', host, err)
            self._refused.add(host)
        else:
            self._refused.discard(host)
            return report
        return None

    # -- agents lost on live hosts -------------------------------------------

    def _note_agents(self, views, verdicts):
        """Notify once when a live host's agent is lost, and when it is
        back; nothing else is done about it. Inventory hosts also record
        their agent's state for ``vmha-manage host list``."""
        for host, verdict in verdicts.items():
            if (verdict.kind == decision.AGENT_LOST
                    and host not in self._agents_lost):
                self._agents_lost.add(host)
                LOG.warning('Host %s: %s; the host is alive: not fencing or '
                            'evacuating it. Restart its vmha-agent.', host,
                            verdict.reason)
                self._record_agent(host, AGENT_LOST)
                self._notify(events.AGENT_LOST, host, reason=verdict.reason)
        # only hosts with something to undo: not a loop over every host
        recorded = {host for host, agent in self._agents.items()
                    if agent != AGENT_ALIVE}
        for host in sorted(self._agents_lost | recorded):
            view = views.get(host)
            if view is None or view.heartbeat_state != base.ALIVE:
                continue
            # recorded before it is notified: a consumer of the event reads
            # the agent alive in `host list`
            if self._agents.get(host, AGENT_ALIVE) != AGENT_ALIVE:
                self._record_agent(host, AGENT_ALIVE)
            if host in self._agents_lost:
                self._agents_lost.discard(host)
                LOG.info('Host %s: vmha-agent heartbeats again', host)
                self._notify(events.AGENT_RECOVERED, host)

    def _note_unarmed(self, views):
        """Notify once when an agent heartbeats unarmed on a host whose
        inventory entry requires a watchdog (again once it re-arms and
        loses it)."""
        required = self._requiring()
        for host in required & views.keys():
            view = views[host]
            if view.heartbeat_state != base.ALIVE:
                continue
            if view.heartbeat.watchdog:
                self._unarmed.discard(host)
                continue
            if host in self._unarmed:
                continue
            self._unarmed.add(host)
            LOG.warning('Host %s requires a watchdog but its vmha-agent '
                        'heartbeats unarmed: if its BMC cannot be reached '
                        'when it fails, it will not be recovered', host)
            self._notify(events.AGENT_WATCHDOG_MISSING, host)

    def _requiring(self):
        """Inventory hosts whose agent must be armed (one query per
        ``_REQUIRED_TTL`` seconds, not one per host and poll)."""
        read_at, hosts = self._required
        now = self._clock()
        if read_at is None or now - read_at >= _REQUIRED_TTL:
            try:
                hosts = frozenset(spec.name for spec, _state in
                                  self.db.list_hosts()
                                  if spec.watchdog_required)
            except exception.VmhaError as err:
                LOG.error('Could not read the inventory: %s', err)
            self._required = (now, hosts)
        return hosts

    def _record_agent(self, host, state):
        if host not in self._agents:
            return
        try:
            self.db.update_host_agent(host, state)
            self._agents[host] = state
        except exception.VmhaError as err:
            LOG.error('Could not record agent state of %s: %s', host, err)

    def _notify(self, event_type, host, **payload):
        self.recoverer.dispatcher.emit(events.Event(event_type, host=host,
                                                    payload=payload))

    # -- mass-failure guard -------------------------------------------------

    def _mass_failure(self, total, failed):
        """Apply the mass-failure guard (vmha.detection.decision) to the
        hosts about to be declared; alert when it trips; True while it
        holds."""
        monitor_conf = self.conf.monitor
        guard = decision.mass_guard(
            self._mass, failed, total, self._clock(),
            monitor_conf.mass_failure_window,
            monitor_conf.max_failed_hosts_percent,
            monitor_conf.max_failed_hosts)
        self._mass = guard.state
        if guard.alert:
            hosts = guard.alert
            LOG.error('Mass failure: %d of %d compute hosts failed within '
                      '%.0fs (%s); NOT evacuating, waiting for an operator',
                      len(hosts), total, monitor_conf.mass_failure_window,
                      ', '.join(hosts))
            self._notify(events.MASS_FAILURE, ','.join(hosts),
                         down=len(hosts), total=total)
        return guard.holds

    # -- loop ---------------------------------------------------------------

    def next_delay(self):
        """Seconds until the next poll: the interval, or less when a
        source's state is due to change sooner (a heartbeat settling, the
        nova-compute record of a host whose agent is gone turning stale)."""
        delay = self.conf.monitor.poll_interval
        changes = [c for c in (s.next_change() for s in self.sources)
                   if c is not None] + self._stale_times()
        if changes:
            due = min(changes) - self._clock() + _SETTLE_MARGIN
            delay = min(delay, max(_SETTLE_MARGIN, due))
        return delay

    def _stale_times(self):
        """When the nova-computes of hosts whose agent is gone would turn
        stale: the second signal is looked at the moment it can agree,
        not up to a poll later."""
        times = []
        for source in self.sources:
            stale_at = getattr(source, 'stale_at', None)
            if stale_at is not None:
                times += [t for t in map(stale_at, self._waiting_on_nova)
                          if t is not None and t > self._clock()]
        return times

    def run(self, stop):
        """Resume what a crash left, then watch until ``stop`` (a
        threading.Event) is set."""
        for report in self.runner.resume_all():
            LOG.info('Resuming recovery %s of %s: %s', report.id,
                     report.host, report.state)
        while not stop.is_set():
            try:
                self.check_once()
            except exception.VmhaError as err:
                LOG.error('Monitor check failed: %s', err)
            stop.wait(self.next_delay())

    def close(self):
        for source in self.sources:
            source.close()
