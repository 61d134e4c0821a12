"""The state of every nova-compute, read once for the whole process.

While its instance is rebuilt, an evacuation task asks now and then
whether a host has failed meanwhile: the host its instance landed on (then
that host's recovery takes it over) or the host a rebuild is heading to (a
dead end: the instance is evacuated again). Asked with one ``GET
os-services?host=X`` per task and per question, 50 evacuations cost
nova-api about two requests per instance every few seconds, more than the
evacuations themselves (issue 16: nova-api CPU per evacuation). One
:class:`ServiceStates` per process answers every task from one listing of
the nova-compute services, read at most once per ``ttl`` seconds and only
while someone asks.

A listing that fails is *unknown*, never "up": :meth:`ServiceStates.get`
then raises the error, as ``get_service`` did, and the callers fall back
to what vmha's own database knows. Nothing is cached from a failure.
"""

import threading
import time

from oslo_log import log as logging

from vmha import exception
from vmha import states

LOG = logging.getLogger(__name__)

#: confirmation rounds between two looks of a waiting evacuation task at
#: the hosts that may have failed (cascades, dead ends)
DEAD_END_CHECK_EVERY = 10


class ServiceStates:
    """nova-compute services by host, from a listing at most ``ttl``
    seconds old."""

    def __init__(self, compute, ttl, clock=time.monotonic):
        self.compute = compute
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._by_host = None
        self._read_at = None
        #: listings sent (for logs and tests)
        self.listings = 0

    @classmethod
    def from_conf(cls, conf, compute):
        """As fresh as the tasks need: they look for failed hosts once per
        DEAD_END_CHECK_EVERY confirmation rounds."""
        return cls(compute, DEAD_END_CHECK_EVERY
                   * conf.evacuation.confirm_interval)

    def get(self, host):
        """The Service of ``host``, or None if Nova has none; raises
        VmhaError if Nova cannot be read."""
        return self._current().get(host)

    def failed_others(self, host):
        """Hosts other than ``host`` whose nova-compute is down or forced
        down (raises VmhaError if Nova cannot be read)."""
        return sorted(name for name, svc in self._current().items()
                      if name != host and (svc.forced_down or svc.is_down))

    def _current(self):
        with self._lock:
            now = self._clock()
            if (self._by_host is None or self.ttl <= 0
                    or now - self._read_at >= self.ttl):
                services = self.compute.list_services()
                self.listings += 1
                self._by_host = {svc.host: svc for svc in services}
                self._read_at = now
            return self._by_host


def read_service(ctx, host):
    """``host``'s Service through the process's ServiceStates, or with its
    own request without one (None if Nova has none or cannot be read now:
    unknown)."""
    try:
        if ctx.services is not None:
            return ctx.services.get(host)
        return ctx.compute.get_service(host)
    except exception.ComputeServiceNotFound:
        return None
    except exception.VmhaError as err:
        LOG.debug('Cannot read the service of %s: %s', host, err)
        return None


def others_may_have_failed(ctx, host):
    """Could a host other than ``host`` have failed, so that a rebuild
    from ``host`` may be heading to a dead end? Yes if Nova shows another
    nova-compute down or forced down, if vmha is recovering another host,
    or if Nova cannot be read (unknown is not "no")."""
    active = ctx.db.list_recoveries(states=states.ACTIVE_STATES)
    if any(r.host != host for r in active):
        return True
    try:
        if ctx.services is not None:
            return bool(ctx.services.failed_others(host))
        return any(svc.host != host and (svc.forced_down or svc.is_down)
                   for svc in ctx.compute.list_services())
    except exception.VmhaError as err:
        LOG.debug('Cannot list the compute services: %s', err)
        return True
