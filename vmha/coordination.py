"""Agent heartbeats as tooz group membership, for vmha-agent and the monitor.

Each vmha-agent is the member of ``[coordination] group_name`` whose member
id is its host's name as Nova knows it; it heartbeats to keep the membership
and the backend drops it when the heartbeats stop. A planned stop must not
look like a failure, but membership alone cannot tell "left" from "expired",
so an agent that stops on purpose first creates a *left marker* (an empty
tooz group ``<group>.left.<host>``, which persists without heartbeats) and
then leaves; it deletes the marker when it joins again.

Timing: the backend's membership expiry is set to ``heartbeat_timeout -
settle`` where ``settle`` is at least ``heartbeat_interval``; the monitor
waits ``settle`` after it first sees a member gone before calling the
heartbeat lost. So a lost heartbeat is always ``heartbeat_timeout`` old, and
agents that died together have all expired by then (their last beats were at
most one interval apart): the mass-failure guard sees them together.
"""

import contextlib
import math
import urllib.parse

from oslo_log import log as logging
from stevedore import exception as stevedore_exc
import tooz
from tooz import coordination as tooz_coordination

from vmha import exception

LOG = logging.getLogger(__name__)

#: tooz URL scheme -> (option that sets the membership expiry, integer only)
_EXPIRY_OPTIONS = {
    'redis': ('membership_timeout', False),
    'rediss': ('membership_timeout', False),
    'etcd3+http': ('membership_timeout', True),
    'etcd3+https': ('membership_timeout', True),
    'memcached': ('membership_timeout', False),
    'file': ('timeout', True),
    'zookeeper': ('timeout', True),
    'kazoo': ('timeout', True),
}
_LEFT = '%s.left.'


def scheme(url):
    return urllib.parse.urlsplit(url).scheme


def describe(url):
    """``scheme://host:port/path`` of a backend URL: no credentials, no
    query string, safe for messages."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition('@')[2]
    return '%s://%s%s' % (parts.scheme, netloc, parts.path)


def check_timing(conf):
    """Refuse heartbeat settings that would expire healthy agents."""
    group = conf.coordination
    if group.heartbeat_interval * 2 > group.heartbeat_timeout:
        raise exception.ConfigError(
            reason='[coordination] heartbeat_interval (%s) must be at most '
                   'half of heartbeat_timeout (%s)'
                   % (group.heartbeat_interval, group.heartbeat_timeout))


def expiry(conf):
    """Seconds after its last heartbeat the backend drops a member."""
    group = conf.coordination
    seconds = group.heartbeat_timeout - group.heartbeat_interval
    _option, integer = _EXPIRY_OPTIONS.get(
        scheme(group.backend_url), (None, False))
    if integer:
        # round down: the monitor's settle time grows by what is cut here
        seconds = max(1, math.floor(seconds))
    return seconds


def settle_time(conf):
    """How long the monitor waits after a member expired before it calls
    the heartbeat lost (heartbeat_timeout in all)."""
    return max(0.0, conf.coordination.heartbeat_timeout - expiry(conf))


def left_marker(group, host):
    return (_LEFT % group) + host


@contextlib.contextmanager
def _errors(url, action):
    try:
        yield
    except stevedore_exc.NoMatches:
        raise exception.ConfigError(
            reason='[coordination] backend_url: no tooz driver for scheme '
                   '"%s" (installed with tooz: redis, etcd3+http, zookeeper, '
                   'file, ...)' % scheme(url))
    except (tooz.ToozError, OSError, ValueError) as err:
        raise exception.CoordinationError(backend=describe(url),
                                          action=action, reason=err) from err


def _text(value):
    return value.decode('utf-8') if isinstance(value, bytes) else value


class Membership:
    """One process's view of the agents' group, over one tooz coordinator.

    Every method raises CoordinationError (never a tooz error), naming the
    backend without credentials.
    """

    def __init__(self, coordinator, url, group):
        self._coordinator = coordinator
        self._parsed_capabilities = {}   # raw bytes -> decoded capabilities
        self.url = url
        self.group = group

    @classmethod
    def connect(cls, conf, member_id):
        url = conf.coordination.backend_url
        option, integer = _EXPIRY_OPTIONS.get(scheme(url), (None, False))
        kwargs = {}
        if option:
            seconds = expiry(conf)
            kwargs[option] = str(int(seconds) if integer else seconds)
        else:
            LOG.warning('[coordination] backend_url %s: vmha does not know '
                        'how to set this backend\'s membership expiry; set '
                        'it to %.1fs in the URL', describe(url),
                        expiry(conf))
        with _errors(url, 'connect'):
            coordinator = tooz_coordination.get_coordinator(
                url, member_id.encode('utf-8'), **kwargs)
            coordinator.start(start_heart=False)
        return cls(coordinator, url, conf.coordination.group_name)

    def _call(self, action, method, *args):
        """``method(*args).get()`` with tooz errors translated."""
        with _errors(self.url, action):
            return getattr(self._coordinator, method)(*args).get()

    def _ensure(self, group):
        try:
            self._call('create group %s' % group, 'create_group',
                       group.encode('utf-8'))
        except exception.CoordinationError as err:
            if not isinstance(err.__cause__,
                              tooz_coordination.GroupAlreadyExist):
                raise

    # -- agent side ---------------------------------------------------------

    def heartbeat(self):
        with _errors(self.url, 'heartbeat'):
            self._coordinator.heartbeat()

    def join(self, host, capabilities):
        """Join as ``host`` (replacing a stale membership of a previous
        run) and delete the host's left marker."""
        group = self.group.encode('utf-8')
        self._ensure(self.group)
        try:
            self._call('join group %s' % self.group, 'join_group', group,
                       capabilities)
        except exception.CoordinationError as err:
            if not isinstance(err.__cause__,
                              tooz_coordination.MemberAlreadyExist):
                raise
            self._call('leave group %s' % self.group, 'leave_group', group)
            self._call('join group %s' % self.group, 'join_group', group,
                       capabilities)
        self._delete_marker(host)

    def is_member(self, host):
        """Whether the backend still lists ``host`` (it forgets members
        when it restarts without persistence)."""
        try:
            self._call('read membership', 'get_member_capabilities',
                       self.group.encode('utf-8'), host.encode('utf-8'))
        except exception.CoordinationError as err:
            if isinstance(err.__cause__, (
                    tooz_coordination.MemberNotJoined,
                    tooz_coordination.GroupNotCreated)):
                return False
            raise
        return True

    def leave(self, host):
        """A planned stop: mark it, then leave the group."""
        self._ensure(left_marker(self.group, host))
        self._call('leave group %s' % self.group, 'leave_group',
                   self.group.encode('utf-8'))

    def _delete_marker(self, host):
        try:
            self._call('delete left marker', 'delete_group',
                       left_marker(self.group, host).encode('utf-8'))
        except exception.CoordinationError as err:
            if not isinstance(err.__cause__,
                              tooz_coordination.GroupNotCreated):
                raise

    # -- monitor side -------------------------------------------------------

    def members(self):
        """Host names of the live members, or None when the group does not
        exist (nothing joined yet, or the backend lost its data)."""
        try:
            found = self._call('list members', 'get_members',
                               self.group.encode('utf-8'))
        except exception.CoordinationError as err:
            if isinstance(err.__cause__, tooz_coordination.GroupNotCreated):
                return None
            raise
        return {_text(m) for m in found}

    def capabilities(self, hosts):
        """{host: the capabilities it joined with} for the members
        ``hosts``. A host whose read fails is left out (unknown): the
        monitor then treats it as unarmed, the safe side. All requests are
        sent before any answer is read."""
        every = self._every_capability()
        if every is not None:
            return {host: every[host] for host in hosts if host in every}
        group = self.group.encode('utf-8')
        pending = {}
        for host in hosts:
            try:
                with _errors(self.url, 'read capabilities'):
                    pending[host] = self._coordinator.get_member_capabilities(
                        group, host.encode('utf-8'))
            except exception.CoordinationError:
                continue
        found = {}
        for host, future in pending.items():
            try:
                with _errors(self.url, 'read capabilities'):
                    found[host] = future.get()
            except exception.CoordinationError as err:
                LOG.debug('Capabilities of %s unknown: %s', host, err)
        return found

    def _every_capability(self):
        """Redis only: every member's capabilities in ONE read of the
        group's hash, or None on any other backend (or when tooz's Redis
        driver no longer has the layout this relies on).

        Why: tooz reads one member's capabilities per transaction, which
        at 10,000 members is 10,000 round trips per poll. The hash (member
        id -> capabilities, as tooz's Redis driver stores its groups) holds
        them all; entries of expired members are still there, and the
        caller asks only for live ones. A failed read is an empty answer:
        every host unarmed, the safe side."""
        driver = self._coordinator
        try:
            client = driver._client
            key = driver._encode_group_id(self.group.encode('utf-8'))
            decode, loads = driver._decode_member_id, driver._loads
        except AttributeError:
            return None
        if client is None or not hasattr(client, 'hgetall'):
            return None
        try:
            raw = client.hgetall(key)
        except Exception as err:        # redis-py's errors, socket errors
            LOG.debug('Capabilities of the members unknown: %s', err)
            return {}
        found, parsed = {}, self._parsed_capabilities
        for member, value in raw.items():
            if value not in parsed:     # most agents report the same bytes
                try:
                    parsed[value] = loads(value)
                except Exception:       # noqa: BLE001 - unknown = unarmed
                    parsed[value] = None
            found[_text(decode(member))] = parsed[value]
        if len(parsed) > 1024:
            parsed.clear()
        return found

    def left(self):
        """Host names whose agent stopped on purpose and has not rejoined."""
        prefix = _LEFT % self.group
        groups = (_text(g) for g in self._call('list groups', 'get_groups'))
        return {g[len(prefix):] for g in groups if g.startswith(prefix)}

    def close(self):
        with contextlib.suppress(tooz.ToozError, OSError):
            self._coordinator.stop()
