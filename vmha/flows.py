"""The recovery flows, one builder per ``quick_evacuate_level``.

A recovery runs two flows in one persisted logbook:

``isolate`` (per level), then ``evacuate`` (built from isolate's instance
plan)::

  level 1:  QuickForceDown ─(not done?)→ [FenceHost → ForceDownOrWait] ─┐
  level 2:  FenceHost → ForceDownService ────────────────────────────────┤
  level 3:  FenceHost → WaitServiceDown ─────────────────────────────────┤
            ┌────────────────────────────────────────────────────────────┘
            └→ DisableService → ListInstances

Level 1 forces the service down without powering the host off only when the
recovery was started on two independent signals that the host itself
stopped (``host_stopped``: agent heartbeat lost and nova-compute no longer
reporting, see vmha.detection.decision). Otherwise -- one signal, a manual
run, or a force-down Nova refused -- it fences first, like level 2, and
then forces the service down, or waits for Nova if that fails.

  evacuate: EvacuateInstance[i] (unordered, max_workers threads)
            → RecordOutcome

Two flows because the evacuation tasks depend on which instances the host has
once it is isolated; both are rebuilt identically on resume (same names, same
plan read back from the persisted isolate flow), so taskflow skips every
completed atom.
"""

from taskflow.patterns import graph_flow
from taskflow.patterns import linear_flow
from taskflow.patterns import unordered_flow

from vmha import exception
from vmha import policy
from vmha.tasks import evacuation
from vmha.tasks import fencing
from vmha.tasks import instances
from vmha.tasks import record
from vmha.tasks import service

ISOLATE_FLOW = 'isolate'
EVACUATE_FLOW = 'evacuate'
LEVELS = (1, 2, 3)


def _level1(ctx):
    """Force-down first; fence and wait for Nova only if that failed."""
    flow = graph_flow.Flow('isolate-level-1')
    quick = service.QuickForceDown(ctx, provides='quick_forced_down')
    fallback = linear_flow.Flow('fence-fallback').add(
        fencing.FenceHost(ctx), service.ForceDownOrWait(ctx))
    disable = service.DisableService(ctx)
    flow.add(quick, fallback, disable)
    flow.link(quick, fallback, decider=_quick_force_down_failed,
              decider_depth='FLOW')
    flow.link(fallback, disable)
    return flow


def _quick_force_down_failed(history):
    """Decider: run the fencing fallback unless quick force-down did it."""
    return not any(history.values())


def _level2(ctx):
    return linear_flow.Flow('isolate-level-2').add(
        fencing.FenceHost(ctx), service.ForceDownService(ctx),
        service.DisableService(ctx))


def _level3(ctx):
    return linear_flow.Flow('isolate-level-3').add(
        fencing.FenceHost(ctx), service.WaitServiceDown(ctx),
        service.DisableService(ctx))


_BUILDERS = {1: _level1, 2: _level2, 3: _level3}


def check_level(level):
    if level not in _BUILDERS:
        raise exception.ConfigError(
            reason='quick_evacuate_level must be one of 1, 2, 3 (got %r)'
            % (level,))
    return level


def effective_level(conf, host, level=None):
    """The level a recovery of ``host`` (HostSpec) runs at: the one asked
    for, else the host's inventory override, else ``[recovery]
    quick_evacuate_level``."""
    return check_level(
        level or host.level or conf.recovery.quick_evacuate_level)


def isolate_flow(ctx):
    """Take the failed host out of service, then list its instances."""
    return linear_flow.Flow(ISOLATE_FLOW).add(
        _BUILDERS[check_level(ctx.level)](ctx),
        instances.ListInstances(ctx))


def evacuate_flow(ctx, instance_plan):
    """Evacuate every planned instance in parallel, then record the outcome."""
    parallel = unordered_flow.Flow('evacuations')
    for entry in instance_plan:
        if entry['action'] == policy.EVACUATE:
            parallel.add(evacuation.EvacuateInstance(ctx, entry))
    return linear_flow.Flow(EVACUATE_FLOW).add(
        parallel, record.RecordOutcome(ctx))


def steps(level):
    """Human-readable steps of a level, for dry runs and docs."""
    check_level(level)
    return {
        1: ['only if two signals said the host stopped (agent heartbeat '
            'lost, nova-compute not reporting): force-down nova-compute and '
            'check Nova reports it down',
            'otherwise, or if that failed: fence (power off, confirm off), '
            'then force-down (or wait for Nova to report the service down)',
            'disable nova-compute', 'list instances', 'evacuate'],
        2: ['fence (power off, confirm off)', 'force-down nova-compute',
            'disable nova-compute', 'list instances', 'evacuate'],
        3: ['fence (power off, confirm off)',
            'wait for Nova to report nova-compute down (heartbeat loss)',
            'disable nova-compute', 'list instances', 'evacuate'],
    }[level]
