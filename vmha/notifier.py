"""Fan events out to the database event log and every notification driver.

Each driver has a queue and a delivery thread of its own (a *lane*): a slow
or dead receiver delays neither the recovery, which only queues events, nor
the other drivers. ``flush()`` waits, up to a bound, for what is queued; the
recovery calls it before it returns, so its notifications can hold it at most
``[notification] flush_timeout`` seconds. A driver that raises is logged,
counted in ``failures`` and recorded in the event log
(``vmha.notification.error``); it never aborts anything.
"""

import collections
import queue
import threading
import time

from oslo_log import log as logging

from vmha.drivers import loader
from vmha import events
from vmha import metrics

LOG = logging.getLogger(__name__)

_STOP = object()

#: flush bound of a Dispatcher built without configuration
DEFAULT_FLUSH_TIMEOUT = 10.0


def load_drivers(conf):
    """Instantiate every driver named in ``[notification] drivers``."""
    return {name: loader.load(loader.NOTIFICATION_NAMESPACE, name, conf)
            for name in conf.notification.drivers}


def from_conf(conf, record=None):
    """The Dispatcher ``[notification]`` describes (drivers, flush bound)."""
    return Dispatcher(load_drivers(conf), record=record,
                      flush_timeout=conf.notification.flush_timeout)


def _remaining(deadline):
    return max(0.0, deadline - time.monotonic())


class _Lane:
    """One driver's queue, drained in order by its own daemon thread.

    A daemon, so that a send stuck in a dead receiver never holds the
    process at exit.
    """

    def __init__(self, name, driver, deliver):
        self.name = name
        self.driver = driver
        self._deliver = deliver
        self._queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name='vmha-notifier-%s' % name)
        self.thread.start()

    def put(self, event):
        self._queue.put(event)

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
                return
            if isinstance(item, threading.Event):
                item.set()
            else:
                self._deliver(self.name, self.driver, item)


class Dispatcher:
    """Records each event, then hands it to every driver's lane."""

    def __init__(self, drivers, record=None,
                 flush_timeout=DEFAULT_FLUSH_TIMEOUT):
        """``drivers``: {name: Notifier}; ``record``: callable(event)."""
        self.drivers = dict(drivers)
        self.record = record
        self.flush_timeout = flush_timeout
        self.failures = collections.Counter()
        self.sent = collections.Counter()
        self._lock = threading.Lock()
        self._lanes = [_Lane(name, driver, self._deliver)
                       for name, driver in self.drivers.items()]

    def emit(self, event):
        """Record ``event`` now and queue it for every driver."""
        self._record(event)
        for lane in self._lanes:
            lane.put(event)

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

    def _record(self, event):
        metrics.event_recorded(event)
        if self.record is None:
            return
        try:
            self.record(event)
        except Exception:
            LOG.exception('Could not record event %s of host %s',
                          event.event_type, event.host)

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
