"""Helpers shared by the task tests: run a task directly on a
RecoveryContext (``make_ctx``) and read back what it recorded."""

from vmha import context
from vmha.tasks import evacuation
from vmha.tasks import instances


def evacuate(ctx, compute, iid, **kwargs):
    entry = plan(ctx, compute)[iid]
    compute.calls.clear()
    return evacuation.EvacuateInstance(ctx, entry, **kwargs).execute()


def plan(ctx, compute, resumed=False):
    """{id: plan entry} of ``ctx``'s host, as ListInstances plans it.
    ``resumed``: as a run resumed after a crash finds it (from storage): the
    run has no listing of its own, its tasks read each instance."""
    entries = instances.ListInstances(ctx).execute()
    if resumed:
        ctx.listing = context.Listing()
    return {e['id']: e for e in entries}


def nova_time(when):
    return when.strftime('%Y-%m-%dT%H:%M:%S.%f')


def recovery(db, ctx):
    return db.get_recovery(ctx.recovery_id)
