"""The taskflow jobboard several vmha-monitor processes share recoveries on.

One job per recovery, named ``vmha-recovery:<host>:<recovery id>`` and
carrying ``{'recovery_id', 'host', 'detected_by'}``. The flow state is not in
the job but in vmha's database (taskflow SQL persistence), so a job is only
"who should run this recovery now"; losing one (a Redis restarted without
persistence) loses no work: see :meth:`Board.repost_orphans`.

Claims: the Redis jobboard claims without expiry, so a dead conductor's job
would stay claimed forever. :class:`ExpiringClaims` claims with
``[jobboard] claim_timeout`` and :meth:`Board.keepalive` extends the claim
while the recovery runs. ZooKeeper claims are ephemeral nodes of the
conductor's session, which expires ``claim_timeout`` after the process
stopped answering.
"""

import contextlib
import urllib.parse

from oslo_log import log as logging
from taskflow import exceptions as tf_exc
from taskflow.jobs import backends as tf_jobs

from vmha import coordination
from vmha import exception

LOG = logging.getLogger(__name__)

JOB_PREFIX = 'vmha-recovery'
#: seconds a Redis command may hang before the board reports a failure
_REDIS_SOCKET_TIMEOUT = 5.0


def job_name(host, recovery_id):
    """The job of one recovery: one per host failure (the recovery is the
    incident, and the database lets each host have one active recovery)."""
    return '%s:%s:%s' % (JOB_PREFIX, host, recovery_id)


def _redis_conf(parts, name):
    conf = {'board': 'redis', 'host': parts.hostname or '127.0.0.1',
            'port': parts.port or 6379, 'namespace': name,
            'socket_timeout': _REDIS_SOCKET_TIMEOUT,
            'socket_connect_timeout': _REDIS_SOCKET_TIMEOUT}
    if parts.username:
        conf['username'] = urllib.parse.unquote(parts.username)
    if parts.password:
        conf['password'] = urllib.parse.unquote(parts.password)
    if parts.path.strip('/'):
        conf['db'] = parts.path.strip('/')
    if parts.scheme == 'rediss':
        conf['ssl'] = True
    return conf


def _zookeeper_conf(parts, name, claim_timeout):
    hosts = parts.netloc.rpartition('@')[2] or 'localhost:2181'
    # the version check asks the server's "envi" four-letter command, which
    # ZooKeeper >= 3.5 refuses unless whitelisted; taskflow needs >= 3.4
    return {'board': 'zookeeper', 'hosts': hosts, 'path': '/%s/jobs' % name,
            'timeout': claim_timeout, 'check_compatible': False}


def board_conf(url, name, claim_timeout):
    """taskflow jobboard configuration from a ``[jobboard] backend_url``.

    taskflow's own URL parsing drops the host of both backends (it sets
    ``hostname``, they read ``host``/``hosts``), hence this translation.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ('redis', 'rediss'):
        conf = _redis_conf(parts, name)
    elif parts.scheme in ('zookeeper', 'kazoo'):
        conf = _zookeeper_conf(parts, name, claim_timeout)
    else:
        raise exception.ConfigError(
            reason='[jobboard] backend_url: unsupported scheme "%s" (use '
                   'redis:// or zookeeper://)' % parts.scheme)
    conf.update(urllib.parse.parse_qsl(parts.query))
    return conf


class ExpiringClaims:
    """The board as a conductor sees it: Redis claims expire unless kept
    alive (taskflow's conductor claims without expiry)."""

    def __init__(self, board, expiry):
        self._board = board
        self._expiry = expiry

    def claim(self, job, who):
        return self._board.claim(job, who, expiry=self._expiry)

    def __getattr__(self, name):
        return getattr(self._board, name)


class Board:
    """A connected jobboard; every failure is a CoordinationError."""

    def __init__(self, board, url, claim_timeout, expiring):
        self.board = board
        self.url = url
        self.claim_timeout = claim_timeout
        #: claims expire only if asked to (Redis), not with the session
        self.expiring = expiring

    @classmethod
    def connect(cls, conf):
        group = conf.jobboard
        url = group.backend_url
        settings = board_conf(url, group.name, group.claim_timeout)
        with _errors(url, 'connect'):
            board = tf_jobs.fetch(group.name, settings)
            board.connect()
        return cls(board, url, group.claim_timeout,
                   expiring=settings['board'] == 'redis')

    def for_conductor(self):
        """The board to give a taskflow conductor."""
        if self.expiring:
            return ExpiringClaims(self.board, self.claim_timeout)
        return self.board

    def post(self, host, recovery_id, detected_by=None):
        details = {'recovery_id': recovery_id, 'host': host,
                   'detected_by': detected_by}
        with _errors(self.url, 'post a job'):
            job = self.board.post(job_name(host, recovery_id),
                                  details=details)
        LOG.info('Posted job %s for recovery %s of host %s', job.uuid,
                 recovery_id, host)
        return job

    def recovery_ids(self):
        """Recoveries that have a job on the board (claimed or not)."""
        with _errors(self.url, 'list jobs'):
            return {(job.details or {}).get('recovery_id')
                    for job in self.board.iterjobs(ensure_fresh=True)}

    def repost_orphans(self, db):
        """Post a job again for each active recovery that nobody has owned
        for ``claim_timeout`` and that has no job; return their ids.

        Such a recovery lost its job (the backend forgot it in a restart) or
        was never posted (its monitor died between recording and posting).
        """
        orphans = db.orphaned_recoveries(grace=self.claim_timeout)
        if not orphans:
            return []
        present = self.recovery_ids()
        posted = []
        for rec in orphans:
            if rec.id not in present:
                LOG.warning('Recovery %s of host %s has no owner and no job: '
                            'posting it again', rec.id, rec.host)
                self.post(rec.host, rec.id)
                posted.append(rec.id)
        return posted

    def keepalive(self, job, who):
        """A callable that extends ``who``'s claim on ``job`` (None when the
        backend keeps claims alive by itself)."""
        if not self.expiring:
            return None

        def extend():
            with _errors(self.url, 'extend a claim'):
                if self.board.find_owner(job) != who:
                    LOG.warning('Claim of job %s lost (owner now %s)',
                                job.uuid, self.board.find_owner(job))
                    return
                job.extend_expiry(self.claim_timeout)

        return extend

    def close(self):
        try:
            self.board.close()
        except (tf_exc.TaskFlowException, OSError) as err:
            LOG.warning('Closing the jobboard failed: %s', err)


@contextlib.contextmanager
def _errors(url, action):
    """Translate jobboard failures into CoordinationError (no secrets)."""
    try:
        yield
    except (tf_exc.TaskFlowException, OSError, ImportError) as err:
        raise exception.CoordinationError(
            backend=coordination.describe(url), action=action,
            reason=err) from err
