"""Prometheus metrics of vmha-monitor and vmha-agent.

Every metric is derived from what vmha already records, so that the
metrics, the event log and the notifications cannot disagree:

* the events of :mod:`vmha.events`, as the notifier records them
  (:func:`event_recorded`): evacuation outcomes, notification failures,
  every event by type;
* a recovery's recorded phase timestamps and final state, when its run ends
  (:func:`recovery_finished`): recoveries by level and outcome, and the
  per-phase duration histograms; and when a capacity retry of it ends
  (:func:`recovery_retried`);
* the monitor's poll (:func:`poll_observed`, :func:`host_declared`): hosts
  by state, heartbeats lost, declarations by rule;
* the two kinds of remote call vmha makes in a recovery: Nova
  (:func:`nova_call`, a decorator of :class:`vmha.compute.ComputeAPI`'s
  methods) and BMCs (:func:`bmc_call`).

Updating a metric never raises into vmha's own work. The values live in
:data:`REGISTRY`, in memory; :func:`serving` exposes them over HTTP when
``[metrics]`` enables it (vmha-monitor; vmha-agent with ``agent_enabled``).
A process that does not serve them (vmha-manage) updates them for nothing.
``doc/source/admin/metrics.rst`` documents each metric.
"""

import contextlib
import datetime
import functools
import threading
import time

from oslo_log import log as logging
import prometheus_client as prom

from vmha.detection import base
from vmha.detection import decision
from vmha import events
from vmha import states

LOG = logging.getLogger(__name__)

#: everything vmha exposes (and the process's own CPU, memory, fds)
REGISTRY = prom.CollectorRegistry()
prom.ProcessCollector(registry=REGISTRY)
prom.PlatformCollector(registry=REGISTRY)

#: seconds: a phase of a recovery lasts from about one to many minutes
PHASE_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180,
                 300, 600, 1200, 3600)
#: seconds: one remote call, from milliseconds to its deadline
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                60)

# -- the monitor's view of the hosts ------------------------------------------

#: what the monitor last concluded about each host (vmha_hosts ``state``)
HOST_STATES = ('ok', 'suspect', 'agent_lost', 'failed', 'handled', 'unknown')

HOSTS = prom.Gauge(
    'vmha_hosts', 'Compute hosts by what the last poll concluded about them',
    ['state'], registry=REGISTRY)
HOST_SIGNALS = prom.Gauge(
    'vmha_host_signals', 'Compute hosts by the state each detection signal '
    'reported at the last poll', ['signal', 'state'], registry=REGISTRY)
POLLS = prom.Counter(
    'vmha_monitor_polls', 'Polls of the detection sources',
    registry=REGISTRY)
LAST_POLL = prom.Gauge(
    'vmha_monitor_last_poll_timestamp_seconds',
    'When the monitor last polled its detection sources (Unix time)',
    registry=REGISTRY)
HEARTBEATS_LOST = prom.Counter(
    'vmha_heartbeats_lost', 'Times a host\'s agent heartbeat turned lost '
    '(none for [coordination] heartbeat_timeout)', registry=REGISTRY)
DECLARATIONS = prom.Counter(
    'vmha_host_declarations', 'Hosts declared failed, by the part of the '
    'rule that declared them', ['rule'], registry=REGISTRY)

# -- recoveries ---------------------------------------------------------------

RECOVERIES = prom.Counter(
    'vmha_recoveries', 'Recovery runs that ended, by level and final state',
    ['level', 'outcome'], registry=REGISTRY)
RETRIES = prom.Counter(
    'vmha_recovery_retries', 'Capacity retries of a recovery that ended, '
    'by its level and its state after the retry', ['level', 'outcome'],
    registry=REGISTRY)
PHASE_SECONDS = prom.Histogram(
    'vmha_recovery_phase_seconds', 'Duration of each phase of a recovery, '
    'from its recorded timestamps', ['phase'], buckets=PHASE_BUCKETS,
    registry=REGISTRY)
EVACUATIONS = prom.Counter(
    'vmha_evacuations', 'Instance evacuation outcomes', ['outcome'],
    registry=REGISTRY)
EVENTS = prom.Counter(
    'vmha_events', 'Events recorded (vmha.events), by type',
    ['event_type'], registry=REGISTRY)
NOTIFICATIONS_SENT = prom.Counter(
    'vmha_notifications_sent', 'Events a notification driver delivered',
    ['driver'], registry=REGISTRY)
NOTIFICATION_FAILURES = prom.Counter(
    'vmha_notification_failures', 'Events a notification driver failed to '
    'deliver', ['driver'], registry=REGISTRY)

def recovery_retried(report):
    """A capacity retry (vmha.capacity) of a recovery ended, leaving it in
    ``report.state``: the recovery's first outcome stays counted in
    ``vmha_recoveries_total``, the retry's here, so that a
    ``completed_with_errors`` a retry turned into ``completed`` shows."""
    RETRIES.labels(level=str(report.level), outcome=report.state).inc()


# -- remote calls -------------------------------------------------------------

NOVA_SECONDS = prom.Histogram(
    'vmha_nova_call_seconds', 'Duration of Nova API calls (with '
    'keystoneauth\'s retries)', ['call', 'outcome'], buckets=CALL_BUCKETS,
    registry=REGISTRY)
BMC_SECONDS = prom.Histogram(
    'vmha_bmc_call_seconds', 'Duration of BMC calls of the fencing drivers',
    ['driver', 'operation', 'outcome'], buckets=CALL_BUCKETS,
    registry=REGISTRY)

# -- vmha-agent ---------------------------------------------------------------

AGENT_HEARTBEATS = prom.Counter(
    'vmha_agent_heartbeats', 'Heartbeats vmha-agent sent, by outcome',
    ['outcome'], registry=REGISTRY)
AGENT_LAST_HEARTBEAT = prom.Gauge(
    'vmha_agent_last_heartbeat_timestamp_seconds',
    'When vmha-agent last heartbeat successfully (Unix time)',
    registry=REGISTRY)

OK = 'ok'
ERROR = 'error'

#: evacuation event -> vmha_evacuations ``outcome``
EVACUATION_OUTCOMES = {
    events.INSTANCE_EVACUATED: 'evacuated',
    events.INSTANCE_EVACUATE_FAILED: 'failed',
    events.INSTANCE_SKIPPED: 'skipped',
    events.INSTANCE_HANDED_OVER: 'handed_over',
    events.INSTANCE_EVACUATE_WAITING: 'waiting',
}

#: vmha_recovery_phase_seconds ``phase`` -> (from mark, to mark); "isolated"
#: is the confirmed power-off when it came before the service went down,
#: else the declaration (level 1 fences only if force-down fails)
PHASES = {
    'detection': ('detected_at', 'started_at'),
    'fencing': ('started_at', 'fenced_at'),
    'service_down': ('isolated', 'service_down_at'),
    'first_evacuation': ('detected_at', 'first_evacuation_at'),
    'last_confirmed': ('detected_at', 'last_confirmed_at'),
    'total': ('detected_at', 'finished_at'),
}

_lock = threading.Lock()
_heartbeats = {}       # host -> heartbeat state at the previous poll


def _guarded(func):
    """A metric update that fails is logged, never raised: metrics must not
    break detection or a recovery."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception:
            LOG.exception('Could not update metrics (%s)', func.__name__)
    return wrapper


# -- from the monitor ---------------------------------------------------------

def host_state(view, verdict):
    """One of HOST_STATES for a host of the poll: the rule's verdict
    (before the monitor's vetoes), else what the signals say."""
    if verdict is not None:
        return 'failed' if verdict.kind == decision.FAILED else 'agent_lost'
    heartbeat, service = view.heartbeat_state, view.service_state
    if service == base.HANDLED:
        return 'handled'
    if heartbeat == base.ALIVE or service == base.UP:
        return 'ok'
    if (heartbeat in (base.MISSING, base.LOST)
            or service in (base.STALE, base.DOWN)):
        return 'suspect'
    return 'unknown'


@_guarded
def poll_observed(views, verdicts, now=None):
    """Count one poll: {host: HostView} and {host: Verdict} as judged."""
    POLLS.inc()
    LAST_POLL.set(time.time() if now is None else now)
    states = dict.fromkeys(HOST_STATES, 0)
    signals = {}
    for host, view in views.items():
        states[host_state(view, verdicts.get(host))] += 1
        for signal, state in ((base.HEARTBEAT, view.heartbeat_state),
                              (base.SERVICE, view.service_state)):
            key = (signal, state or 'unknown')
            signals[key] = signals.get(key, 0) + 1
    for state, count in states.items():
        HOSTS.labels(state=state).set(count)
    HOST_SIGNALS.clear()
    for (signal, state), count in signals.items():
        HOST_SIGNALS.labels(signal=signal, state=state).set(count)
    _count_lost_heartbeats(views)


def _count_lost_heartbeats(views):
    """A heartbeat that turns lost counts once (a host the source stopped
    reporting keeps its last state: it comes back as it left)."""
    with _lock:
        for host, view in views.items():
            state = view.heartbeat_state
            if state is None:
                continue
            if state == base.LOST and _heartbeats.get(host) != base.LOST:
                HEARTBEATS_LOST.inc()
            _heartbeats[host] = state


@_guarded
def host_declared(verdict):
    """The monitor declared a host failed on ``verdict``."""
    DECLARATIONS.labels(rule=verdict.rule or 'other').inc()


# -- from the notifier --------------------------------------------------------

@_guarded
def event_recorded(event):
    """Count an event as vmha records it (vmha.notifier)."""
    EVENTS.labels(event_type=event.event_type).inc()
    outcome = EVACUATION_OUTCOMES.get(event.event_type)
    if outcome is not None:
        EVACUATIONS.labels(outcome=outcome).inc()
    if event.event_type == events.NOTIFICATION_FAILED:
        NOTIFICATION_FAILURES.labels(
            driver=event.payload.get('driver', 'unknown')).inc()


@_guarded
def notification_sent(driver):
    NOTIFICATIONS_SENT.labels(driver=driver).inc()


# -- from the recoverer -------------------------------------------------------

def _epoch(instant):
    """Seconds since the epoch of one of vmha's naive-UTC instants."""
    if instant is None:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=datetime.timezone.utc)
    return instant.timestamp()


def phase_seconds(marks):
    """{phase: seconds} of a recovery's marks ({mark: epoch seconds or
    None}, as vmha.db.api.PHASES names them); a phase whose ends were not
    both recorded (a level that skips it, a recovery that failed before)
    is left out."""
    fenced, down = marks.get('fenced_at'), marks.get('service_down_at')
    marks = dict(marks, isolated=fenced if (
        fenced is not None and down is not None and fenced <= down)
        else marks.get('started_at'))
    durations = {}
    for phase, (start, end) in PHASES.items():
        begin, finish = marks.get(start), marks.get(end)
        if begin is not None and finish is not None:
            durations[phase] = max(0.0, finish - begin)
    return durations


@_guarded
def recovery_finished(report):
    """A recovery run ended with ``report`` (vmha.recovery.RecoveryReport):
    count its outcome and observe its phases. A run that did not reach a
    final state (taken over, interrupted) is left to whoever finishes it."""
    if report.state not in states.FINAL_STATES:
        return
    RECOVERIES.labels(level=str(report.level), outcome=report.state).inc()
    marks = {name: _epoch(value) for name, value in report.phases.items()}
    for phase, seconds in phase_seconds(marks).items():
        PHASE_SECONDS.labels(phase=phase).observe(seconds)


# -- remote calls -------------------------------------------------------------

@contextlib.contextmanager
def _timed(histogram, **labels):
    """Observe how long the block took, labelled ok or error."""
    start = time.monotonic()
    outcome = ERROR
    try:
        yield
        outcome = OK
    finally:
        try:
            histogram.labels(outcome=outcome, **labels).observe(
                time.monotonic() - start)
        except Exception:
            LOG.exception('Could not update metrics (%s)', histogram)


def nova_call(func):
    """Decorate a ComputeAPI method: its duration goes to
    vmha_nova_call_seconds under the method's name."""
    @functools.wraps(func)
    def timed(*args, **kwargs):
        with _timed(NOVA_SECONDS, call=func.__name__.lstrip('_')):
            return func(*args, **kwargs)
    return timed


def bmc_call(driver, operation):
    """Context manager timing one BMC call of ``driver`` (its name)."""
    return _timed(BMC_SECONDS, driver=driver or 'unknown',
                  operation=operation)


# -- from vmha-agent ----------------------------------------------------------

@_guarded
def agent_heartbeat(ok, now=None):
    AGENT_HEARTBEATS.labels(outcome=OK if ok else ERROR).inc()
    if ok:
        AGENT_LAST_HEARTBEAT.set(time.time() if now is None else now)


# -- the endpoint -------------------------------------------------------------

class Endpoint:
    """The HTTP server of :data:`REGISTRY` (``/metrics``), in a daemon
    thread."""

    def __init__(self, host, port):
        self.server, self.thread = prom.start_http_server(
            port, addr=host, registry=REGISTRY)
        self.host = host
        #: the port bound (the one asked for, or the kernel's for 0)
        self.port = self.server.server_port

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def options(conf, process):
    """(enabled, host, port) of ``process`` ('monitor' or 'agent')."""
    group = conf.metrics
    if process == 'agent':
        return group.agent_enabled, group.host, group.agent_port
    return group.enabled, group.host, group.port


@contextlib.contextmanager
def serving(conf, process):
    """Serve the metrics meanwhile, when ``[metrics]`` enables them for
    ``process``. An address that cannot be bound is logged and vmha goes
    on without its metrics: detection and recovery matter more."""
    enabled, host, port = options(conf, process)
    endpoint = None
    if enabled:
        try:
            endpoint = Endpoint(host, port)
        except OSError as err:
            LOG.error('Cannot serve metrics on %s:%s ([metrics]); going on '
                      'without them: %s', host, port, err)
        else:
            LOG.info('Serving Prometheus metrics on http://%s:%s/metrics',
                     host, endpoint.port)
    try:
        yield endpoint
    finally:
        if endpoint is not None:
            endpoint.close()
