"""Event types vmha records and notifies, and the event record itself.

Names follow ``vmha.<object>.<action>[.start|.end|.error]``. The set is a
public contract: notification consumers, the SNMP MIB and the event log all
use these names.
"""

import dataclasses
import datetime

from oslo_utils import timeutils

INFO = 'INFO'
WARNING = 'WARN'
ERROR = 'ERROR'

HOST_FAILURE_DETECTED = 'vmha.host.failure'
MASS_FAILURE = 'vmha.host.failure.mass'
HOST_FENCED = 'vmha.host.fence.end'
HOST_FENCE_FAILED = 'vmha.host.fence.error'
SERVICE_FORCED_DOWN = 'vmha.service.force_down.end'
SERVICE_FORCE_DOWN_FAILED = 'vmha.service.force_down.error'
SERVICE_DOWN = 'vmha.service.down'
SERVICE_DISABLED = 'vmha.service.disable.end'
RECOVERY_STARTED = 'vmha.recovery.start'
RECOVERY_COMPLETED = 'vmha.recovery.end'
RECOVERY_COMPLETED_WITH_ERRORS = 'vmha.recovery.end_with_errors'
RECOVERY_FAILED = 'vmha.recovery.error'
INSTANCE_EVACUATE_STARTED = 'vmha.instance.evacuate.start'
INSTANCE_EVACUATED = 'vmha.instance.evacuate.end'
INSTANCE_EVACUATE_FAILED = 'vmha.instance.evacuate.error'
INSTANCE_SKIPPED = 'vmha.instance.evacuate.skip'
INSTANCE_RESET = 'vmha.instance.reset'
INSTANCE_HANDED_OVER = 'vmha.instance.evacuate.handover'
#: an operator returned a repaired host to service (vmha.reinstate)
HOST_REINSTATED = 'vmha.host.reinstate.end'
#: deprecated name of HOST_REINSTATED, still emitted after it (see
#: HOST_REINSTATED_TYPES) so that its consumers keep working until removal
HOST_RECOVERED = 'vmha.host.recover.end'
AGENT_LOST = 'vmha.agent.lost'
AGENT_RECOVERED = 'vmha.agent.recovered'
INSTANCE_EVACUATE_WAITING = 'vmha.instance.evacuate.waiting'
RECOVERY_RETRY_STARTED = 'vmha.recovery.retry.start'
RESERVED_HOST_ENABLED = 'vmha.reserved_host.enable.end'
RESERVED_HOST_FAILED = 'vmha.reserved_host.enable.error'
#: a host whose inventory entry requires a watchdog heartbeats unarmed
AGENT_WATCHDOG_MISSING = 'vmha.agent.watchdog.missing'

PRIORITIES = {
    HOST_FAILURE_DETECTED: WARNING,
    HOST_FENCED: INFO,
    HOST_FENCE_FAILED: ERROR,
    SERVICE_FORCED_DOWN: INFO,
    SERVICE_FORCE_DOWN_FAILED: ERROR,
    SERVICE_DOWN: INFO,
    SERVICE_DISABLED: INFO,
    RECOVERY_STARTED: INFO,
    RECOVERY_COMPLETED: INFO,
    RECOVERY_COMPLETED_WITH_ERRORS: WARNING,
    RECOVERY_FAILED: ERROR,
    INSTANCE_EVACUATE_STARTED: INFO,
    INSTANCE_EVACUATED: INFO,
    INSTANCE_EVACUATE_FAILED: ERROR,
    INSTANCE_SKIPPED: INFO,
    INSTANCE_RESET: WARNING,
    INSTANCE_HANDED_OVER: WARNING,
    HOST_REINSTATED: INFO,
    HOST_RECOVERED: INFO,
    MASS_FAILURE: ERROR,
    AGENT_LOST: WARNING,
    AGENT_RECOVERED: INFO,
    INSTANCE_EVACUATE_WAITING: WARNING,
    RECOVERY_RETRY_STARTED: INFO,
    RESERVED_HOST_ENABLED: INFO,
    RESERVED_HOST_FAILED: ERROR,
    AGENT_WATCHDOG_MISSING: WARNING,
}

#: every event type that is notified (MIB, payload schema, log)
ALL_TYPES = tuple(PRIORITIES)

#: what a reinstatement emits, in order: the event, then its deprecated
#: name, with the same payload, during the deprecation period
HOST_REINSTATED_TYPES = (HOST_REINSTATED, HOST_RECOVERED)
#: event types kept only for their consumers: deprecated name -> new name
DEPRECATED_TYPES = {HOST_RECOVERED: HOST_REINSTATED}

#: Recorded in the event log only, never notified: a driver could not
#: deliver an event (payload: driver, undelivered_event, error). Sending it
#: through the drivers could loop, and the failing one could not carry it.
NOTIFICATION_FAILED = 'vmha.notification.error'
RECORD_ONLY = {NOTIFICATION_FAILED: ERROR}


@dataclasses.dataclass(frozen=True)
class Event:
    """One thing that happened during detection or recovery.

    ``payload`` holds the event-specific fields (instance_id, instance_name,
    target_host, error, reason, ...); it must be JSON-serialisable.
    """

    event_type: str
    host: str
    recovery_id: str = None
    level: int = None
    payload: dict = dataclasses.field(default_factory=dict)
    timestamp: datetime.datetime = dataclasses.field(
        default_factory=lambda: timeutils.utcnow(with_timezone=True))

    @property
    def priority(self):
        return (PRIORITIES.get(self.event_type)
                or RECORD_ONLY.get(self.event_type, INFO))

    def to_dict(self):
        """A flat, JSON-serialisable view used by every notifier."""
        data = {
            'event_type': self.event_type,
            'priority': self.priority,
            'host': self.host,
            'recovery_id': self.recovery_id,
            'level': self.level,
            'timestamp': self.timestamp.isoformat(),
        }
        data.update(self.payload)
        return data
