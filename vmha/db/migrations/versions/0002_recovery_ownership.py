"""Recovery ownership: one active recovery per host, and ownership leases.

``active_host`` is the host's name while the recovery is active, NULL once it
is final: its unique constraint makes "one active recovery per host" hold
even when several monitors record the same failure at the same instant (a
check-then-insert does not, under READ COMMITTED). ``lease_owner`` and
``lease_expires_at`` say which conductor runs the recovery and until when.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_ACTIVE = ('pending', 'running')


def upgrade():
    with op.batch_alter_table('recoveries') as batch:
        batch.add_column(sa.Column('active_host', sa.String(255)))
        batch.add_column(sa.Column('lease_owner', sa.String(255)))
        batch.add_column(sa.Column('lease_expires_at', sa.DateTime))
        batch.create_unique_constraint('uniq_recoveries_active_host',
                                       ['active_host'])
    recoveries = sa.table('recoveries', sa.column('host'),
                          sa.column('state'), sa.column('dry_run'),
                          sa.column('active_host'))
    op.execute(recoveries.update().where(
        recoveries.c.state.in_(_ACTIVE),
        recoveries.c.dry_run.is_(False)).values(
            active_host=recoveries.c.host))


def downgrade():
    with op.batch_alter_table('recoveries') as batch:
        batch.drop_constraint('uniq_recoveries_active_host', type_='unique')
        for column in ('lease_expires_at', 'lease_owner', 'active_host'):
            batch.drop_column(column)
