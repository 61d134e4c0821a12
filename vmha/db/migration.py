"""Create or upgrade every table vmha needs: its own and taskflow's.

vmha's migrations keep their revision in ``vmha_alembic_version`` so they
never collide with taskflow's (which uses alembic's default table).
"""

import os
import stat

from alembic import command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script
from taskflow.persistence import backends as tf_backends

from oslo_log import log as logging
import sqlalchemy as sa

from vmha.db import api as db_api

LOG = logging.getLogger(__name__)

#: files of one SQLite database (WAL mode)
SQLITE_SUFFIXES = ('', '-wal', '-shm')

_SCRIPTS = os.path.join(os.path.dirname(__file__), 'migrations')


def _alembic_config(connection, keyring=None):
    cfg = alembic_config.Config()
    cfg.set_main_option('script_location', _SCRIPTS)
    cfg.attributes['connection'] = connection
    # the migrations that encrypt or decrypt stored credentials use it
    cfg.attributes['keyring'] = keyring
    return cfg


def ensure_state_path(path):
    """Create the state directory owner-only (0700) if it is missing."""
    if path and not os.path.isdir(path):
        os.makedirs(path, mode=0o700)
        LOG.info('created %s (mode 0700)', path)


def secure_sqlite_files(url):
    """Make an SQLite database's files owner-only (0600).

    A database created by an earlier vmha (or by hand) may be readable by
    every local user; ``db sync`` tightens it, saying so.
    """
    parts = sa.engine.make_url(url)
    if parts.get_backend_name() != 'sqlite' or not parts.database \
            or parts.database == ':memory:':
        return
    for suffix in SQLITE_SUFFIXES:
        path = parts.database + suffix
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
            LOG.warning('%s was readable by other users (mode %04o); made '
                        'it owner-only', path, mode)


def upgrade(url, revision='head', keyring=None):
    """Bring vmha's schema and taskflow's to ``revision`` (default head).

    ``keyring`` (vmha.credentials) encrypts credentials an older schema
    kept in clear (revision 0005).
    """
    engine = db_api.create_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection, keyring), revision)
    finally:
        engine.dispose()
    backend = tf_backends.fetch({'connection': url})
    try:
        conn = backend.get_connection()
        conn.upgrade()
        conn.close()
    finally:
        backend.close()
    secure_sqlite_files(url)


def downgrade(url, revision, keyring=None):
    """Take vmha's schema back to ``revision`` (tests of migrations)."""
    engine = db_api.create_engine(url)
    try:
        with engine.begin() as connection:
            command.downgrade(_alembic_config(connection, keyring), revision)
    finally:
        engine.dispose()


def head_revision():
    """The newest revision of vmha's schema this code knows."""
    scripts = alembic_script.ScriptDirectory.from_config(
        _alembic_config(None))
    return scripts.get_current_head()


def known_revisions():
    """Every revision of vmha's schema this code knows."""
    scripts = alembic_script.ScriptDirectory.from_config(
        _alembic_config(None))
    return {script.revision for script in scripts.walk_revisions()}


def current_revision(url, timeout=db_api.DEFAULT_TIMEOUT):
    """The schema revision of the database at ``url`` (None: none)."""
    engine = db_api.create_engine(url, timeout)
    try:
        with engine.connect() as connection:
            ctx = alembic_migration.MigrationContext.configure(
                connection, opts={'version_table': 'vmha_alembic_version'})
            return ctx.get_current_revision()
    finally:
        engine.dispose()
