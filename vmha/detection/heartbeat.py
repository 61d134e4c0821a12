"""The ``heartbeat`` detection source: vmha-agent membership through tooz.

Every host whose agent this monitor has seen in the group is reported:
``alive`` while a member; ``left`` when its agent stopped on purpose; else
``missing`` from the moment its membership is first seen expired, and
``lost`` once that has lasted the settle time (so the heartbeat has been
gone for ``heartbeat_timeout``, see :mod:`vmha.coordination`). Hosts whose
agent was never seen are not reported: the decision falls back to Nova.

If the group itself vanished (the backend restarted without its data), the
source forgets what it saw instead of reporting every host lost.

Each poll also reads the members' capabilities: a host whose agent reported
an armed watchdog the last time it was seen alive carries that report (and
when that was) in its ``missing``/``lost`` observations, for the watchdog
proof (:mod:`vmha.watchdog`). A read that fails counts as unarmed.
"""

import os
import socket
import time

from oslo_log import log as logging

from vmha import coordination
from vmha.detection import base
from vmha import watchdog

LOG = logging.getLogger(__name__)

#: what every live member is reported as: one shared, immutable value, so
#: that a poll of 10,000 members makes no object per member and the monitor
#: can tell an unchanged host by identity (decision.combine)
ALIVE = base.Observation(base.ALIVE)


class HeartbeatSource(base.DetectionSource):

    signal = base.HEARTBEAT

    def __init__(self, conf, membership=None, clock=time.time, **_unused):
        coordination.check_timing(conf)
        self.conf = conf
        self._membership = membership
        self._clock = clock
        self.settle = coordination.settle_time(conf)
        self._seen = set()        # hosts seen alive
        self._missing = {}        # host -> first seen missing
        self._armed = {}          # host -> watchdog report when last alive
        self._alive_at = {}       # host -> clock time last seen alive
        self._armed_alive = {}    # armed live host -> its ALIVE observation

    @property
    def membership(self):
        if self._membership is None:
            member = 'vmha-monitor.%s.%d' % (socket.gethostname(),
                                             os.getpid())
            self._membership = coordination.Membership.connect(
                self.conf, member)
        return self._membership

    def observe(self):
        members = self.membership.members()
        if members is None:
            if self._seen:
                LOG.warning('Agents\' group %s is gone from the backend; '
                            'forgetting %d known agent(s) until they join '
                            'again', self.membership.group, len(self._seen))
            self._seen.clear()
            self._missing.clear()
            self._armed.clear()
            self._armed_alive.clear()
            return {}
        gone = self._seen - members
        left = self.membership.left() if gone else set()
        now = self._clock()
        self._note_alive(members, now)
        self._seen |= members
        result = dict.fromkeys(members, ALIVE)
        for host in members & self._armed_alive.keys():
            result[host] = self._armed_alive[host]
        for host in gone:
            result[host] = self._gone(host, host in left, now)
        self._missing = {h: t for h, t in self._missing.items() if h in gone}
        return result

    def _note_alive(self, members, now):
        """Record when each member was seen and its watchdog report (read
        every poll: an agent restarted between two polls may have changed
        it; on Redis one read for all, see Membership.capabilities). An
        armed live host keeps the same ALIVE observation while its report
        is unchanged, so the monitor still tells it unchanged by identity."""
        caps = self.membership.capabilities(members) if members else {}
        for host in members:
            self._alive_at[host] = now
            report = watchdog.armed_report(caps.get(host))
            self._armed[host] = report
            if report is None:
                self._armed_alive.pop(host, None)
            elif getattr(self._armed_alive.get(host), 'watchdog',
                         None) != report:
                self._armed_alive[host] = base.Observation(
                    base.ALIVE, watchdog=report)

    def _watchdog(self, host):
        report = self._armed.get(host)
        if report is None:
            return None
        return dict(report, last_alive=self._alive_at.get(host))

    def _gone(self, host, left, now):
        if left:
            self._missing.pop(host, None)
            return base.Observation(base.LEFT)
        since = self._missing.setdefault(host, now)
        state = base.LOST if now - since >= self.settle else base.MISSING
        return base.Observation(state, since, watchdog=self._watchdog(host))

    def next_change(self):
        now = self._clock()
        pending = [since + self.settle for since in self._missing.values()
                   if since + self.settle > now]
        return min(pending, default=None)

    def close(self):
        if self._membership is not None:
            self._membership.close()
            self._membership = None
