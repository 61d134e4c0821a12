"""The recovery flows, one builder per ``quick_evacuate_level``.

A recovery runs two flows in one persisted logbook:

``isolate`` (per level), then ``evacuate`` (built from isolate's instance
plan)::

  level 1:  QuickForceDown ─(not done?)→ [FenceHost → ForceDownOrWait] ─┐
  level 2:  FenceHost → ForceDownService ────────────────────────────────┤
  level 3:  FenceHost → WaitServiceDown ─────────────────────────────────┤
            ┌────────────────────────────────────────────────────────────┘
            └→ DisableService → ListInstances

What each level does, and when to choose it, is said once in vmha.levels.

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

from vmha import evacuation_plan
from vmha import levels
from vmha.tasks import evacuation
from vmha.tasks import fencing
from vmha.tasks import instances
from vmha.tasks import record
from vmha.tasks import service

ISOLATE_FLOW = 'isolate'
EVACUATE_FLOW = 'evacuate'


def isolate_force_down_first(ctx):
    """Level 1: force-down first; fence and wait for Nova only if that
    failed."""
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


def isolate_fence_then_force_down(ctx):
    """Level 2."""
    return linear_flow.Flow('isolate-level-2').add(
        fencing.FenceHost(ctx), service.ForceDownService(ctx),
        service.DisableService(ctx))


def isolate_fence_then_wait(ctx):
    """Level 3."""
    return linear_flow.Flow('isolate-level-3').add(
        fencing.FenceHost(ctx), service.WaitServiceDown(ctx),
        service.DisableService(ctx))


#: level number -> its builder, as vmha.levels names it (a level without
#: one fails at import, not in the middle of a recovery)
_BUILDERS = {number: globals()[level.builder]
             for number, level in levels.LEVELS.items()}


def check_level(level):
    """``level`` if it is a quick_evacuate_level, else ConfigError."""
    return levels.get(level).number


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
        if entry['action'] == evacuation_plan.EVACUATE:
            parallel.add(evacuation.EvacuateInstance(ctx, entry))
    return linear_flow.Flow(EVACUATE_FLOW).add(
        parallel, record.RecordOutcome(ctx))


def steps(level):
    """Human-readable steps of a level, for dry runs and docs."""
    return list(levels.get(level).steps)
