"""Self-fencing by watchdog: the agent's rule, and the monitor's proof.

**The agent** (vmha/agent.py) arms its host's watchdog with ``[watchdog]
timeout`` T and pets it right after each heartbeat that reached the
coordination backend (heartbeat sent, membership confirmed), and only if
that heartbeat *started* at most ``[watchdog] margin`` m ago: a heartbeat
that took long, or an agent stalled between its heartbeat and its pet, does
not pet. So every pet follows a heartbeat write by at most m, and the host
resets at most ``T + m`` after the last heartbeat write that reached the
backend. In particular it stops petting as soon as its heartbeats fail,
well before ``T - m`` without one.

**The monitor** knows a host is armed from the capabilities the agent joined
the group with (``watchdog``: driver, timeout, margin). Once the host's
heartbeat is lost and its BMC cannot confirm power-off (unreachable, timed
out, or the host has no BMC), it counts the host as reset when the latest
moment its last heartbeat can have been written, *B*, is at least ``window =
T + m + [watchdog] margin`` (the monitor's own slack: clock steps, Redis's
TTL clock against the monitor's, scheduling) in the past.

*B* comes from observing the group: a member is listed for ``expiry``
(:func:`vmha.coordination.expiry`) after its last heartbeat write, so seeing
it absent at time *o* proves no write in ``(o - expiry, o]``. Observations
closer together than ``expiry`` prove no write at all between them; after a
gap, or at the first observation, B moves up to ``o - expiry``. B is never
earlier than the last time the monitor saw the host alive. The proof holds
at the first observation of absence at or after ``B + window``; one
observation of the host present again voids it (its agent may have petted).
:class:`HeartbeatWatch` does this for the recovery, from the moment its
fencing starts, while the BMC is tried.

A host that is armed but whose heartbeats still arrive is never counted as
reset: its heartbeat is not lost, and the watch sees it present.
"""

import dataclasses
import datetime
import threading
import time

from oslo_log import log as logging

from vmha import coordination
from vmha.drivers import loader
from vmha import exception

LOG = logging.getLogger(__name__)

#: the proof a recovery's fencing rests on (recoveries.fence_proof)
PROOF_BMC = 'bmc-off'
PROOF_WATCHDOG = 'watchdog-expiry'

#: how much longer than the expected window the watch waits for a proof
#: when the backend cannot be observed (each gap moves the deadline)
_GIVE_UP_FACTOR = 3


def load_driver(conf):
    return loader.load(loader.WATCHDOG_NAMESPACE, conf.watchdog.driver, conf)


def check_timing(conf):
    """Refuse watchdog settings under which a healthy agent would not pet
    in time (only when a watchdog is armed at all)."""
    group, interval = conf.watchdog, conf.coordination.heartbeat_interval
    if group.driver == 'none':
        return
    if 2 * group.margin >= group.timeout:
        raise exception.ConfigError(
            reason='[watchdog] margin (%s) must be less than half of '
                   'timeout (%s)' % (group.margin, group.timeout))
    if 2 * interval + group.margin > group.timeout:
        raise exception.ConfigError(
            reason='[watchdog] timeout (%s) must be at least twice '
                   '[coordination] heartbeat_interval (%s) + margin (%s): a '
                   'healthy agent pets once per heartbeat'
                   % (group.timeout, interval, group.margin))


def report(driver, conf):
    """What the agent tells the monitor about its watchdog (joined with its
    membership): None when it is not armed."""
    if not driver.armed:
        return None
    return {'driver': driver.name, 'timeout': driver.timeout,
            'margin': conf.watchdog.margin}


def armed_report(capabilities):
    """The agent's watchdog report from its member capabilities, or None
    (not armed, an older agent, or a report that does not parse)."""
    wd = (capabilities or {}).get('watchdog') if isinstance(
        capabilities, dict) else None
    try:
        timeout, margin = float(wd['timeout']), float(wd['margin'])
    except (TypeError, KeyError, ValueError):
        return None
    if timeout <= 0 or margin < 0:
        return None
    return {'driver': wd.get('driver'), 'timeout': timeout, 'margin': margin}


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What a recovery needs to try the watchdog proof.

    ``expires_at``: the monitor's estimate (clock time) of when the host is
    certainly reset; a lower bound, the watch recomputes it. ``window``:
    seconds from the host's last possible heartbeat write to that moment.
    """

    expires_at: float
    window: float

    @classmethod
    def from_report(cls, wd_report, last_alive, observed_at, expiry, margin):
        """From an armed host's report, the last time the monitor saw it
        alive, the time it saw it absent, and the monitor's margin."""
        window = wd_report['timeout'] + wd_report['margin'] + margin
        bound = max(last_alive or observed_at - expiry,
                    observed_at - expiry)
        return cls(expires_at=bound + window, window=window)

    @property
    def expires_at_utc(self):
        return to_utc(self.expires_at)


def to_utc(timestamp):
    """Naive UTC datetime (the database's convention) of a clock time."""
    return datetime.datetime.fromtimestamp(
        timestamp, datetime.timezone.utc).replace(tzinfo=None)


def from_utc(naive_utc):
    return naive_utc.replace(tzinfo=datetime.timezone.utc).timestamp()


def bmc_cannot_confirm(err):
    """Whether a fencing error leaves the BMC silent (unreachable, timed
    out, no BMC at all, or every poll after the power-off failed) -- the
    only failures the watchdog proof may stand in for. A BMC that answers
    (refused credentials, power still on) is never overridden."""
    if isinstance(err, (exception.BMCUnreachable, exception.BMCTimeout,
                        exception.NoPowerControl)):
        return True
    return (isinstance(err, exception.PowerOffUnconfirmed)
            and err.kwargs.get('state') == 'unknown')


class HeartbeatWatch:
    """Observe that ``host``'s agent stays out of the group until its
    watchdog has certainly fired (see the module docstring).

    Runs in a daemon thread from :meth:`start`; :meth:`wait` returns the
    clock time of the observation that completes the proof, or raises
    WatchdogUnproven.
    """

    def __init__(self, conf, host, evidence, connect=None, clock=time.time,
                 member_id=None):
        self.conf = conf
        self.host = host
        self.window = evidence.window
        self.expiry = coordination.expiry(conf)
        self.interval = min(1.0, self.expiry / 3.0)
        self._bound = evidence.expires_at - evidence.window
        self._last = None           # clock time of the last observation
        self._present_at = None
        self._error = None
        self._clock = clock
        self._connect = connect or coordination.Membership.connect
        self._member_id = member_id or 'vmha-watch.%s.%d' % (
            host, threading.get_ident())
        self._membership = None
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = None

    @property
    def deadline(self):
        """Clock time at which the host is certainly reset, as observed."""
        with self._changed:
            return self._bound + self.window

    def start(self):
        self._thread = threading.Thread(
            target=self._run, daemon=True,
            name='vmha-watchdog-watch-%s' % self.host)
        self._thread.start()
        return self

    def _run(self):
        try:
            while not self._stop.is_set():
                self.observe()
                if self._present_at is not None:
                    return
                self._stop.wait(self.interval)
        finally:
            if self._membership is not None:
                self._membership.close()

    def observe(self):
        """One look at the group (a failed look is a gap)."""
        try:
            if self._membership is None:
                self._membership = self._connect(self.conf, self._member_id)
            members = self._membership.members()
        except exception.CoordinationError as err:
            self._note(error=err)
            return
        now = self._clock()
        if members is None:
            self._note(error='the agents\' group is gone from the backend')
        elif self.host in members:
            self._note(present=now)
        else:
            self._note(absent=now)

    def _note(self, absent=None, present=None, error=None):
        with self._changed:
            if absent is not None:
                if self._last is None or absent - self._last > self.expiry:
                    self._bound = max(self._bound, absent - self.expiry)
                self._last = absent
            if present is not None:
                self._present_at = present
            if error is not None:
                self._error = error
            self._changed.notify_all()

    def proven(self):
        """The clock time of the observation that completed the proof, or
        None (not yet). Raises WatchdogUnproven once the host was seen
        present again."""
        with self._changed:
            if self._present_at is not None:
                raise self._unproven('its agent is in the group again '
                                     '(heartbeats reach the backend)')
            if self._last is not None and \
                    self._last >= self._bound + self.window:
                return self._last
            return None

    def wait(self, sleep=None):
        """Block until the proof holds; return the clock time it held at.

        Raises WatchdogUnproven when the host was seen present again, or
        when no proof came within a few windows (the backend could not be
        observed).
        """
        give_up = self._clock() + _GIVE_UP_FACTOR * self.window + self.expiry
        while True:
            proven_at = self.proven()
            if proven_at is not None:
                return proven_at
            if self._clock() > give_up:
                raise self._unproven(
                    'its absence could not be observed until %s (last '
                    'error: %s)' % (to_utc(self.deadline).isoformat(
                        timespec='seconds'), self._error))
            with self._changed:
                self._changed.wait(sleep or self.interval)

    def _unproven(self, reason):
        return exception.WatchdogUnproven(host=self.host, bmc='(watchdog)',
                                          reason=reason)

    def stop(self):
        self._stop.set()
