"""When a host is failed: the rule vmha-monitor applies, and its guard.

The whole rule is here, as pure functions the monitor (vmha/monitor.py,
the loop and its I/O) applies each poll: :func:`combine` and :func:`judge`
(the signals), :func:`veto` (vmha's own records), :func:`mass_guard` (the
guard). The README links here instead of restating it.

Each poll gives, per host, a *heartbeat* state (vmha-agent through the
coordination backend) and a *service* state (is nova-compute still writing
its service record? see :mod:`vmha.detection.nova`). Either may be unknown:
no agent was ever seen, a source is not configured, or it did not answer
this poll (``[monitor] source_timeout``). Unknown is never "lost".

**Never failed**: the heartbeat is ``alive``; nova-compute is ``up`` (its
record still changes) -- unless the heartbeat is lost, see below; the
service is ``handled`` (vmha disabled it) or ``absent`` from Nova. Vetoes
from vmha's own records (:func:`veto`): the host is in maintenance, has an
unfinished recovery, was recovered and not put back (``vmha-manage host
recover``), or its last recovery failed less than ``[monitor]
retry_failed_after`` ago. A service
disabled by an operator or by Nova is *no* veto: a drained host that dies
is recovered.

**Failed** -- declared when

1. the heartbeat is ``lost`` (none for ``[coordination] heartbeat_timeout``)
   AND nova-compute stopped reporting (``stale``: no change for
   ``nova_report_interval + nova_report_grace``; or ``down``). Two
   independent signals say the host itself stopped: ``host_stopped``; or
2. there is no heartbeat evidence (no agent, its agent left on purpose, or
   the heartbeat source did not answer) AND Nova itself reports the service
   ``down`` (Nova's ``service_down_time``). One signal: ``host_stopped`` is
   False; or
3. only the heartbeat source is configured (no ``nova`` source, not
   recommended) and the heartbeat is ``lost``: ``host_stopped`` is False.

**Agent lost, host alive**: the heartbeat is ``lost`` but nova-compute is
``up``. Nothing is fenced or evacuated; the monitor notifies
``vmha.agent.lost`` once (and ``vmha.agent.recovered`` when the agent is
back). A BMC that answers proves only that the monitor reaches the
management network: it is no evidence either way.

``host_stopped`` matters at ``quick_evacuate_level`` 1: only then does a
recovery force the service down without powering the host off first;
otherwise level 1 fences like level 2.

Worst-case time from a host's death to its declaration, with agents:
``max(heartbeat_timeout, nova_report_interval + nova_report_grace +
poll_interval) + poll_interval`` (the monitor sees the last report up to one
poll late, and declares at the next poll).

**Mass-failure guard** (:func:`mass_guard`), checked after the vetoes and
before anything is declared: when the hosts about to be declared in one
poll, plus those declared within ``[monitor] mass_failure_window`` before
it, are more than
``max_failed_hosts_percent`` of all hosts the sources know (or more than
``max_failed_hosts``), the monitor is probably the one cut off: nothing is
declared, one ``vmha.host.failure.mass`` alert is raised, and those hosts
are not recovered automatically until each is no longer failing. It counts
what the monitor decides now, not when each signal was first seen, so a
source that was slow to answer cannot turn into a burst of recoveries.
"""

import dataclasses

from vmha.detection import base
from vmha import states

FAILED = 'failed'
AGENT_LOST = 'agent-lost'

# which part of the rule declared a host failed (Verdict.rule)
RULE_TWO_SIGNALS = 'two_signals'        # 1. heartbeat lost + nova stopped
RULE_NOVA_DOWN = 'nova_down'            # 2. no heartbeat evidence + Nova down
RULE_HEARTBEAT_ONLY = 'heartbeat_only'  # 3. heartbeat lost, no nova source

_STOPPED = (base.STALE, base.DOWN)
_FAILING = {base.HEARTBEAT: (base.MISSING, base.LOST),
            base.SERVICE: _STOPPED}


@dataclasses.dataclass(frozen=True)
class HostView:
    """Everything the sources said about one host in one poll."""

    name: str
    heartbeat: base.Observation = None
    service: base.Observation = None

    @property
    def heartbeat_state(self):
        return self.heartbeat.state if self.heartbeat else None

    @property
    def service_state(self):
        return self.service.state if self.service else None

    @property
    def first_seen(self):
        """Clock time the failure was first seen by any signal, or None."""
        seen = [obs.since for signal, obs in ((base.HEARTBEAT, self.heartbeat),
                                              (base.SERVICE, self.service))
                if obs and obs.state in _FAILING[signal]]
        return min(seen, default=None)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the rule says about one host: FAILED or AGENT_LOST, and why."""

    kind: str
    reason: str
    host_stopped: bool = False
    #: RULE_* for a FAILED verdict (metrics count declarations by it)
    rule: str = None


_ABSENT = base.Observation(base.ABSENT)


def combine(reports, previous=None):
    """{host: HostView} from ``{signal: {host: Observation}}``.

    Only signals whose source answered are in ``reports``; a host the service
    source did not list is ``absent`` from Nova.

    ``previous`` (the last poll's views): a host whose observations are the
    very same objects as then keeps its view, so that thousands of quiet
    hosts cost no new objects each poll (sources report an unchanged state
    with a shared Observation).
    """
    hosts = set()
    for observed in reports.values():
        hosts.update(observed)
    heartbeats = reports.get(base.HEARTBEAT, {})
    services = reports.get(base.SERVICE)
    previous = previous or {}
    views = {}
    for host in hosts:
        heartbeat = heartbeats.get(host)
        service = None if services is None else services.get(host, _ABSENT)
        view = previous.get(host)
        if (view is None or view.heartbeat is not heartbeat
                or view.service is not service):
            view = HostView(host, heartbeat=heartbeat, service=service)
        views[host] = view
    return views


def suspects(views):
    """The views the rule may say something about: every host whose agent
    is not heartbeating (``judge`` finds nothing wrong with one that is).
    At thousands of hosts this keeps the per-poll work to the few."""
    return {host: view for host, view in views.items()
            if view.heartbeat is None or view.heartbeat.state != base.ALIVE}


def judge(view, nova_configured=True):
    """The Verdict on ``view``'s host, or None (nothing to do).

    ``nova_configured``: whether a Nova source runs at all (when it runs but
    did not answer this poll, the service state is unknown and a lost
    heartbeat waits).
    """
    heartbeat, service = view.heartbeat_state, view.service_state
    if heartbeat == base.ALIVE or service in (base.HANDLED, base.ABSENT):
        return None
    detail = view.service.detail if view.service else None
    if heartbeat == base.LOST:
        if service in _STOPPED:
            return Verdict(FAILED, 'agent heartbeat lost and nova-compute '
                           'stopped reporting (%s)' % detail, True,
                           RULE_TWO_SIGNALS)
        if service == base.UP:
            return Verdict(AGENT_LOST, 'agent heartbeat lost but '
                           'nova-compute still reports (%s)' % detail)
        if not nova_configured:
            return Verdict(FAILED, 'agent heartbeat lost (no Nova source '
                           'configured)', rule=RULE_HEARTBEAT_ONLY)
        return None
    if heartbeat != base.MISSING and service == base.DOWN:
        return Verdict(FAILED, 'Nova reports the service down, no agent '
                       'heartbeat (%s)' % detail, rule=RULE_NOVA_DOWN)
    return None


def mass_failure(count, total, max_percent, max_count):
    """Whether ``count`` failed hosts out of ``total`` is a mass failure
    (strictly more than the percentage, or than the count if non-zero)."""
    too_many_pct = total and 100.0 * count / total > max_percent
    too_many_abs = max_count and count > max_count
    return bool(too_many_pct or too_many_abs)


def waiting_on_nova(views):
    """Hosts whose agent is missing or lost while nova-compute still
    reports: the moment their record turns stale is the moment the second
    signal can agree (the monitor polls then, not up to a poll later)."""
    return [host for host, view in views.items()
            if view.heartbeat_state in (base.MISSING, base.LOST)
            and view.service_state == base.UP]


# -- the vetoes: what vmha's own records say ----------------------------------

#: the inventory state ``vmha-manage host reinstate`` leaves behind
RETURNED = states.HOST_HEALTHY


@dataclasses.dataclass(frozen=True)
class Record:
    """What vmha's database says about one host, read once per poll."""

    #: its inventory entry (vmha.inventory.HostSpec), or None
    spec: object = None
    #: its inventory row's state (read only when the rule needs it)
    state: str = None
    #: its latest recovery (a db row), or None
    last: object = None


def needs_state(last):
    """Whether :func:`veto` needs the inventory state: only after a
    recovery that evacuated the host (was it put back since?)."""
    return (last is not None and last.state not in states.ACTIVE_STATES
            and last.state != states.FAILED)


def veto(record, now, retry_failed_after):
    """Why a host the sources say failed gets no recovery now, or None.

    Not in maintenance; not while a recovery is unfinished; not after one
    that evacuated it, until ``vmha-manage host reinstate`` put it back
    (whatever Nova says or however the sources answer); after a failed
    one, once ``retry_failed_after`` seconds have passed. ``now``: naive
    UTC, like the database's timestamps.
    """
    if record.spec is not None and record.spec.maintenance:
        return 'in maintenance'
    last = record.last
    if last is None:
        return None
    if last.state in states.ACTIVE_STATES:
        return 'recovery %s is unfinished' % last.id
    if last.state == states.FAILED:
        if last.finished_at and (now - last.finished_at).total_seconds() \
                >= retry_failed_after:
            return None
        return 'recovery %s failed less than %ss ago' % (last.id,
                                                        retry_failed_after)
    if record.spec is None or record.state != RETURNED:
        return ('recovered by %s and not put back into service '
                '(vmha-manage host reinstate)' % last.id)
    return None


# -- the mass-failure guard's state -------------------------------------------

@dataclasses.dataclass(frozen=True)
class MassState:
    """What the mass-failure guard remembers between polls."""

    #: host -> clock time it was declared failed
    declared: tuple = ()
    #: the hosts the guard holds back (until each is no longer failing)
    held: frozenset = frozenset()

    def declare(self, host, when):
        """This state with ``host`` declared at ``when``."""
        declared = dict(self.declared)
        declared[host] = when
        return dataclasses.replace(self, declared=tuple(declared.items()))


@dataclasses.dataclass(frozen=True)
class MassVerdict:
    """The guard's answer for one poll."""

    state: MassState
    #: nothing may be declared this poll
    holds: bool = False
    #: the hosts to alert about (the guard just tripped), else ()
    alert: tuple = ()


def mass_guard(state, failed, total, now, window, max_percent, max_count):
    """Apply the mass-failure guard to the hosts about to be declared.

    ``failed``: the hosts the rule declares this poll (after the vetoes);
    ``total``: how many hosts the sources know; ``now``: clock seconds;
    ``window``: ``[monitor] mass_failure_window``. The guard trips when
    ``failed`` plus the hosts declared within ``window`` is a
    :func:`mass_failure`; it then holds while any of the hosts it held is
    still failing.
    """
    declared = tuple((host, when) for host, when in state.declared
                     if now - when <= window)
    failed = set(failed)
    if state.held & failed:
        return MassVerdict(MassState(declared, state.held), holds=True)
    released = MassState(declared)
    if not failed:
        return MassVerdict(released)
    hosts = tuple(sorted(failed | {host for host, _ in declared}))
    if not mass_failure(len(hosts), total, max_percent, max_count):
        return MassVerdict(released)
    return MassVerdict(MassState(declared, frozenset(failed)), holds=True,
                       alert=hosts)
