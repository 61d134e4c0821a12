"""Helpers shared by the task tests: run a task directly on a
RecoveryContext (``make_ctx``) and read back what it recorded."""

from vmha.tasks import evacuation
from vmha.tasks import instances


def evacuate(ctx, compute, iid, **kwargs):
    entry = plan(ctx, compute)[iid]
    compute.calls.clear()
    return evacuation.EvacuateInstance(ctx, entry, **kwargs).execute()


def plan(ctx, compute):
    return {e['id']: e for e in instances.ListInstances(ctx).execute()}


def nova_time(when):
    return when.strftime('%Y-%m-%dT%H:%M:%S.%f')


def recovery(db, ctx):
    return db.get_recovery(ctx.recovery_id)
