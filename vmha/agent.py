"""vmha-agent: keep this compute host's heartbeat alive in the agents' group.

The agent is a member of ``[coordination] group_name`` named after its host
as Nova knows it (``[agent] host``). It heartbeats every
``heartbeat_interval``; after each beat it checks that the backend still
lists it and joins again if not (a Redis restarted without persistence, a
ZooKeeper session that expired while the host was stalled). A backend that
cannot be reached is retried at every beat: the agent never exits on its own.

Stopping it (SIGTERM, SIGINT) is a *planned* stop: it marks the stop and
leaves the group at once, so the monitor sees "left" and recovers nothing.
Only a host whose heartbeat stops without that (crash, power loss, hang,
SIGKILL, SIGSTOP) is a failure.
"""

import datetime
import os

from oslo_log import log as logging

from vmha import coordination
from vmha import exception
from vmha import metrics

LOG = logging.getLogger(__name__)


class Agent:
    """Heartbeats for one host until told to stop."""

    def __init__(self, conf, connect=coordination.Membership.connect):
        coordination.check_timing(conf)
        self.conf = conf
        self.host = conf.agent.host
        self.interval = conf.coordination.heartbeat_interval
        self._connect = connect
        self._membership = None
        self._joined = False
        self._failing = False
        self.beats = 0

    @property
    def capabilities(self):
        return {'host': self.host, 'pid': os.getpid(),
                'started_at': datetime.datetime.now(
                    datetime.timezone.utc).isoformat()}

    def run(self, stop):
        """Heartbeat until ``stop`` (a threading.Event) is set, then leave."""
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

    def beat(self):
        """One heartbeat; (re)connect and (re)join as needed. Never raises
        CoordinationError: an unreachable backend is retried next beat."""
        try:
            if self._membership is None:
                self._membership = self._connect(self.conf, self.host)
            self._membership.heartbeat()
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
                          '%s', self.host, self.interval, err)
            self._failing = True

    def _join(self):
        if self._joined:
            LOG.warning('The coordination backend forgot host %s; joining '
                        'again', self.host)
        self._membership.join(self.host, self.capabilities)
        self._joined = True
        LOG.info('Host %s joined group %s', self.host,
                 self._membership.group)

    def leave(self):
        """Planned stop: mark it and leave the group, then disconnect."""
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
