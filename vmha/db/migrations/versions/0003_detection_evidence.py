"""Detection evidence: a host's agent state, and why a recovery may skip
fencing.

``hosts.agent`` is what the monitor last concluded about the host's
vmha-agent (``alive``, ``lost`` while nova-compute still reports);
``vmha-manage host list`` shows it. ``recoveries.host_stopped`` is True
when two independent signals said the host itself stopped (agent heartbeat
lost and nova-compute no longer reporting): only then may level 1 force the
service down without powering the host off.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hosts') as batch:
        batch.add_column(sa.Column('agent', sa.String(16)))
    with op.batch_alter_table('recoveries') as batch:
        batch.add_column(sa.Column('host_stopped', sa.Boolean))


def downgrade():
    with op.batch_alter_table('recoveries') as batch:
        batch.drop_column('host_stopped')
    with op.batch_alter_table('hosts') as batch:
        batch.drop_column('agent')
