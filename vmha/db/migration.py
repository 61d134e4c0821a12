"""Create or upgrade every table vmha needs: its own and taskflow's.

vmha's migrations keep their revision in ``vmha_alembic_version`` so they
never collide with taskflow's (which uses alembic's default table).
"""

import os

from alembic import command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script
from taskflow.persistence import backends as tf_backends

from vmha.db import api as db_api

_SCRIPTS = os.path.join(os.path.dirname(__file__), 'migrations')


def _alembic_config(connection):
    cfg = alembic_config.Config()
    cfg.set_main_option('script_location', _SCRIPTS)
    cfg.attributes['connection'] = connection
    return cfg


def upgrade(url, revision='head'):
    """Bring vmha's schema and taskflow's to ``revision`` (default head)."""
    engine = db_api.create_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    finally:
        engine.dispose()
    backend = tf_backends.fetch({'connection': url})
    try:
        conn = backend.get_connection()
        conn.upgrade()
        conn.close()
    finally:
        backend.close()


def head_revision():
    """The newest revision of vmha's schema this code knows."""
    scripts = alembic_script.ScriptDirectory.from_config(
        _alembic_config(None))
    return scripts.get_current_head()


def current_revision(url):
    engine = db_api.create_engine(url)
    try:
        with engine.connect() as connection:
            ctx = alembic_migration.MigrationContext.configure(
                connection, opts={'version_table': 'vmha_alembic_version'})
            return ctx.get_current_revision()
    finally:
        engine.dispose()
