"""Encrypted credentials: BMC passwords and secret bmc_options at rest.

Every ``hosts.bmc_password`` and every secret ``bmc_options`` value (the
IPMI ``kg`` key, see vmha.inventory.is_secret_option) still in clear is
encrypted with the first key of ``[inventory] credential_key_file``
(vmha.credentials). ``bmc_password`` becomes TEXT: a Fernet token of a
255-character password does not fit 255 characters.

Without a key file the upgrade refuses, before changing anything, when a
host holds a credential: it names the option to set. A database without
credentials upgrades without one.

Revision ID: 0005
Revises: 0004
"""

from alembic import context
from alembic import op
import sqlalchemy as sa

from vmha import credentials

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_HOSTS = sa.table('hosts', sa.column('id', sa.Integer),
                  sa.column('name', sa.String),
                  sa.column('bmc_password', sa.Text),
                  sa.column('bmc_options', sa.JSON))


def _rows():
    return op.get_bind().execute(sa.select(
        _HOSTS.c.id, _HOSTS.c.name, _HOSTS.c.bmc_password,
        _HOSTS.c.bmc_options).order_by(_HOSTS.c.id)).all()


def _rewrite(rows, convert):
    """Write back every row ``convert`` changed."""
    bind = op.get_bind()
    for row in rows:
        password, options = convert(row.name, row.bmc_password,
                                    row.bmc_options)
        if (password, options) != (row.bmc_password,
                                   dict(row.bmc_options or {})):
            bind.execute(sa.update(_HOSTS).where(_HOSTS.c.id == row.id)
                         .values(bmc_password=password, bmc_options=options))


def _holds_secret(keyring, row):
    """Whether ``row`` has a secret that cannot be sealed (no keyring)."""
    try:
        credentials.seal(keyring, row.name, row.bmc_password,
                         row.bmc_options)
    except credentials.CredentialKeyError:
        return True
    return False


def upgrade():
    keyring = context.config.attributes.get('keyring')
    rows = _rows()
    # refuse before any DDL: SQLite does not roll DDL back
    held = [row.name for row in rows if _holds_secret(keyring, row)]
    if held:
        raise credentials.CredentialKeyError(
            reason='%d host(s) (%s) hold BMC credentials in clear: set %s '
                   'to a key file ("vmha-manage credentials generate-key '
                   '--output PATH"), then run "vmha-manage db sync" again; '
                   'nothing was changed' % (
                       len(held), ', '.join(held[:5]), credentials.OPTION))
    with op.batch_alter_table('hosts') as batch:
        batch.alter_column('bmc_password', type_=sa.Text,
                           existing_type=sa.String(255))
    _rewrite(rows, lambda name, password, options: credentials.seal(
        keyring, name, password, options))


def downgrade():
    keyring = context.config.attributes.get('keyring')
    _rewrite(_rows(), lambda name, password, options: credentials.unseal(
        keyring, name, password, options))
    with op.batch_alter_table('hosts') as batch:
        batch.alter_column('bmc_password', type_=sa.String(255),
                           existing_type=sa.Text)
