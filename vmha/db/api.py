"""Repository API over vmha's tables.

One :class:`Database` per process; every method runs in its own short
transaction, so a crash never leaves half-written records and tasks running in
parallel threads can record their progress independently. For the same reason
a method that failed because the database was briefly unreachable or busy can
simply run again: it is retried for up to ``[database] retry_timeout``.
"""

import contextlib
import datetime
import functools
import os
import time

from oslo_log import log as logging
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from vmha.db import models
from vmha import exception
from vmha import inventory

LOG = logging.getLogger(__name__)

# Recovery states
PENDING = 'pending'
RUNNING = 'running'
COMPLETED = 'completed'
COMPLETED_WITH_ERRORS = 'completed_with_errors'
FAILED = 'failed'
FINAL_STATES = (COMPLETED, COMPLETED_WITH_ERRORS, FAILED)
ACTIVE_STATES = (PENDING, RUNNING)

# Evacuation states
EVAC_PENDING = 'pending'
EVAC_IN_PROGRESS = 'evacuating'
EVAC_DONE = 'evacuated'
EVAC_FAILED = 'failed'
EVAC_SKIPPED = 'skipped'
#: left the failed host for a host that failed too, whose recovery takes it
EVAC_HANDED_OVER = 'handed_over'

# Recovery phase columns, in flow order
PHASES = ('detected_at', 'started_at', 'fenced_at', 'service_down_at',
          'disabled_at', 'instances_listed_at', 'first_evacuation_at',
          'last_confirmed_at', 'finished_at')

# words of driver errors that mean "unreachable or busy, try again" (SQLite,
# psycopg2, PyMySQL); anything else (no such table, bad password...) is final
_TRANSIENT_ERRORS = (
    'database is locked', 'database is busy', 'could not connect',
    'connection refused', 'server closed the connection',
    'terminating connection', 'the database system is', "can't connect",
    'lost connection', 'server has gone away', 'connection reset',
    'connection timed out', 'connection already closed',
    'no connection to the server')

_HOST_FIELDS = ('fencing_driver', 'bmc_address', 'bmc_port', 'bmc_username',
                'bmc_password', 'bmc_options', 'level', 'maintenance')


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def create_engine(url):
    """An Engine for ``url``; SQLite files are checked and made thread-safe."""
    kwargs = {'future': True}
    if url.startswith('sqlite'):
        path = sa.engine.make_url(url).database
        if path and path != ':memory:':
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise exception.ConfigError(
                    reason='[database] connection: directory %s does not '
                           'exist (set [DEFAULT] state_path or the URL)'
                    % directory)
        kwargs['connect_args'] = {'check_same_thread': False, 'timeout': 30}
    else:
        kwargs['pool_pre_ping'] = True
    engine = sa.create_engine(url, **kwargs)
    if url.startswith('sqlite'):
        sa.event.listen(engine, 'connect', _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.close()


def is_transient(err):
    """Whether SQLAlchemy error ``err`` may go away if tried again."""
    if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
        return True
    if not isinstance(err, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return False
    text = str(err.orig).lower()
    return any(words in text for words in _TRANSIENT_ERRORS)


def _retried(method):
    """Run ``method`` (one transaction) again while the database is
    unreachable or busy, up to the Database's ``retry_timeout``."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        deadline = time.monotonic() + self.retry_timeout
        attempt = 1
        while True:
            try:
                return method(self, *args, **kwargs)
            except exception.DatabaseError as err:
                if (not is_transient(err.__cause__) or time.monotonic()
                        + self.retry_interval > deadline):
                    raise
                LOG.warning('%s; retrying in %.1fs (attempt %d, giving up '
                            'after %.0fs)', err, self.retry_interval,
                            attempt, self.retry_timeout)
            time.sleep(self.retry_interval)
            attempt += 1

    return wrapper


def host_spec(row):
    """HostSpec (value object) from a Host row."""
    return inventory.HostSpec(
        name=row.name, fencing_driver=row.fencing_driver,
        bmc_address=row.bmc_address, bmc_port=row.bmc_port,
        bmc_username=row.bmc_username, bmc_password=row.bmc_password,
        bmc_options=dict(row.bmc_options or {}), level=row.level,
        maintenance=bool(row.maintenance))


class Database:
    """Short transactions over vmha's tables."""

    def __init__(self, url, retry_timeout=0.0, retry_interval=1.0):
        self.url = url
        self.retry_timeout = retry_timeout
        self.retry_interval = retry_interval
        self.engine = create_engine(url)
        self._sessions = orm.sessionmaker(self.engine,
                                          expire_on_commit=False)

    @classmethod
    def from_conf(cls, conf):
        return cls(conf.database.connection,
                   retry_timeout=conf.database.retry_timeout,
                   retry_interval=conf.database.retry_interval)

    def dispose(self):
        self.engine.dispose()

    @contextlib.contextmanager
    def session(self):
        """A transaction; database errors become vmha DatabaseError."""
        try:
            with self._sessions.begin() as session:
                yield session
        except sa_exc.IntegrityError as err:
            raise exception.Conflict(reason='database conflict: %s'
                                     % err.orig) from err
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as err:
            raise exception.DatabaseError(
                reason='%s (%s)' % (err.orig, self.engine.url.render_as_string(
                    hide_password=True))) from err

    # -- hosts --------------------------------------------------------------

    @_retried
    def add_host(self, spec):
        with self.session() as session:
            if session.scalar(sa.select(models.Host).filter_by(
                    name=spec.name)) is not None:
                raise exception.Conflict(
                    reason='host %s is already in the inventory' % spec.name)
            row = models.Host(name=spec.name, state='healthy',
                              **{f: getattr(spec, f) for f in _HOST_FIELDS})
            session.add(row)
        return spec

    def _host_row(self, session, name):
        row = session.scalar(sa.select(models.Host).filter_by(name=name))
        if row is None:
            raise exception.NotFound(what='Host', name=name)
        return row

    @_retried
    def get_host(self, name):
        """HostSpec of ``name``; NotFound if it is not in the inventory."""
        with self.session() as session:
            return host_spec(self._host_row(session, name))

    def find_host(self, name):
        """HostSpec of ``name``, or None."""
        try:
            return self.get_host(name)
        except exception.NotFound:
            return None

    @_retried
    def host_state(self, name):
        with self.session() as session:
            return self._host_row(session, name).state

    @_retried
    def list_hosts(self):
        with self.session() as session:
            rows = session.scalars(sa.select(models.Host).order_by(
                models.Host.name)).all()
            return [(host_spec(r), r.state) for r in rows]

    @_retried
    def update_host(self, name, **fields):
        unknown = set(fields) - set(_HOST_FIELDS) - {'state'}
        if unknown:
            raise exception.InvalidInput(
                reason='unknown host field(s): %s'
                % ', '.join(sorted(unknown)))
        with self.session() as session:
            row = self._host_row(session, name)
            for key, value in fields.items():
                setattr(row, key, value)
            return host_spec(row)

    @_retried
    def update_host_state(self, name, state):
        """Set an inventory host's state; hosts not in it are ignored."""
        with self.session() as session:
            row = session.scalar(sa.select(models.Host).filter_by(name=name))
            if row is not None:
                row.state = state

    @_retried
    def delete_host(self, name):
        with self.session() as session:
            session.delete(self._host_row(session, name))

    # -- recoveries ---------------------------------------------------------

    @_retried
    def create_recovery(self, recovery_id, host, level, dry_run=False,
                        detected_at=None, owner=None):
        """Record a new recovery; refuse if the host already has one running.

        Several monitors may record the same failure at the same instant:
        the unique ``active_host`` lets exactly one insert win, whatever the
        database's isolation level; the others get RecoveryInProgress.
        """
        try:
            with self.session() as session:
                self._refuse_if_active(session, host, dry_run)
                session.add(models.Recovery(
                    id=recovery_id, host=host, level=level, state=PENDING,
                    dry_run=dry_run, detected_at=detected_at or utcnow(),
                    owner=owner, active_host=None if dry_run else host))
        except exception.RecoveryInProgress:
            raise
        except exception.Conflict:
            with self.session() as session:
                row = session.get(models.Recovery, recovery_id)
                if row is not None and row.host == host:
                    return recovery_id   # a retried insert that had landed
                self._refuse_if_active(session, host, dry_run)
            raise
        return recovery_id

    @staticmethod
    def _refuse_if_active(session, host, dry_run):
        active = session.scalar(sa.select(models.Recovery).where(
            models.Recovery.active_host == host))
        if active is not None and not dry_run:
            raise exception.RecoveryInProgress(
                host=host, recovery_id=active.id, state=active.state)

    def _recovery_row(self, session, recovery_id):
        row = session.get(models.Recovery, recovery_id)
        if row is None:
            raise exception.NotFound(what='Recovery', name=recovery_id)
        return row

    @_retried
    def get_recovery(self, recovery_id):
        with self.session() as session:
            row = self._recovery_row(session, recovery_id)
            session.expunge(row)
            return row

    @_retried
    def list_recoveries(self, host=None, states=None, limit=None):
        query = sa.select(models.Recovery).order_by(
            models.Recovery.created_at.desc())
        if host:
            query = query.where(models.Recovery.host == host)
        if states:
            query = query.where(models.Recovery.state.in_(states))
        if limit:
            query = query.limit(limit)
        with self.session() as session:
            rows = session.scalars(query).all()
            session.expunge_all()
            return rows

    def unfinished_recoveries(self):
        """Recoveries a crashed process left pending or running."""
        return [r for r in self.list_recoveries(states=ACTIVE_STATES)
                if not r.dry_run]

    @_retried
    def update_recovery(self, recovery_id, **fields):
        """Update fields; a final ``state`` frees the host for a new one."""
        with self.session() as session:
            row = self._recovery_row(session, recovery_id)
            for key, value in fields.items():
                setattr(row, key, value)
            if fields.get('state') in FINAL_STATES:
                row.active_host = None

    @_retried
    def mark_phase(self, recovery_id, phase, when=None):
        """Set a phase timestamp once: a resumed flow keeps the first one."""
        if phase not in PHASES:
            raise ValueError('unknown phase %s' % phase)
        with self.session() as session:
            row = self._recovery_row(session, recovery_id)
            if getattr(row, phase) is None:
                setattr(row, phase, when or utcnow())

    # -- ownership leases (vmha.ownership) -----------------------------------

    def _set_lease(self, recovery_id, condition, **values):
        """One conditional UPDATE: atomic on every backend."""
        with self.session() as session:
            result = session.execute(
                sa.update(models.Recovery).where(
                    models.Recovery.id == recovery_id, condition)
                .values(**values)
                .execution_options(synchronize_session=False))
            return result.rowcount == 1

    @_retried
    def take_lease(self, recovery_id, owner, ttl):
        """Own the recovery for ``ttl`` seconds unless another owner's lease
        is still running; True if ``owner`` owns it now."""
        now = utcnow()
        table = models.Recovery
        return self._set_lease(
            recovery_id,
            sa.or_(table.lease_owner.is_(None), table.lease_owner == owner,
                   table.lease_expires_at < now),
            lease_owner=owner,
            lease_expires_at=now + datetime.timedelta(seconds=ttl))

    @_retried
    def renew_lease(self, recovery_id, owner, ttl):
        """Extend ``owner``'s lease; False if someone else took it over."""
        return self._set_lease(
            recovery_id, models.Recovery.lease_owner == owner,
            lease_expires_at=utcnow() + datetime.timedelta(seconds=ttl))

    @_retried
    def release_lease(self, recovery_id, owner):
        """Give the recovery up (it may be unfinished: anyone may take it)."""
        return self._set_lease(
            recovery_id, models.Recovery.lease_owner == owner,
            lease_owner=None, lease_expires_at=utcnow())

    @_retried
    def orphaned_recoveries(self, grace):
        """Active recoveries nobody has owned for ``grace`` seconds: their
        owner died, or was never given one (their job was lost)."""
        table = models.Recovery
        since = sa.func.coalesce(table.lease_expires_at, table.created_at)
        query = sa.select(table).where(
            table.active_host.is_not(None),
            since < utcnow() - datetime.timedelta(seconds=grace))
        with self.session() as session:
            rows = session.scalars(query).all()
            session.expunge_all()
            return rows

    # -- evacuations --------------------------------------------------------

    def _evacuation_row(self, session, recovery_id, instance_id):
        return session.scalar(sa.select(models.Evacuation).filter_by(
            recovery_id=recovery_id, instance_id=instance_id))

    @_retried
    def save_evacuation(self, recovery_id, instance_id, **fields):
        """Create or update the evacuation record of one instance."""
        with self.session() as session:
            row = self._evacuation_row(session, recovery_id, instance_id)
            if row is None:
                row = models.Evacuation(recovery_id=recovery_id,
                                        instance_id=instance_id,
                                        status=EVAC_PENDING,
                                        evacuate_calls=0)
                session.add(row)
            for key, value in fields.items():
                setattr(row, key, value)

    @_retried
    def count_evacuate_call(self, recovery_id, instance_id):
        """Record that an evacuate request is about to be sent to Nova."""
        with self.session() as session:
            row = self._evacuation_row(session, recovery_id, instance_id)
            row.evacuate_calls = (row.evacuate_calls or 0) + 1
            if row.issued_at is None:
                row.issued_at = utcnow()

    @_retried
    def get_evacuation(self, recovery_id, instance_id):
        with self.session() as session:
            row = self._evacuation_row(session, recovery_id, instance_id)
            if row is not None:
                session.expunge(row)
            return row

    @_retried
    def list_evacuations(self, recovery_id):
        with self.session() as session:
            rows = session.scalars(sa.select(models.Evacuation).filter_by(
                recovery_id=recovery_id).order_by(models.Evacuation.id)).all()
            session.expunge_all()
            return rows

    # -- events -------------------------------------------------------------

    @_retried
    def add_event(self, event):
        """Append a :class:`vmha.events.Event` to the event log."""
        with self.session() as session:
            session.add(models.Event(
                recovery_id=event.recovery_id, host=event.host,
                event_type=event.event_type, priority=event.priority,
                payload=dict(event.payload, level=event.level),
                created_at=event.timestamp.replace(tzinfo=None)))

    @_retried
    def list_events(self, recovery_id=None, host=None, limit=None):
        query = sa.select(models.Event).order_by(models.Event.id)
        if recovery_id:
            query = query.where(models.Event.recovery_id == recovery_id)
        if host:
            query = query.where(models.Event.host == host)
        if limit:
            query = query.limit(limit)
        with self.session() as session:
            rows = session.scalars(query).all()
            session.expunge_all()
            return rows
