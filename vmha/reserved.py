"""Reserved hosts: spare computes enabled when a failure needs their room.

As Masakari's ``reserved_host`` recovery method. The operator keeps spare
computes running but disabled in Nova (so the scheduler never fills them) and
marks them in vmha's inventory (``vmha-manage host add NAME --reserved``).
When Nova finds no host with room for an evacuation (NoValidHost, see
:mod:`vmha.capacity`), vmha:

1. claims one free spare for the recovery: one conditional UPDATE of its
   inventory row (``reserved_for``), so two failures never get the same
   spare, whichever monitors handle them;
2. checks that its nova-compute service is up, adds it to the failed host's
   aggregates when ``[capacity] reserved_host_aggregates`` is set (flavors
   and images bound to an aggregate would find no room otherwise), and
   enables the service;
3. evacuates to it, as target host.

Parallel evacuations of one recovery share the spare it took; an evacuation
that finds no room on it either takes the next one. A spare that cannot be
used (service down, Nova refusing) is given back and the next one tried. A
used spare stays taken (``host list`` shows by which recovery) and serves as
an ordinary compute: the operator returns it to the pool, disabled again,
with ``vmha-manage host update NAME --reserved on``.
"""

import collections
import threading

from oslo_log import log as logging

from vmha import events
from vmha import exception

LOG = logging.getLogger(__name__)

# one lock per recovery: its parallel evacuations take one spare, not one each
_LOCKS = collections.defaultdict(threading.Lock)
_LOCKS_GUARD = threading.Lock()


def _lock(recovery_id):
    with _LOCKS_GUARD:
        return _LOCKS[recovery_id]


def room_for(ctx, tried=()):
    """A spare host of ``ctx``'s recovery to evacuate to, none of ``tried``
    (targets that already answered NoValidHost); taken now if the recovery
    has no such spare yet. None when there is no usable spare.

    A spare the recovery took before is brought into service again (a no-op
    when it is): a recovery resumed after a crash between the claim and the
    enable finds its spare still disabled.
    """
    if not ctx.conf.capacity.use_reserved_hosts:
        return None
    refused = set(tried)
    with _lock(ctx.recovery_id):
        for name in ctx.db.reserved_hosts_of(ctx.recovery_id):
            if name not in refused and _usable(ctx, name, refused):
                return name
        while True:
            name = ctx.db.claim_reserved_host(ctx.recovery_id,
                                              exclude=refused)
            if name is None or _usable(ctx, name, refused, new=True):
                return name


def _usable(ctx, name, refused, new=False):
    """Bring spare ``name`` into service; on failure give it back (and add
    it to ``refused``)."""
    try:
        aggregates = _bring_into_service(ctx, name)
    except exception.VmhaError as err:
        LOG.error('Recovery %s: reserved host %s cannot be used: %s',
                  ctx.recovery_id, name, err)
        ctx.db.release_reserved_host(name, ctx.recovery_id)
        ctx.emit(events.RESERVED_HOST_FAILED, target_host=name,
                 error=str(err))
        refused.add(name)
        return False
    if new:
        LOG.warning('Recovery %s: no room for the instances of %s; reserved '
                    'host %s enabled for them', ctx.recovery_id,
                    ctx.host.name, name)
        ctx.emit(events.RESERVED_HOST_ENABLED, target_host=name,
                 aggregates=aggregates)
    return True


def _bring_into_service(ctx, name):
    """Aggregates, then enable; return the names of the aggregates added."""
    svc = ctx.compute.get_service(name)
    if svc.is_down or svc.forced_down:
        raise exception.VmhaError(
            'its %s service is down in Nova' % svc.binary)
    added = []
    if ctx.conf.capacity.reserved_host_aggregates:
        own = ctx.compute.host_aggregates(name)
        for agg_id, agg_name in sorted(
                ctx.compute.host_aggregates(ctx.host.name).items()):
            if agg_id not in own:
                ctx.compute.add_to_aggregate(agg_id, name)
                added.append(agg_name)
    if svc.status != 'enabled':
        ctx.compute.enable(name)
    return added
