"""Capacity: reserved hosts, and evacuations waiting for room.

``hosts.reserved`` marks a spare compute the operator keeps disabled in Nova
until a failure needs its room; ``hosts.reserved_for`` names the recovery
that took it (a conditional UPDATE claims it, so no spare serves two
failures). ``evacuations.waiting_since``, ``retries`` and ``next_retry_at``
follow an evacuation Nova refused for lack of capacity (NoValidHost) until
it is retried with success.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hosts') as batch:
        batch.add_column(sa.Column('reserved', sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('reserved_for', sa.String(36)))
    with op.batch_alter_table('evacuations') as batch:
        batch.add_column(sa.Column('waiting_since', sa.DateTime))
        batch.add_column(sa.Column('retries', sa.Integer, nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('next_retry_at', sa.DateTime))


def downgrade():
    with op.batch_alter_table('evacuations') as batch:
        for column in ('next_retry_at', 'retries', 'waiting_since'):
            batch.drop_column(column)
    with op.batch_alter_table('hosts') as batch:
        batch.drop_column('reserved_for')
        batch.drop_column('reserved')
