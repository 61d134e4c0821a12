"""Initial schema: hosts, recoveries, evacuations, events.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def _timestamps():
    return [sa.Column('created_at', sa.DateTime, nullable=False),
            sa.Column('updated_at', sa.DateTime, nullable=True)]


def upgrade():
    op.create_table(
        'hosts',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(255), nullable=False, unique=True),
        sa.Column('fencing_driver', sa.String(64)),
        sa.Column('bmc_address', sa.String(255)),
        sa.Column('bmc_port', sa.Integer),
        sa.Column('bmc_username', sa.String(255)),
        sa.Column('bmc_password', sa.String(255)),
        sa.Column('bmc_options', sa.JSON, nullable=False),
        sa.Column('level', sa.Integer),
        sa.Column('maintenance', sa.Boolean, nullable=False),
        sa.Column('state', sa.String(32), nullable=False),
        *_timestamps())
    op.create_table(
        'recoveries',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('host', sa.String(255), nullable=False, index=True),
        sa.Column('level', sa.Integer, nullable=False),
        sa.Column('state', sa.String(32), nullable=False, index=True),
        sa.Column('dry_run', sa.Boolean, nullable=False),
        sa.Column('error', sa.Text),
        sa.Column('logbook_id', sa.String(36)),
        sa.Column('owner', sa.String(255)),
        sa.Column('fencing_driver', sa.String(64)),
        sa.Column('fence_confirmed', sa.Boolean),
        sa.Column('forced_down', sa.Boolean),
        *[sa.Column(name, sa.DateTime) for name in (
            'detected_at', 'started_at', 'fenced_at', 'service_down_at',
            'disabled_at', 'instances_listed_at', 'first_evacuation_at',
            'last_confirmed_at', 'finished_at')],
        *_timestamps())
    op.create_table(
        'evacuations',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('recovery_id', sa.String(36),
                  sa.ForeignKey('recoveries.id'), nullable=False,
                  index=True),
        sa.Column('instance_id', sa.String(36), nullable=False),
        sa.Column('instance_name', sa.String(255)),
        sa.Column('source_host', sa.String(255), nullable=False),
        sa.Column('target_host', sa.String(255)),
        sa.Column('original_vm_state', sa.String(32)),
        sa.Column('status', sa.String(32), nullable=False),
        sa.Column('reason', sa.Text),
        sa.Column('evacuate_calls', sa.Integer, nullable=False),
        sa.Column('started_at', sa.DateTime),
        sa.Column('issued_at', sa.DateTime),
        sa.Column('confirmed_at', sa.DateTime),
        *_timestamps(),
        sa.UniqueConstraint('recovery_id', 'instance_id',
                            name='uniq_evacuation_instance'))
    op.create_table(
        'events',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('recovery_id', sa.String(36), index=True),
        sa.Column('host', sa.String(255), index=True),
        sa.Column('event_type', sa.String(64), nullable=False),
        sa.Column('priority', sa.String(8), nullable=False),
        sa.Column('payload', sa.JSON, nullable=False),
        sa.Column('created_at', sa.DateTime, nullable=False))


def downgrade():
    for table in ('events', 'evacuations', 'recoveries', 'hosts'):
        op.drop_table(table)
