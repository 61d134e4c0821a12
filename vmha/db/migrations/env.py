"""Alembic environment for vmha's tables.

The version table is vmha_alembic_version, apart from taskflow's.
"""

from alembic import context

from vmha.db import models

VERSION_TABLE = 'vmha_alembic_version'


def run_migrations_online():
    connectable = context.config.attributes['connection']
    context.configure(connection=connectable,
                      target_metadata=models.Base.metadata,
                      version_table=VERSION_TABLE,
                      render_as_batch=connectable.dialect.name == 'sqlite')
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
