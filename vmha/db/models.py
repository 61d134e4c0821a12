"""SQLAlchemy models. Portable across SQLite, MySQL/MariaDB and PostgreSQL."""

from oslo_utils import timeutils
import sqlalchemy as sa
from sqlalchemy import orm

from vmha import states


def _now():
    return timeutils.utcnow()


class Base(orm.DeclarativeBase):
    """Declarative base; timestamps are naive UTC."""


class TimestampMixin:
    created_at = sa.Column(sa.DateTime, nullable=False, default=_now)
    updated_at = sa.Column(sa.DateTime, nullable=True, onupdate=_now)


class Host(TimestampMixin, Base):
    """Inventory entry of a compute host (name as Nova knows it)."""

    __tablename__ = 'hosts'

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    name = sa.Column(sa.String(255), nullable=False, unique=True)
    fencing_driver = sa.Column(sa.String(64), nullable=True)
    bmc_address = sa.Column(sa.String(255), nullable=True)
    bmc_port = sa.Column(sa.Integer, nullable=True)
    bmc_username = sa.Column(sa.String(255), nullable=True)
    # "fernet:<token>" (vmha.credentials), never the password itself
    bmc_password = sa.Column(sa.Text, nullable=True)
    bmc_options = sa.Column(sa.JSON, nullable=False, default=dict)
    level = sa.Column(sa.Integer, nullable=True)
    maintenance = sa.Column(sa.Boolean, nullable=False, default=False)
    state = sa.Column(sa.String(32), nullable=False,
                      default=states.HOST_HEALTHY)
    # the monitor's last word on the host's vmha-agent (alive, lost)
    agent = sa.Column(sa.String(16), nullable=True)
    # a spare compute kept disabled in Nova until a failure needs its room
    # (vmha.reserved); reserved_for: the recovery that took it, if any
    reserved = sa.Column(sa.Boolean, nullable=False, default=False)
    reserved_for = sa.Column(sa.String(36), nullable=True)
    # its agent must arm a watchdog (vmha.watchdog)
    watchdog_required = sa.Column(sa.Boolean, nullable=False, default=False)


class Recovery(TimestampMixin, Base):
    """One host failure taken from detection to its final state."""

    __tablename__ = 'recoveries'

    id = sa.Column(sa.String(36), primary_key=True)
    host = sa.Column(sa.String(255), nullable=False, index=True)
    level = sa.Column(sa.Integer, nullable=False)
    state = sa.Column(sa.String(32), nullable=False, index=True)
    dry_run = sa.Column(sa.Boolean, nullable=False, default=False)
    error = sa.Column(sa.Text, nullable=True)
    logbook_id = sa.Column(sa.String(36), nullable=True)
    owner = sa.Column(sa.String(255), nullable=True)
    # the host's name while active, NULL once final: unique, so one host
    # never has two active recoveries, however many monitors record it
    active_host = sa.Column(sa.String(255), nullable=True, unique=True)
    # which conductor runs the recovery, until when (vmha.ownership)
    lease_owner = sa.Column(sa.String(255), nullable=True)
    lease_expires_at = sa.Column(sa.DateTime, nullable=True)
    fencing_driver = sa.Column(sa.String(64), nullable=True)
    fence_confirmed = sa.Column(sa.Boolean, nullable=True)
    forced_down = sa.Column(sa.Boolean, nullable=True)
    # two independent signals said the host stopped (level 1 may skip
    # fencing only then)
    host_stopped = sa.Column(sa.Boolean, nullable=True)
    # what proved the host fenced: bmc-off, watchdog-expiry (vmha.watchdog)
    fence_proof = sa.Column(sa.String(32), nullable=True)
    # the host was armed and its heartbeat lost: when its watchdog has
    # certainly reset it (the monitor's estimate, then the proof's), and
    # the seconds from its last possible heartbeat to that moment
    watchdog_expires_at = sa.Column(sa.DateTime, nullable=True)
    watchdog_window = sa.Column(sa.Float, nullable=True)
    # per-phase timestamps: the product's speed evidence
    detected_at = sa.Column(sa.DateTime, nullable=True)
    started_at = sa.Column(sa.DateTime, nullable=True)
    fenced_at = sa.Column(sa.DateTime, nullable=True)
    service_down_at = sa.Column(sa.DateTime, nullable=True)
    disabled_at = sa.Column(sa.DateTime, nullable=True)
    instances_listed_at = sa.Column(sa.DateTime, nullable=True)
    first_evacuation_at = sa.Column(sa.DateTime, nullable=True)
    last_confirmed_at = sa.Column(sa.DateTime, nullable=True)
    finished_at = sa.Column(sa.DateTime, nullable=True)

    evacuations = orm.relationship(
        'Evacuation', back_populates='recovery', lazy='selectin',
        order_by='Evacuation.id')


class Evacuation(TimestampMixin, Base):
    """One instance of a recovered host, and what happened to it."""

    __tablename__ = 'evacuations'
    __table_args__ = (sa.UniqueConstraint('recovery_id', 'instance_id',
                                          name='uniq_evacuation_instance'),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    recovery_id = sa.Column(sa.String(36), sa.ForeignKey('recoveries.id'),
                            nullable=False, index=True)
    instance_id = sa.Column(sa.String(36), nullable=False)
    instance_name = sa.Column(sa.String(255), nullable=True)
    source_host = sa.Column(sa.String(255), nullable=False)
    target_host = sa.Column(sa.String(255), nullable=True)
    original_vm_state = sa.Column(sa.String(32), nullable=True)
    status = sa.Column(sa.String(32), nullable=False)
    reason = sa.Column(sa.Text, nullable=True)
    evacuate_calls = sa.Column(sa.Integer, nullable=False, default=0)
    started_at = sa.Column(sa.DateTime, nullable=True)
    issued_at = sa.Column(sa.DateTime, nullable=True)
    confirmed_at = sa.Column(sa.DateTime, nullable=True)
    # status "waiting" (no capacity, vmha.capacity): since when, how many
    # retries were made, when the next automatic one is due
    waiting_since = sa.Column(sa.DateTime, nullable=True)
    retries = sa.Column(sa.Integer, nullable=False, default=0)
    next_retry_at = sa.Column(sa.DateTime, nullable=True)

    recovery = orm.relationship('Recovery', back_populates='evacuations')


class Event(Base):
    """The event log: everything vmha saw and did, in order."""

    __tablename__ = 'events'

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    recovery_id = sa.Column(sa.String(36), nullable=True, index=True)
    host = sa.Column(sa.String(255), nullable=True, index=True)
    event_type = sa.Column(sa.String(64), nullable=False)
    priority = sa.Column(sa.String(8), nullable=False)
    payload = sa.Column(sa.JSON, nullable=False, default=dict)
    created_at = sa.Column(sa.DateTime, nullable=False, default=_now)


class Outbox(Base):
    """Deliveries owed: one row per event and notification driver, from
    when the event is recorded until that driver sent it (or failed to, a
    failure the event log records). A row left by a process that died
    before its driver sent the event is delivered again by another process
    (vmha.notifier: the outbox)."""

    __tablename__ = 'outbox'

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    event_id = sa.Column(sa.Integer, sa.ForeignKey('events.id'),
                         nullable=False, index=True)
    driver = sa.Column(sa.String(64), nullable=False)
    #: the process that queued the delivery (vmha.ownership.process_owner)
    owner = sa.Column(sa.String(255), nullable=False)
    #: when it was queued, or last claimed for another delivery attempt
    claimed_at = sa.Column(sa.DateTime, nullable=False, default=_now,
                           index=True)
