"""Confirm evacuations in batches: one watcher per process.

Every evacuation task waits for its instance to land (and then to reach the
state it comes back in). Polling each instance with its own ``GET
/servers/{id}`` every ``[evacuation] confirm_interval`` costs nova-api one
request per instance per interval, which on a busy cloud slows the very
service the recovery waits for (issue 16: 3x bare Nova's nova-api CPU at 50
evacuations). Instead, one :class:`Watcher` per process follows every
instance that any recovery of the process is waiting for:

* every ``confirm_interval`` it sends **one** listing, ``GET /servers/detail
  ?all_tenants=1&changes-since=T`` (through :mod:`vmha.compute`, with its
  timeouts and read retries), and hands each followed instance that appears
  in it, and differs from what its task last saw, to that task, which wakes
  up; the others sleep on;
* ``T`` is on Nova's clock: the newest ``updated`` Nova showed in earlier
  listings, less :data:`CHANGES_SINCE_SLACK` (commit delays, clock skew
  between Nova's API and conductor hosts). A watcher that starts (or was
  idle) has no such value yet: it asks for the last :data:`FIRST_WINDOW`
  seconds of its own clock, the same one-minute bound on clock skew as the
  evacuation task's check of Nova's migration records;
* an instance that appears as deleted, or that Nova answers 404 for, wakes
  its task with :class:`vmha.exception.InstanceNotFound`;
* a listing that fails (Nova error, timeout) is unknown, never a failure:
  that tick falls back to one ``GET`` per followed instance (each error
  again unknown), and the next tick lists again. Nobody is lost: a task
  keeps its own deadline (``[evacuation] confirm_timeout``) and decides;
* a safety net against a listing that would miss a change (a clock far off,
  a proxy that drops the filter's results): an instance no listing showed
  for :meth:`Watcher.direct_after` seconds is read with its own ``GET``.

The watcher keeps no state that matters across a restart: a resumed task
follows its instance again, from a fresh ``GET``. The in-process runner and
each conductor run their recoveries through one Recoverer, hence one watcher
per process. A task run without a watcher (on its own, in tests) gets a
*direct* one: ``GET`` per tick, the watcher's fallback, in the task's
thread.

The migrations list is not the watcher's business: the evacuation task
asks for an instance's migration records only when its state is ambiguous
(see :mod:`vmha.tasks.evacuation`).
"""

import contextlib
import datetime
import threading
import time

from oslo_log import log as logging
from oslo_utils import timeutils

from vmha import exception
from vmha import threads

LOG = logging.getLogger(__name__)

#: seconds subtracted from the newest ``updated`` seen, for the next listing
CHANGES_SINCE_SLACK = 5.0
#: seconds of the watcher's own clock the first listing looks back
FIRST_WINDOW = 60.0
#: an instance no listing showed for this many intervals (at least
#: DIRECT_AFTER_MIN seconds) is read directly
DIRECT_AFTER_INTERVALS = 40
DIRECT_AFTER_MIN = 20.0

_NOVA_TIME = '%Y-%m-%dT%H:%M:%SZ'


def parse_nova_time(text):
    """A naive UTC datetime from Nova's ``updated`` (None if unreadable)."""
    if not text:
        return None
    try:
        return timeutils.normalize_time(timeutils.parse_isotime(text))
    except ValueError:
        return None


class Watch:
    """One task's view of one followed instance."""

    def __init__(self, watcher, instance_id, baseline, now):
        self.watcher = watcher
        self.instance_id = instance_id
        #: the newest observation (the task's own GET to begin with)
        self.latest = baseline
        #: has ``latest`` changed since the task last took it?
        self.fresh = False
        #: the instance is gone (deleted, or Nova says 404)
        self.gone = False
        #: when a listing or a GET last showed it (watcher's clock)
        self.seen_at = now

    def next(self, timeout):
        """The instance once it changed, or as last seen after ``timeout``
        seconds; raises InstanceNotFound once it is gone."""
        return self.watcher.wait(self, timeout)


class Watcher:
    """Follows the instances this process's evacuations wait for.

    ``background`` (the process's watcher): a daemon thread lists every
    ``interval`` while anything is followed. Otherwise the waiting task's
    own thread ticks (tests, a task run without a Recoverer), and
    ``batched=False`` makes each tick read every followed instance with its
    own GET, as the fallback does.
    """

    def __init__(self, compute, interval, background=True, batched=True,
                 sleep=time.sleep, clock=time.monotonic,
                 utcnow=None):
        self.compute = compute
        self.interval = interval
        self.background = background
        self.batched = batched
        self._sleep = sleep
        self._clock = clock
        self._utcnow = utcnow or timeutils.utcnow
        self._cond = threading.Condition()
        self._watches = []
        self._since = None
        self._thread = None
        #: counters, for logs and tests: listings sent, listings failed,
        #: per-instance GETs
        self.listings = 0
        self.listing_failures = 0
        self.direct_reads = 0

    @classmethod
    def from_conf(cls, conf, compute):
        return cls(compute, conf.evacuation.confirm_interval)

    @classmethod
    def direct(cls, compute, interval, sleep=time.sleep,
               clock=time.monotonic):
        """A watcher in the caller's thread reading one instance per GET."""
        return cls(compute, interval, background=False, batched=False,
                   sleep=sleep, clock=clock)

    @property
    def direct_after(self):
        """Seconds an instance may go unseen by listings before a GET."""
        return max(DIRECT_AFTER_MIN, DIRECT_AFTER_INTERVALS * self.interval)

    # -- what a task calls ----------------------------------------------------

    @contextlib.contextmanager
    def follow(self, instance_id, baseline):
        """Follow ``instance_id`` meanwhile; ``baseline`` is the Instance
        the task last read (changes are judged against it)."""
        watch = Watch(self, instance_id, baseline, self._clock())
        with self._cond:
            if not self._watches:
                self._since = None   # idle until now: a fresh window
            self._watches.append(watch)
            if self.background and self._thread is None:
                self._thread = threads.spawn(self._run, 'vmha-confirm')
            self._cond.notify_all()
        try:
            yield watch
        finally:
            with self._cond:
                self._watches.remove(watch)

    def wait(self, watch, timeout):
        """See :meth:`Watch.next`."""
        if self.background:
            with self._cond:
                self._cond.wait_for(lambda: watch.fresh or watch.gone,
                                    max(0.0, timeout))
                return self._take(watch)
        end, ticked = self._clock() + timeout, False
        while not (watch.fresh or watch.gone
                   or (ticked and self._clock() >= end)):
            if ticked:
                self._sleep(self.interval)
            self.tick()
            ticked = True
        with self._cond:
            return self._take(watch)

    @staticmethod
    def _take(watch):
        if watch.gone:
            raise exception.InstanceNotFound(instance=watch.instance_id)
        watch.fresh = False
        return watch.latest

    # -- one round ------------------------------------------------------------

    def _run(self):
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._watches)
            self._sleep(self.interval)
            try:
                self.tick()
            except Exception:   # the thread must outlive any surprise
                LOG.exception('Confirming evacuations: unexpected error')

    def tick(self):
        """List once (or read each directly) and wake what changed."""
        with self._cond:
            watches = list(self._watches)
        if not watches:
            return
        if not self.batched or not self._list(watches):
            self._read_each(watches)
            return
        now = self._clock()
        self._read_each([w for w in watches
                         if now - w.seen_at >= self.direct_after])

    def _list(self, watches):
        """One listing for every followed instance; False if it failed."""
        since = self._since or self._utcnow() - datetime.timedelta(
            seconds=FIRST_WINDOW)
        try:
            listed = self.compute.list_changed_instances(
                since.strftime(_NOVA_TIME))
        except exception.VmhaError as err:
            self.listing_failures += 1
            LOG.warning('Listing the instances Nova changed failed (%s): '
                        'reading the %d followed instance(s) one by one '
                        'this time', err, len(watches))
            return False
        except Exception:       # a bug or an odd compute API: still confirm
            self.listing_failures += 1
            LOG.exception('Listing the instances Nova changed failed '
                          'unexpectedly: reading the %d followed '
                          'instance(s) one by one this time', len(watches))
            return False
        self.listings += 1
        by_id = {inst.id: inst for inst in listed}
        now = self._clock()
        with self._cond:
            self._advance(since, listed)
            for watch in watches:
                inst = by_id.get(watch.instance_id)
                if inst is not None:
                    self._observed(watch, inst, now)
            self._cond.notify_all()
        return True

    def _advance(self, since, listed):
        """The next listing starts at the newest change Nova showed, less
        the slack; never earlier than this one."""
        newest = max(filter(None, (parse_nova_time(i.updated)
                                   for i in listed)), default=None)
        if newest is not None:
            since = max(since, newest - datetime.timedelta(
                seconds=CHANGES_SINCE_SLACK))
        self._since = since

    def _read_each(self, watches):
        """One GET per instance: an error leaves it unknown until the next
        tick; a 404 means it is gone."""
        for watch in watches:
            self.direct_reads += 1
            try:
                inst = self.compute.get_instance(watch.instance_id)
            except exception.InstanceNotFound:
                inst = None
            except exception.VmhaError as err:
                LOG.warning('Cannot read instance %s (%s): trying again',
                            watch.instance_id, err)
                continue
            with self._cond:
                if inst is None:
                    watch.gone = True
                else:
                    self._observed(watch, inst, self._clock())
                self._cond.notify_all()

    @staticmethod
    def _observed(watch, inst, now):
        watch.seen_at = now
        if inst.deleted:
            watch.gone = True
        elif inst != watch.latest:
            watch.latest = inst
            watch.fresh = True
