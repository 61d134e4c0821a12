"""When a host is failed: the rule vmha-monitor applies, and its guard.

For every host the sources report a *heartbeat* state (vmha-agent, through
tooz) and a *service* state (Nova's nova-compute service); either may be
unknown (no agent ever seen, source not enabled).

**Vetoes** (never failed): the heartbeat is ``alive`` (the host runs,
whatever Nova says); Nova reports the service ``handled`` (disabled or
forced down: an operator or a previous recovery dealt with it) or ``absent``
(not a compute host Nova knows). The monitor adds: the host is in
maintenance, has an unfinished recovery, or its last recovery failed less
than ``[monitor] retry_failed_after`` ago.

**Suspect**: not vetoed, and the heartbeat is ``missing``/``lost`` or Nova
reports the service ``down``.

**Failed** -- a suspect is declared failed only when

1. its heartbeat is ``lost`` (none for ``[coordination] heartbeat_timeout``)
   AND a second signal agrees: Nova reports the service ``down``, OR the
   host's BMC answers a power-state query (the monitor reaches the host's
   management network, so it is not simply cut off from the host; the
   ``noop`` driver never counts); or
2. there is no heartbeat evidence (no agent seen, or its agent stopped on
   purpose and left the group) AND Nova reports the service ``down`` (Nova's
   own heartbeat timeout, ``service_down_time``); at ``quick_evacuate_level``
   1, which powers nothing off, the BMC must answer as well.

A ``missing`` heartbeat (expired, still settling) is never acted on.

**Mass-failure guard**, checked before anything is declared: when the
suspects first seen within ``[monitor] mass_failure_window`` are more than
``max_failed_hosts_percent`` of all hosts the sources know (or more than
``max_failed_hosts``), the monitor is probably the one cut off: nothing is
declared, one ``vmha.host.failure.mass`` alert is raised, and no host is
recovered automatically until every host of that event is no longer a
suspect (back, put in maintenance, or recovered by an operator).
"""

import dataclasses

from vmha.detection import base

_VETO_SERVICE = (base.HANDLED, base.ABSENT)
_FAILING = {base.HEARTBEAT: (base.MISSING, base.LOST),
            base.SERVICE: (base.DOWN,)}


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


def combine(reports):
    """{host: HostView} from ``{signal: {host: Observation}}``.

    Only signals whose source answered are in ``reports``; a host the service
    source did not list is ``absent`` from Nova.
    """
    hosts = set()
    for observed in reports.values():
        hosts.update(observed)
    heartbeats = reports.get(base.HEARTBEAT, {})
    services = reports.get(base.SERVICE)
    absent = base.Observation(base.ABSENT)
    return {host: HostView(
        host, heartbeat=heartbeats.get(host),
        service=None if services is None else services.get(host, absent))
        for host in hosts}


def is_suspect(view):
    if (view.heartbeat_state == base.ALIVE
            or view.service_state in _VETO_SERVICE):
        return False
    return view.first_seen is not None


def judge(view, level, bmc_answer):
    """Why ``view``'s host is failed (a short reason), or None if it is not.

    ``bmc_answer()`` returns the power state the host's BMC reports, or None
    if it does not answer; it is called only when the rule needs it.
    """
    if not is_suspect(view):
        return None
    nova_down = view.service_state == base.DOWN
    if view.heartbeat_state == base.LOST:
        if nova_down:
            return 'heartbeat lost, Nova reports the service down'
        return _with_bmc('heartbeat lost', bmc_answer)
    if view.heartbeat_state == base.MISSING or not nova_down:
        return None
    if level == 1:
        return _with_bmc('Nova reports the service down (no agent '
                         'heartbeat), level 1', bmc_answer)
    return 'Nova reports the service down (no agent heartbeat)'


def _with_bmc(evidence, bmc_answer):
    power = bmc_answer()
    if power is None:
        return None
    return '%s, BMC answers (power %s)' % (evidence, power)


def mass_failure(recent, total, max_percent, max_count):
    """Whether ``recent`` suspects out of ``total`` hosts is a mass failure
    (strictly more than the percentage, or than the count if non-zero)."""
    too_many_pct = total and 100.0 * recent / total > max_percent
    too_many_abs = max_count and recent > max_count
    return bool(too_many_pct or too_many_abs)
