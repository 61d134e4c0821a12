"""Watchdog self-fencing: which proof fenced a host, and the evidence.

``hosts.watchdog_required``: the host's vmha-agent must arm a watchdog.
``recoveries.fence_proof``: what proved the host fenced (``bmc-off``: its
BMC confirmed power-off; ``watchdog-expiry``: its BMC could not, and its
watchdog has certainly reset it); NULL when the recovery did not fence.
``recoveries.watchdog_expires_at`` and ``watchdog_window``: the host was
armed and its heartbeat lost when the recovery was recorded (see
vmha/watchdog.py).

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hosts') as batch:
        batch.add_column(sa.Column('watchdog_required', sa.Boolean,
                                   nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table('recoveries') as batch:
        batch.add_column(sa.Column('fence_proof', sa.String(32)))
        batch.add_column(sa.Column('watchdog_expires_at', sa.DateTime))
        batch.add_column(sa.Column('watchdog_window', sa.Float))


def downgrade():
    with op.batch_alter_table('recoveries') as batch:
        for column in ('watchdog_window', 'watchdog_expires_at',
                       'fence_proof'):
            batch.drop_column(column)
    with op.batch_alter_table('hosts') as batch:
        batch.drop_column('watchdog_required')
