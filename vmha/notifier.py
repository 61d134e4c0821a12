"""Fan events out to the database event log and every notification driver.

Each driver has a queue and a delivery thread of its own (a *lane*): a slow
or dead receiver delays neither the recovery, which only queues events, nor
the other drivers. ``flush()`` waits, up to a bound, for what is queued; the
recovery calls it before it returns, so its notifications can hold it at most
``[notification] flush_timeout`` seconds. A driver that raises is logged,
counted in ``failures`` and recorded in the event log
(``vmha.notification.error``); it never aborts anything.

**The outbox.** A Dispatcher given the database records each event together
with one row per driver that owes it (``outbox``, in the same transaction),
and each lane settles its rows once the driver sent the event or failed to.
A process killed between the two (SIGKILL mid-recovery, a power cut) leaves
its rows behind; :meth:`Dispatcher.redeliver`, which vmha-monitor calls as
it polls, claims the rows another process has owed for longer than
``[notification] redeliver_after`` and sends them through its own drivers of
the same name. Notifications are thus delivered at least once: a process
still alive but slower than that bound may have sent one of them too.
"""

import collections
import queue
import threading
import time

from oslo_log import log as logging

from vmha.drivers import loader
from vmha import events
from vmha import metrics
from vmha import ownership

LOG = logging.getLogger(__name__)

_STOP = object()

#: flush bound of a Dispatcher built without configuration
DEFAULT_FLUSH_TIMEOUT = 10.0
#: seconds a delivery may stay owed before another process sends it, for a
#: Dispatcher built without configuration ([notification] redeliver_after)
DEFAULT_REDELIVER_AFTER = 120.0
#: seconds between two looks at the outbox for deliveries to make again
REDELIVER_EVERY = 30.0
#: deliveries a lane clears from the outbox in one database write, at most
SETTLE_BATCH = 50


def load_drivers(conf):
    """Instantiate every driver named in ``[notification] drivers``."""
    return {name: loader.load(loader.NOTIFICATION_NAMESPACE, name, conf)
            for name in conf.notification.drivers}


def from_conf(conf, record=None, outbox=None, owner=None):
    """The Dispatcher ``[notification]`` describes (drivers, flush bound,
    redelivery); ``outbox``: the vmha.db.api.Database to record events and
    the deliveries owed in."""
    return Dispatcher(load_drivers(conf), record=record,
                      flush_timeout=conf.notification.flush_timeout,
                      outbox=outbox, owner=owner,
                      redeliver_after=conf.notification.redeliver_after)


def _remaining(deadline):
    return max(0.0, deadline - time.monotonic())


class _Lane:
    """One driver's queue, drained in order by its own daemon thread.

    A daemon, so that a send stuck in a dead receiver never holds the
    process at exit.
    """

    def __init__(self, name, driver, deliver, settle=None):
        self.name = name
        self.driver = driver
        self._deliver = deliver
        self._settle = settle
        self._settling = []
        self._queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name='vmha-notifier-%s' % name)
        self.thread.start()

    def put(self, event, event_id=None):
        """Queue ``event`` (``event_id``: its outbox row's event, if any)."""
        self._queue.put((event, event_id))

    def marker(self):
        """A threading.Event set once everything queued before it is done."""
        done = threading.Event()
        self._queue.put(done)
        return done

    def stop(self):
        self._queue.put(_STOP)

    def _run(self):
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._settle_batch()
                return
            if isinstance(item, threading.Event):
                self._settle_batch()
                item.set()
                continue
            event, event_id = item
            self._deliver(self.name, self.driver, event)
            if event_id is not None:
                self._settling.append(event_id)
            if self._queue.empty() or len(self._settling) >= SETTLE_BATCH:
                self._settle_batch()

    def _settle_batch(self):
        """Clear the outbox rows of what this lane has handled; one write
        per batch, not per event, as a burst of events would otherwise
        queue behind the recovery's own database writes."""
        done, self._settling = self._settling, []
        if not done or self._settle is None:
            return
        try:
            self._settle(self.name, done)
        except Exception as err:   # they are sent: the worst is a resend
            LOG.warning('Could not clear %d sent notification(s) of driver '
                        '%s from the outbox (%s): they may be sent again',
                        len(done), self.name, err)


class Dispatcher:
    """Records each event, then hands it to every driver's lane."""

    def __init__(self, drivers, record=None,
                 flush_timeout=DEFAULT_FLUSH_TIMEOUT, outbox=None,
                 owner=None, redeliver_after=DEFAULT_REDELIVER_AFTER,
                 clock=time.monotonic):
        """``drivers``: {name: Notifier}; ``record``: callable(event), or
        ``outbox``: a vmha.db.api.Database that records each event with
        the deliveries ``owner`` (this process) owes for it."""
        self.drivers = dict(drivers)
        self.outbox = outbox
        self.owner = owner or ownership.process_owner()
        self.record = record or (outbox.add_event if outbox else None)
        self.flush_timeout = flush_timeout
        self.redeliver_after = redeliver_after
        self.failures = collections.Counter()
        self.sent = collections.Counter()
        self.redelivered = collections.Counter()
        self._clock = clock
        self._next_redelivery = None
        self._lock = threading.Lock()
        settle = outbox.settle_deliveries if outbox else None
        self._lanes = [_Lane(name, driver, self._deliver, settle)
                       for name, driver in self.drivers.items()]

    def emit(self, event):
        """Record ``event`` now (with its deliveries) and queue it for
        every driver."""
        event_id = self._record(event, [lane.name for lane in self._lanes])
        for lane in self._lanes:
            lane.put(event, event_id)

    def redeliver(self):
        """Send again what other processes owe and did not send within
        ``redeliver_after`` seconds (see the module's docstring); at most
        once every REDELIVER_EVERY seconds. Returns how many were queued."""
        now = self._clock()
        if (self.outbox is None or not self._lanes
                or (self._next_redelivery is not None
                    and now < self._next_redelivery)):
            return 0
        self._next_redelivery = now + REDELIVER_EVERY
        lanes = {lane.name: lane for lane in self._lanes}
        try:
            claimed = self.outbox.claim_deliveries(
                list(lanes), self.owner, self.redeliver_after)
        except Exception as err:    # the next call tries again
            LOG.warning('Cannot read the notification outbox: %s', err)
            return 0
        for driver, event_id, event in claimed:
            LOG.warning('Sending %s of host %s (recorded %s) through %s '
                        'again: the process that recorded it did not send '
                        'it within %.0fs', event.event_type, event.host,
                        event.timestamp.isoformat(), driver,
                        self.redeliver_after)
            lanes[driver].put(event, event_id)
            with self._lock:
                self.redelivered[driver] += 1
        return len(claimed)

    def flush(self, timeout=None):
        """Wait up to ``timeout`` s (default ``flush_timeout``) until every
        driver handled what was queued; True when all did.

        Delivery goes on in the background after a timeout.
        """
        timeout = self.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        markers = [(lane.name, lane.marker()) for lane in self._lanes]
        late = [name for name, done in markers
                if not done.wait(_remaining(deadline))]
        if late:
            LOG.warning('Notifications through %s still pending after '
                        '%.1fs; they keep going in the background',
                        ', '.join(late), timeout)
        return not late

    def close(self, timeout=None):
        """Flush and stop the lanes within ``timeout`` s, close the drivers.

        A lane still stuck in a send after that is abandoned (a daemon
        thread), so closing never takes longer than the bound. Later
        events are only recorded; closing again does nothing more.
        """
        timeout = self.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self.flush(timeout)
        lanes, self._lanes = self._lanes, []
        for lane in lanes:
            lane.stop()
        for lane in lanes:
            lane.thread.join(_remaining(deadline))
        drivers, self.drivers = self.drivers, {}
        for name, driver in drivers.items():
            try:
                driver.close()
            except Exception:
                LOG.exception('Notification driver %s failed to close', name)

    def _record(self, event, deliveries=()):
        """Record ``event``; with an outbox, also the ``deliveries`` owed
        for it. Returns its id in the outbox, or None."""
        metrics.event_recorded(event)
        if self.record is None:
            return None
        try:
            if self.outbox is None or not deliveries:
                self.record(event)
                return None
            return self.record(event, deliveries=deliveries,
                               owner=self.owner)
        except Exception:
            LOG.exception('Could not record event %s of host %s',
                          event.event_type, event.host)
            return None

    def _deliver(self, name, driver, event):
        try:
            driver.notify(event)
        except Exception as err:
            self._failed(name, event, err)
        else:
            with self._lock:
                self.sent[name] += 1
            metrics.notification_sent(name)

    def _failed(self, name, event, err):
        """Count, log and record a delivery failure (never re-notified)."""
        with self._lock:
            self.failures[name] += 1
        LOG.error('Notification driver %s failed to send %s for host %s: %s',
                  name, event.event_type, event.host, err)
        self._record(events.Event(
            events.NOTIFICATION_FAILED, host=event.host,
            recovery_id=event.recovery_id, level=event.level,
            payload={'driver': name, 'undelivered_event': event.event_type,
                     'error': str(err)}))
