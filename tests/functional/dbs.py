"""Throwaway databases on the real PostgreSQL and MariaDB servers.

tools/install-deps.sh creates a ``vmha`` user (password ``vmha``) allowed to
create databases on both servers; each test gets its own database, dropped
afterwards.
"""

import contextlib
import uuid

import sqlalchemy as sa

SERVERS = {
    'postgresql': 'postgresql+psycopg2://vmha:vmha@127.0.0.1:5432/%s',
    'mysql': 'mysql+pymysql://vmha:vmha@127.0.0.1:3306/%s',
}
ADMIN_DB = {'postgresql': 'postgres', 'mysql': 'vmha_test'}


@contextlib.contextmanager
def scratch_database(kind):
    """Yield the URL of a new, empty database on server ``kind``."""
    name = 'vmha_%s' % uuid.uuid4().hex[:10]
    admin = sa.create_engine(SERVERS[kind] % ADMIN_DB[kind],
                             isolation_level='AUTOCOMMIT')
    with admin.connect() as conn:
        conn.execute(sa.text('CREATE DATABASE %s' % name))
    try:
        yield SERVERS[kind] % name
    finally:
        with admin.connect() as conn:
            if kind == 'postgresql':
                conn.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = '%s'" % name))
            conn.execute(sa.text('DROP DATABASE %s' % name))
        admin.dispose()
