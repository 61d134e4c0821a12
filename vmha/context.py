"""What every task of one recovery needs, injected rather than global.

A RecoveryContext is built by the runner for one recovery and handed to each
task at flow-construction time. It is never persisted: on resume the runner
builds a fresh one and the same flow, and taskflow restores the atoms' state.
"""

import contextlib
import dataclasses
import threading
import time

from oslo_log import log as logging

from vmha import events
from vmha import pacing

LOG = logging.getLogger(__name__)

#: seconds the listing of the failed host's instances may stand in for an
#: instance's own GET before its evacuate request
LISTING_FRESH_FOR = 30.0


class Listing:
    """The failed host's instances as this run's ListInstances read them.

    Each evacuation task must know its instance's state, lock and host just
    before its evacuate request. The listing that planned the recovery was
    read a moment earlier, after the host was isolated: while it is fresh,
    a task takes its instance's reading from it (once) instead of sending a
    GET of its own, one nova-api request per evacuation fewer (issue 16).
    What can change an isolated host's instance in between is a person,
    through the API; Nova refuses an evacuate request that such a change
    made wrong, and the task then reads the instance and decides again. A
    resumed run did not list (its plan comes from storage): its tasks read.
    """

    def __init__(self, clock=time.monotonic, fresh_for=LISTING_FRESH_FOR):
        self._clock = clock
        self.fresh_for = fresh_for
        self._readings = {}
        self._read_at = None
        self._lock = threading.Lock()

    def remember(self, instances):
        """The instances just listed (vmha.compute.Instance)."""
        with self._lock:
            self._readings = {inst.id: inst for inst in instances}
            self._read_at = self._clock()

    def take(self, instance_id):
        """The listed reading of ``instance_id``, once, while the listing
        is fresh; else None (read it)."""
        with self._lock:
            inst = self._readings.pop(instance_id, None)
            if (inst is None
                    or self._clock() - self._read_at > self.fresh_for):
                return None
            return inst


@dataclasses.dataclass
class RecoveryContext:
    """The collaborators and identity of one recovery."""

    conf: object
    compute: object            # vmha.compute.ComputeAPI
    db: object                 # vmha.db.api.Database
    dispatcher: object         # vmha.notifier.Dispatcher
    fencer: object             # vmha.fencing.Fencer (None when not needed)
    host: object               # vmha.inventory.HostSpec
    recovery_id: str
    level: int
    #: two independent signals said the host stopped (level 1 may then
    #: force it down without fencing)
    host_stopped: bool = False
    #: the process's limit on evacuations in flight, shared by all its
    #: recoveries (vmha.pacing.Pacer); None: unbounded
    pacer: object = None
    #: the process's confirmation watcher (vmha.confirm.Watcher); None: a
    #: task reads its own instance (vmha.confirm.Watcher.direct)
    watcher: object = None
    #: the process's view of the nova-compute services, read once for all
    #: its tasks (vmha.service_states.ServiceStates); None: a task reads
    #: the service it asks about
    services: object = None
    #: vmha.watchdog.Evidence when the host was armed and its heartbeat
    #: lost: fencing may rest on its watchdog if the BMC cannot confirm
    watchdog: object = None
    #: builds the vmha.watchdog.HeartbeatWatch of the proof (tests inject
    #: their own); None: the real one, on [coordination] backend_url
    heartbeat_watch: object = None
    #: the failed host's instances as listed in this run (empty on resume)
    listing: Listing = dataclasses.field(default_factory=Listing)

    @contextlib.contextmanager
    def evacuation_slot(self, entry):
        """Hold one of the process's evacuation slots meanwhile, queued by
        the plan ``entry``'s priority (vmha.pacing)."""
        if self.pacer is None:
            yield
            return
        with self.pacer.slot(pacing.priority_key(entry)):
            yield

    def emit(self, event_type, **payload):
        """Record and notify one event of this recovery."""
        self.dispatcher.emit(events.Event(
            event_type=event_type, host=self.host.name,
            recovery_id=self.recovery_id, level=self.level,
            payload=payload))

    def emit_step_done(self, event_type, **payload):
        """Emit the event of a step of the flow (fenced, forced down,
        disabled...) unless this recovery recorded it already.

        A run killed after a step recorded its event and before taskflow
        saved the step does it again when resumed -- on purpose: the
        power-off is always sent again, the service forced down again --
        but the step was announced once; announcing it twice would tell
        consumers of two fencings. When the event log cannot be read, the
        event is emitted: twice is better than never."""
        try:
            done = self.db.list_events(recovery_id=self.recovery_id,
                                       event_type=event_type, limit=1)
        except Exception as err:    # vmha.exception.DatabaseError mostly
            LOG.warning('Recovery %s: cannot read its event log (%s): '
                        'notifying %s', self.recovery_id, err, event_type)
            done = False
        if done:
            LOG.info('Recovery %s: %s again on resume, as its killed run '
                     'had (notified then)', self.recovery_id, event_type)
            return
        self.emit(event_type, **payload)

    def mark_phase(self, phase, **fields):
        """Record a phase timestamp (first time only) and extra fields."""
        self.db.mark_phase(self.recovery_id, phase)
        if fields:
            self.db.update_recovery(self.recovery_id, **fields)
