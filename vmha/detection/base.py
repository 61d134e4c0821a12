"""What a detection source reports: one :class:`Observation` per host.

A source watches one *signal* (agent heartbeats, or Nova's service state)
and reports each host in one of the states below, with the time it first
saw that state (``since``, from the monitor's clock), so the decision can
measure how long a failure has been seen.
"""

import abc
import dataclasses

from vmha.drivers import loader

HEARTBEAT = 'heartbeat'
SERVICE = 'service'

# heartbeat states
ALIVE = 'alive'          # member of the agents' group
LEFT = 'left'            # the agent stopped on purpose (planned stop)
MISSING = 'missing'      # membership expired, waiting for the settle time
LOST = 'lost'            # no heartbeat for heartbeat_timeout

# service states
UP = 'up'                # nova-compute still updates its service record
STALE = 'stale'          # its record stopped changing (report_interval+grace)
DOWN = 'down'            # Nova itself says down (service_down_time)
HANDLED = 'handled'      # vmha disabled it (its disabled_reason)
ABSENT = 'absent'        # Nova has no compute service of that name


@dataclasses.dataclass(frozen=True)
class Observation:
    state: str
    since: float = None
    #: what the state rests on, for log lines and notifications
    detail: str = None
    #: heartbeat only: the agent's watchdog report ({driver, timeout,
    #: margin}, see vmha.watchdog) as last seen while it was alive, plus
    #: ``last_alive`` (clock time it was last seen in the group); None when
    #: it was not armed or that is unknown
    watchdog: dict = None


class DetectionSource(abc.ABC):
    """A source of host observations, loaded by stevedore.

    Constructed as ``Source(conf, **collaborators)``; must accept and ignore
    collaborators it does not use.
    """

    #: HEARTBEAT or SERVICE: which part of the decision rule it feeds
    signal = None

    @property
    def name(self):
        return loader.name_of(self, loader.DETECTION_NAMESPACE)

    @abc.abstractmethod
    def observe(self):
        """{host name: Observation} now; raise VmhaError if blind."""

    def next_change(self):
        """Clock time at which a reported state changes by itself (e.g. a
        settle time ends), or None: the monitor looks again then."""
        return None

    def close(self):
        """Release connections."""
