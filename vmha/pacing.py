"""Pace evacuations by what Nova can take: one limit per process.

Every evacuation of every recovery this process runs holds one *slot* of
the process's :class:`Pacer` from its evacuate request until its instance
landed (or the attempt ended otherwise). How many slots there are adapts to
Nova's observed behaviour, AIMD as in TCP congestion control:

* **start** at ``[evacuation] initial_in_flight`` (at most ``max_in_flight``);
* **grow** by one slot per evacuation that landed on time while the limit
  was in use (evacuations waiting, or every slot taken) -- "slow start",
  the limit doubles per round -- until the first sign of congestion; after
  it, by ``1/limit`` per landing: one slot per round;
* **on time** means its latency (slot taken to landed) is at most
  ``in_flight_latency_factor`` times the *baseline*, the shortest latency of
  the last :data:`SAMPLES` landings: a longer one says Nova queues the work
  (conductor, scheduler, computes busy) without finishing it sooner;
* **shrink** by half (never below ``min_in_flight``) on congestion: a late
  landing, an evacuate request Nova answered with HTTP 409 or 5xx, a
  request that got no answer (timeout, connection lost) or an evacuation
  that did not land within ``confirm_timeout``. Once per round: signals of
  evacuations that started before the last shrink do not shrink again.
  Refusals that say nothing about load (no valid host, unknown instance, a
  bad state) and hand-overs leave the limit as it is;
* never more than ``max_in_flight``, the ceiling an operator can set;
  ``adaptive_in_flight = false`` keeps the limit at that ceiling.

**Who goes first.** Waiting evacuations of all running recoveries form one
queue: HA-enabled instances first, then by the instance metadata key
``[evacuation] priority_metadata_key`` (``HA_Priority``, 1-1000, higher
first; :func:`vmha.evacuation_plan.ha_priority`), then in the order they came.
So when a rack fails, the important guests of every failed host are
evacuated before the rest.
"""

import collections
import contextlib
import heapq
import itertools
import re
import threading
import time

from oslo_log import log as logging

from vmha import exception

LOG = logging.getLogger(__name__)

#: landings the latency baseline is the minimum of
SAMPLES = 64
#: landings needed before latency may shrink the limit
MIN_SAMPLES = 3
_OVERLOAD = re.compile(r'HTTP (409|5\d\d)\b')

LANDED = 'landed'
CONGESTED = 'congested'
NEUTRAL = 'neutral'


def verdict(error):
    """What an evacuation attempt that ended with ``error`` (None: it
    landed) says about Nova's load: LANDED, CONGESTED or NEUTRAL."""
    if error is None:
        return LANDED
    if isinstance(error, (exception.NovaUnavailable,
                          exception.EvacuationTimeout)):
        return CONGESTED
    if (isinstance(error, exception.NovaError)
            and _OVERLOAD.search(str(error))):
        return CONGESTED
    return NEUTRAL


def priority_key(entry):
    """Sort key of a plan entry in the process's queue (lower first)."""
    return (not entry.get('ha_enabled'), -(entry.get('priority') or 0))


class Slot:
    """One evacuation in flight."""

    def __init__(self, started, round_):
        self.started = started
        self.round = round_


class Pacer:
    """The process's limit on evacuations in flight, and its queue."""

    def __init__(self, ceiling, initial=None, floor=1, latency_factor=3.0,
                 adaptive=True, clock=time.monotonic):
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.adaptive = adaptive
        self.latency_factor = latency_factor
        start = ceiling if not adaptive or initial is None else initial
        self.limit = float(max(self.floor, min(ceiling, start)))
        self.in_flight = 0
        self._clock = clock
        self._cond = threading.Condition()
        self._queue = []
        self._order = itertools.count()
        self._latencies = collections.deque(maxlen=SAMPLES)
        self._slow_start = True
        #: incremented by each shrink: a round is the slots taken since
        self._round = 0

    @classmethod
    def from_conf(cls, conf):
        evac = conf.evacuation
        return cls(evac.max_in_flight, initial=evac.initial_in_flight,
                   floor=evac.min_in_flight,
                   latency_factor=evac.in_flight_latency_factor,
                   adaptive=evac.adaptive_in_flight)

    @property
    def waiting(self):
        return len(self._queue)

    @property
    def baseline(self):
        return min(self._latencies) if self._latencies else None

    @contextlib.contextmanager
    def slot(self, key=()):
        """Hold one slot while the block runs (waiting in ``key`` order,
        see :func:`priority_key`); how the block ends adapts the limit."""
        slot = self._take(key)
        try:
            yield slot
        except BaseException as err:
            self._give_back(slot, err)
            raise
        self._give_back(slot, None)

    def _take(self, key):
        with self._cond:
            ticket = (key, next(self._order))
            heapq.heappush(self._queue, ticket)
            self._cond.wait_for(lambda: self._queue[0] is ticket
                                and self.in_flight < int(self.limit))
            heapq.heappop(self._queue)
            self.in_flight += 1
            self._cond.notify_all()   # the next in line may fit too
            return Slot(self._clock(), self._round)

    def _give_back(self, slot, error):
        with self._cond:
            busy = self.in_flight >= int(self.limit) or bool(self._queue)
            self.in_flight -= 1
            if self.adaptive:
                self._adapt(slot, verdict(error), error, busy)
            self._cond.notify_all()

    def _adapt(self, slot, outcome, error, busy):
        if outcome == NEUTRAL:
            return
        if outcome == CONGESTED:
            self._shrink(slot, error)
            return
        latency = self._clock() - slot.started
        self._latencies.append(latency)
        if (len(self._latencies) >= MIN_SAMPLES
                and latency > self.latency_factor * self.baseline):
            self._shrink(slot, 'landed after %.1fs, %.1fx the baseline '
                         '%.1fs' % (latency, latency / self.baseline,
                                    self.baseline))
        elif busy:
            self._grow()

    def _grow(self):
        step = 1.0 if self._slow_start else 1.0 / self.limit
        self.limit = min(float(self.ceiling), self.limit + step)

    def _shrink(self, slot, why):
        if slot.round < self._round:
            return   # started before the last shrink: already reacted
        before = self.limit
        self.limit = max(float(self.floor), self.limit / 2.0)
        self._slow_start = False
        self._round += 1
        LOG.info('Evacuations in flight: limit %d -> %d (%s)', before,
                 self.limit, why)
