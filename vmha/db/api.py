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
import math
import os
import time

from oslo_log import log as logging
from oslo_utils import timeutils
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from vmha import credentials
from vmha.db import models
from vmha import events
from vmha import exception
from vmha import inventory
from vmha import states

LOG = logging.getLogger(__name__)

# the vocabulary moved to vmha.states; these names stay for callers (and
# tests) that still read them here
PENDING = states.PENDING
RUNNING = states.RUNNING
COMPLETED = states.COMPLETED
COMPLETED_WITH_ERRORS = states.COMPLETED_WITH_ERRORS
FAILED = states.FAILED
FINAL_STATES = states.FINAL_STATES
ACTIVE_STATES = states.ACTIVE_STATES
EVAC_PENDING = states.EVAC_PENDING
EVAC_IN_PROGRESS = states.EVAC_IN_PROGRESS
EVAC_DONE = states.EVAC_DONE
EVAC_FAILED = states.EVAC_FAILED
EVAC_SKIPPED = states.EVAC_SKIPPED
EVAC_WAITING = states.EVAC_WAITING
EVAC_HANDED_OVER = states.EVAC_HANDED_OVER
PHASES = states.PHASES

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
                'bmc_password', 'bmc_options', 'level', 'maintenance',
                'reserved', 'reserved_for', 'watchdog_required')


def utcnow():
    """Naive UTC, as the columns store it."""
    return timeutils.utcnow()


#: seconds a database call may wait (connect, lock, statement), by default
DEFAULT_TIMEOUT = 30.0


def connect_args(url, timeout=DEFAULT_TIMEOUT):
    """DB-API arguments that bound how long one call may wait.

    * SQLite: ``timeout`` is how long a write waits for another process's
      lock (busy timeout);
    * PostgreSQL (psycopg2): ``connect_timeout``; the server ends a
      statement after ``statement_timeout`` (a lock wait included); TCP
      keepalives find a dead server or a cut network. psycopg2 has no
      client-side read timeout: a server that accepts and then answers
      nothing at all is bounded only by the keepalives' view of the peer;
    * MySQL/MariaDB (PyMySQL): connect, read and write timeouts, client-side.

    Arguments the URL already sets (its query string) are left to it.
    """
    parts = sa.engine.make_url(url)
    backend, driver = parts.get_backend_name(), parts.get_driver_name()
    seconds = max(1, int(math.ceil(timeout)))
    if backend == 'sqlite':
        args = {'timeout': timeout}
    elif backend == 'postgresql' and driver == 'psycopg2':
        args = {'connect_timeout': seconds,
                'options': '-c statement_timeout=%d' % (timeout * 1000),
                'keepalives': 1, 'keepalives_idle': seconds,
                'keepalives_interval': max(1, seconds // 3),
                'keepalives_count': 3}
    elif backend == 'mysql' and driver == 'pymysql':
        args = dict.fromkeys(('connect_timeout', 'read_timeout',
                              'write_timeout'), seconds)
    else:
        args = {}
    return {k: v for k, v in args.items() if k not in parts.query}


def create_engine(url, timeout=DEFAULT_TIMEOUT):
    """An Engine for ``url``; SQLite files are checked and made thread-safe;
    every call is bounded by ``timeout`` (see :func:`connect_args`)."""
    kwargs = {'future': True, 'connect_args': connect_args(url, timeout)}
    if url.startswith('sqlite'):
        path = sa.engine.make_url(url).database
        if path and path != ':memory:':
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise exception.ConfigError(
                    reason='[database] connection: directory %s does not '
                           'exist (set [DEFAULT] state_path or the URL)'
                    % directory)
            create_owner_only(path)
        kwargs['connect_args']['check_same_thread'] = False
    else:
        kwargs['pool_pre_ping'] = True
    engine = sa.create_engine(url, **kwargs)
    if url.startswith('sqlite'):
        sa.event.listen(engine, 'connect', _sqlite_pragmas)
    return engine


def create_owner_only(path):
    """Create the SQLite file ``path`` with mode 0600 if it is missing.

    SQLite would create it with the umask's mode (0644: every local user
    could read the inventory) and gives its -wal and -shm files the mode of
    the database file, so creating the file first covers all three.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def taskflow_conf(url, timeout=DEFAULT_TIMEOUT):
    """taskflow persistence backend configuration for ``url``, with the
    same bounds as vmha's own engine."""
    conf = {'connection': url}
    if ':memory:' not in url:
        conf['engine_args'] = {'connect_args': connect_args(url, timeout)}
    return conf


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


def _event_from_row(row):
    """The :class:`vmha.events.Event` an events row recorded."""
    payload = dict(row.payload or {})
    level = payload.pop('level', None)
    return events.Event(
        event_type=row.event_type, host=row.host,
        recovery_id=row.recovery_id, level=level, payload=payload,
        timestamp=row.created_at.replace(tzinfo=datetime.timezone.utc))


def host_spec(row, keyring=None):
    """HostSpec (value object) from a Host row, its secrets decrypted with
    ``keyring`` (vmha.credentials)."""
    password, options = credentials.unseal(
        keyring, row.name, row.bmc_password, row.bmc_options)
    return inventory.HostSpec(
        name=row.name, fencing_driver=row.fencing_driver,
        bmc_address=row.bmc_address, bmc_port=row.bmc_port,
        bmc_username=row.bmc_username, bmc_password=password,
        bmc_options=options, level=row.level,
        maintenance=bool(row.maintenance), reserved=bool(row.reserved),
        reserved_for=row.reserved_for,
        watchdog_required=bool(row.watchdog_required))


def _sealed_fields(keyring, name, fields):
    """``fields`` of host ``name`` as stored: secrets encrypted."""
    fields = dict(fields)
    fields['bmc_password'], fields['bmc_options'] = credentials.seal(
        keyring, name, fields.get('bmc_password'), fields.get('bmc_options'))
    return fields


class Database:
    """Short transactions over vmha's tables."""

    def __init__(self, url, retry_timeout=0.0, retry_interval=1.0,
                 timeout=DEFAULT_TIMEOUT, keyring=None):
        self.url = url
        #: vmha.credentials.Keyring of [inventory] credential_key_file, or
        #: None: then a host with a secret can be neither stored nor read
        self.keyring = keyring
        self.retry_timeout = retry_timeout
        self.retry_interval = retry_interval
        self.timeout = timeout
        self.engine = create_engine(url, timeout)
        self._sessions = orm.sessionmaker(self.engine,
                                          expire_on_commit=False)

    @classmethod
    def from_conf(cls, conf):
        return cls(conf.database.connection,
                   retry_timeout=conf.database.retry_timeout,
                   retry_interval=conf.database.retry_interval,
                   timeout=conf.database.timeout,
                   keyring=credentials.Keyring.from_conf(conf))

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
        inventory.check_host_name(spec.name)
        with self.session() as session:
            if session.scalar(sa.select(models.Host).filter_by(
                    name=spec.name)) is not None:
                raise exception.Conflict(
                    reason='host %s is already in the inventory' % spec.name)
            row = models.Host(name=spec.name, state=states.HOST_HEALTHY,
                              **_sealed_fields(self.keyring, spec.name, {
                                  f: getattr(spec, f) for f in _HOST_FIELDS}))
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
            return host_spec(self._host_row(session, name), self.keyring)

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
            return [(host_spec(r, self.keyring), r.state) for r in rows]

    @_retried
    def update_host(self, name, **fields):
        unknown = set(fields) - set(_HOST_FIELDS) - {'state'}
        if unknown:
            raise exception.InvalidInput(
                reason='unknown host field(s): %s'
                % ', '.join(sorted(unknown)))
        with self.session() as session:
            row = self._host_row(session, name)
            if 'bmc_password' in fields or 'bmc_options' in fields:
                # seal the whole secret pair: a new password with the
                # stored options (or the reverse) is written encrypted too
                current = host_spec(row, self.keyring)
                pair = {'bmc_password': current.bmc_password,
                        'bmc_options': current.bmc_options}
                pair.update({k: fields[k] for k in pair if k in fields})
                fields = dict(fields, **_sealed_fields(self.keyring, name,
                                                       pair))
            for key, value in fields.items():
                setattr(row, key, value)
            return host_spec(row, self.keyring)

    @_retried
    def update_host_state(self, name, state):
        """Set an inventory host's state; hosts not in it are ignored."""
        with self.session() as session:
            row = session.scalar(sa.select(models.Host).filter_by(name=name))
            if row is not None:
                row.state = state

    @_retried
    def update_host_agent(self, name, agent):
        """Record the monitor's word on a host's agent; hosts not in the
        inventory are ignored."""
        with self.session() as session:
            row = session.scalar(sa.select(models.Host).filter_by(name=name))
            if row is not None:
                row.agent = agent

    @_retried
    def host_agents(self):
        """{host name: the monitor's last word on its agent} (inventory)."""
        with self.session() as session:
            return dict(session.execute(sa.select(
                models.Host.name, models.Host.agent)).all())

    @_retried
    def rotate_credentials(self, keyring=None):
        """Re-encrypt every host's secrets with the first key of
        ``keyring`` (default: this Database's), in one transaction: every
        row is rewritten, or none. Returns (hosts, values) rewritten."""
        keyring = keyring or self.keyring
        if keyring is None:
            raise credentials.CredentialKeyError(
                reason='%s is not set: nothing to rotate with'
                % credentials.OPTION)
        hosts = values = 0
        with self.session() as session:
            rows = session.scalars(sa.select(models.Host).order_by(
                models.Host.name).with_for_update()).all()
            for row in rows:
                password, options = credentials.reseal(
                    keyring, row.name, row.bmc_password, row.bmc_options)
                changed = sum(1 for key in options
                              if options[key] != (row.bmc_options or {})
                              .get(key)) + (password != row.bmc_password)
                if changed:
                    row.bmc_password, row.bmc_options = password, options
                    hosts, values = hosts + 1, values + changed
        return hosts, values

    @_retried
    def delete_host(self, name):
        with self.session() as session:
            session.delete(self._host_row(session, name))

    # -- reserved hosts (vmha.reserved) ---------------------------------------

    @_retried
    def claim_reserved_host(self, recovery_id, exclude=()):
        """Take one free reserved host for ``recovery_id``; its name, or
        None when no spare is free.

        Each claim is one conditional UPDATE (free -> taken): on every
        backend, two recoveries claiming at the same instant never get the
        same spare.
        """
        table = models.Host
        free = (table.reserved.is_(True), table.reserved_for.is_(None),
                table.maintenance.is_(False))
        with self.session() as session:
            names = session.scalars(sa.select(table.name).where(
                *free).order_by(table.name)).all()
        for name in names:
            if name in exclude:
                continue
            with self.session() as session:
                taken = session.execute(
                    sa.update(table).where(table.name == name, *free)
                    .values(reserved_for=recovery_id)
                    .execution_options(synchronize_session=False))
                if taken.rowcount == 1:
                    return name
        return None

    @_retried
    def release_reserved_host(self, name, recovery_id):
        """Give back a spare ``recovery_id`` took but could not use."""
        table = models.Host
        with self.session() as session:
            session.execute(
                sa.update(table).where(table.name == name,
                                       table.reserved_for == recovery_id)
                .values(reserved_for=None)
                .execution_options(synchronize_session=False))

    @_retried
    def reserved_hosts_of(self, recovery_id):
        """Names of the spares ``recovery_id`` took, in name order."""
        with self.session() as session:
            return list(session.scalars(sa.select(models.Host.name).where(
                models.Host.reserved_for == recovery_id).order_by(
                    models.Host.name)))

    # -- recoveries ---------------------------------------------------------

    @_retried
    def create_recovery(self, recovery_id, host, level, dry_run=False,
                        detected_at=None, owner=None, host_stopped=False,
                        watchdog=None):
        """Record a new recovery; refuse if the host already has one running.

        ``watchdog``: the vmha.watchdog.Evidence the monitor had (the host
        was armed and its heartbeat lost), or None.

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
                    owner=owner, active_host=None if dry_run else host,
                    host_stopped=bool(host_stopped),
                    watchdog_expires_at=watchdog.expires_at_utc
                    if watchdog else None,
                    watchdog_window=watchdog.window if watchdog else None))
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
        owner died, or was never given one (their job was lost).

        Never one whose lease is live, whoever holds it (a conductor, a
        ``vmha-manage evacuate``): posting that again would make a second
        process wait for it at best.
        """
        table = models.Recovery
        now = utcnow()
        since = sa.func.coalesce(table.lease_expires_at, table.created_at)
        query = sa.select(table).where(
            table.active_host.is_not(None),
            sa.or_(table.lease_owner.is_(None),
                   table.lease_expires_at < now),
            since < now - datetime.timedelta(seconds=grace))
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

    @_retried
    def waiting_evacuations(self, host=None, recovery_id=None, due=None):
        """Evacuations waiting for capacity in finished recoveries, oldest
        recovery first; ``host``: of that failed host only; ``due`` (a
        datetime): only those whose automatic retry is due by then.

        A retry that was running when its process died left its evacuation
        ``evacuating`` (with ``waiting_since`` set): those are listed too,
        due or not; the recovery's lease tells whether their retrier lives.
        """
        evac, rec = models.Evacuation, models.Recovery
        waiting = evac.status == EVAC_WAITING
        if due is not None:
            waiting = sa.and_(waiting, evac.next_retry_at.is_not(None),
                              evac.next_retry_at <= due)
        query = sa.select(evac).join(rec, evac.recovery_id == rec.id).where(
            sa.or_(waiting, sa.and_(evac.status == EVAC_IN_PROGRESS,
                                    evac.waiting_since.is_not(None))),
            rec.state.in_(FINAL_STATES),
            rec.dry_run.is_(False)).order_by(rec.created_at, evac.id)
        if host:
            query = query.where(rec.host == host)
        if recovery_id:
            query = query.where(rec.id == recovery_id)
        with self.session() as session:
            rows = session.scalars(query).all()
            session.expunge_all()
            return rows

    # -- events -------------------------------------------------------------

    @_retried
    def add_event(self, event, deliveries=(), owner=None):
        """Append a :class:`vmha.events.Event` to the event log, with the
        outbox rows of the ``deliveries`` (driver names) ``owner`` (a
        process) owes for it, in the same transaction; return its id."""
        with self.session() as session:
            row = models.Event(
                recovery_id=event.recovery_id, host=event.host,
                event_type=event.event_type, priority=event.priority,
                payload=dict(event.payload, level=event.level),
                created_at=event.timestamp.replace(tzinfo=None))
            session.add(row)
            session.flush()
            now = utcnow()
            session.add_all(models.Outbox(event_id=row.id, driver=driver,
                                          owner=owner, claimed_at=now)
                            for driver in deliveries)
            return row.id

    # -- the outbox (vmha.notifier) -----------------------------------------

    @_retried
    def settle_deliveries(self, driver, event_ids):
        """``driver`` sent (or failed to send) the events ``event_ids``:
        nothing is owed for them any more."""
        if not event_ids:
            return
        with self.session() as session:
            session.execute(sa.delete(models.Outbox).where(
                models.Outbox.driver == driver,
                models.Outbox.event_id.in_(list(event_ids))))

    @_retried
    def claim_deliveries(self, drivers, owner, older_than, limit=100):
        """Claim for ``owner`` the deliveries through ``drivers`` that
        another process queued, or last claimed, more than ``older_than``
        seconds ago and still owes; return [(driver, event_id, Event)].

        A claim is a compare-and-set on (owner, claimed_at): of two
        processes claiming at once, one wins each row. A claimer that dies
        before it sent leaves the row to be claimed again later."""
        cutoff = utcnow() - datetime.timedelta(seconds=older_than)
        query = (sa.select(models.Outbox, models.Event)
                 .join(models.Event, models.Event.id == models.Outbox.event_id)
                 .where(models.Outbox.driver.in_(list(drivers)),
                        models.Outbox.owner != owner,
                        models.Outbox.claimed_at < cutoff)
                 .order_by(models.Outbox.id).limit(limit))
        claimed = []
        with self.session() as session:
            for owed, event in session.execute(query).all():
                taken = session.execute(
                    sa.update(models.Outbox)
                    .where(models.Outbox.id == owed.id,
                           models.Outbox.owner == owed.owner,
                           models.Outbox.claimed_at == owed.claimed_at)
                    .values(owner=owner, claimed_at=utcnow()))
                if taken.rowcount == 1:
                    claimed.append((owed.driver, event.id,
                                    _event_from_row(event)))
        return claimed

    @_retried
    def count_deliveries(self):
        """{driver: deliveries still owed}, for status and tests."""
        query = (sa.select(models.Outbox.driver, sa.func.count())
                 .group_by(models.Outbox.driver))
        with self.session() as session:
            return dict(session.execute(query).all())

    @_retried
    def list_events(self, recovery_id=None, host=None, limit=None,
                    event_type=None):
        query = sa.select(models.Event).order_by(models.Event.id)
        if recovery_id:
            query = query.where(models.Event.recovery_id == recovery_id)
        if event_type:
            query = query.where(models.Event.event_type == event_type)
        if host:
            query = query.where(models.Event.host == host)
        if limit:
            query = query.limit(limit)
        with self.session() as session:
            rows = session.scalars(query).all()
            session.expunge_all()
            return rows
