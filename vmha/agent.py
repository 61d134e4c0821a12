"""vmha-agent: keep this compute host's heartbeat alive in the agents' group.

The agent is a member of ``[coordination] group_name`` named after its host
as Nova knows it (``[agent] host``). It heartbeats every
``heartbeat_interval``; after each beat it checks that the backend still
lists it and joins again if not (a Redis restarted without persistence, a
ZooKeeper session that expired while the host was stalled). A backend that
cannot be reached is retried at every beat: the agent never exits on its own.

With a watchdog (``[watchdog] driver``, see :mod:`vmha.watchdog`) it arms
it after its first heartbeat that reached the backend, reports it (driver,
timeout, margin) in the capabilities it joins with, and pets it right after
each heartbeat that reached the backend -- never otherwise: a host whose
agent died, hangs, or lost the backend resets itself within ``timeout +
margin`` of its last heartbeat.

Stopping it (SIGTERM, SIGINT) is a *planned* stop: it disarms the watchdog
(magic close), marks the stop and leaves the group at once, so the monitor
sees "left" and recovers nothing. Only a host whose heartbeat stops without
that (crash, power loss, hang, SIGKILL, SIGSTOP) is a failure.
"""

import os
import threading
import time

from oslo_log import log as logging
from oslo_utils import timeutils

from vmha import coordination
from vmha import exception
from vmha import metrics
from vmha import watchdog as watchdog_mod

LOG = logging.getLogger(__name__)


class Agent:
    """Heartbeats for one host until told to stop."""

    def __init__(self, conf, connect=coordination.Membership.connect,
                 watchdog=None, clock=time.monotonic):
        coordination.check_timing(conf)
        watchdog_mod.check_timing(conf)
        self.conf = conf
        self.host = conf.agent.host
        self.interval = conf.coordination.heartbeat_interval
        self._connect = connect
        self._membership = None
        self._joined = False
        self._failing = False
        self._clock = clock
        self.watchdog = watchdog or watchdog_mod.load_driver(conf)
        # pet (heartbeat loop) and disarm (also the stop signal's cleanup,
        # when the loop hangs on the backend) never interleave
        self._watchdog_lock = threading.Lock()
        self._armed_once = False
        self.beats = 0
        self.pets = 0

    @property
    def capabilities(self):
        return {'host': self.host, 'pid': os.getpid(),
                'started_at': timeutils.utcnow(with_timezone=True).isoformat(),
                'watchdog': watchdog_mod.report(self.watchdog, self.conf)}

    def run(self, stop):
        """Arm the watchdog, heartbeat until ``stop`` (a threading.Event)
        is set, then disarm and leave."""
        LOG.info('vmha-agent for host %s: heartbeating every %.1fs to %s, '
                 'group %s', self.host, self.interval,
                 coordination.describe(self.conf.coordination.backend_url),
                 self.conf.coordination.group_name)
        try:
            while True:
                self.beat()
                if stop.wait(self.interval):
                    break
        finally:
            self.leave()

    def arm(self):
        """Arm the watchdog, once: after the first heartbeat that reached
        the backend, before joining (so the capabilities say it), so that a
        host that boots while the backend is unreachable is not reset in a
        loop. Raises WatchdogError: the agent stops rather than run without
        the watchdog it was asked for."""
        if self._armed_once:
            return
        self._armed_once = True
        self.watchdog.validate()
        timeout = self.watchdog.arm(self.conf.watchdog.timeout)
        if self.watchdog.armed:
            LOG.warning('Watchdog %s armed (driver %s, timeout %ds): this '
                        'host resets itself if its heartbeats stop reaching '
                        'the coordination backend for %.1fs, or if '
                        'vmha-agent dies', self.conf.watchdog.device,
                        self.watchdog.name, timeout,
                        timeout + self.conf.watchdog.margin)

    def beat(self):
        """One heartbeat; (re)connect and (re)join as needed, then pet the
        watchdog. Never raises CoordinationError: an unreachable backend is
        retried next beat (and the watchdog is not petted)."""
        started = self._clock()
        try:
            if self._membership is None:
                self._membership = self._connect(self.conf, self.host)
            self._membership.heartbeat()
            self.arm()
            if not (self._joined and self._membership.is_member(self.host)):
                self._join()
            self.beats += 1
            metrics.agent_heartbeat(True)
            if self._failing:
                LOG.info('Coordination backend reachable again')
            self._failing = False
        except exception.CoordinationError as err:
            metrics.agent_heartbeat(False)
            if not self._failing:
                LOG.error('Heartbeat of %s failed (retrying every %.1fs): '
                          '%s%s', self.host, self.interval, err,
                          '; NOT petting the watchdog: the host resets '
                          'unless a heartbeat succeeds within %ds' %
                          self.watchdog.timeout if self.watchdog.armed
                          else '')
            self._failing = True
            return
        self.pet(started)

    def pet(self, started):
        """Pet the watchdog for a heartbeat that started at ``started`` and
        succeeded -- unless it started more than ``[watchdog] margin`` ago
        (the backend was slow, or this process stalled): the monitor's
        proof counts on every pet following a heartbeat by at most that."""
        if not self.watchdog.armed:
            return
        late = self._clock() - started
        if late > self.conf.watchdog.margin:
            LOG.warning('Not petting the watchdog: the heartbeat started '
                        '%.2fs ago (more than [watchdog] margin %.2fs)',
                        late, self.conf.watchdog.margin)
            return
        try:
            with self._watchdog_lock:
                if self.watchdog.armed:
                    self.watchdog.pet()
                    self.pets += 1
        except exception.WatchdogError as err:
            LOG.error('%s', err)

    def _join(self):
        if self._joined:
            LOG.warning('The coordination backend forgot host %s; joining '
                        'again', self.host)
        self._membership.join(self.host, self.capabilities)
        self._joined = True
        LOG.info('Host %s joined group %s', self.host,
                 self._membership.group)

    def leave(self):
        """Planned stop: disarm the watchdog, mark the stop and leave the
        group, then disconnect.

        Disarmed first: a host whose stop is marked must not reset (the
        monitor would not recover it); a stop that cannot be marked only
        shows the host's agent as lost while its nova-compute reports.
        """
        self.disarm()
        if self._membership is None:
            return
        try:
            if self._joined:
                self._membership.leave(self.host)
                LOG.info('Host %s left group %s (planned stop)', self.host,
                         self._membership.group)
        except exception.CoordinationError as err:
            LOG.error('Could not leave the group cleanly; the monitor will '
                      'see host %s as failed: %s', self.host, err)
        finally:
            self._joined = False
            self._membership.close()
            self._membership = None

    def disarm(self):
        """Stop the watchdog (idempotent; safe from another thread)."""
        with self._watchdog_lock:
            if self.watchdog.armed:
                self._disarm()

    def _disarm(self):
        try:
            self.watchdog.disarm()
            LOG.info('Watchdog %s disarmed (planned stop)',
                     self.conf.watchdog.device)
        except exception.WatchdogError as err:
            LOG.error('%s: the host may reset', err)
