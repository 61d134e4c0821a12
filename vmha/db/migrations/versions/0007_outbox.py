"""The notification outbox: deliveries owed, so none is lost to a crash.

``outbox``: one row per recorded event and notification driver until that
driver sent it (see vmha/notifier.py). ``owner`` is the process that queued
it, ``claimed_at`` when it was queued or last claimed for redelivery.

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('event_id', sa.Integer, sa.ForeignKey('events.id'),
                  nullable=False),
        sa.Column('driver', sa.String(64), nullable=False),
        sa.Column('owner', sa.String(255), nullable=False),
        sa.Column('claimed_at', sa.DateTime, nullable=False))
    op.create_index('ix_outbox_event_id', 'outbox', ['event_id'])
    op.create_index('ix_outbox_claimed_at', 'outbox', ['claimed_at'])


def downgrade():
    op.drop_index('ix_outbox_claimed_at', 'outbox')
    op.drop_index('ix_outbox_event_id', 'outbox')
    op.drop_table('outbox')
