"""[database] and [DEFAULT] state_path: where vmha records recoveries."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'database',
    title='Database options',
    help='vmha\'s own records (host inventory, recoveries, evacuations, '
         'events) and the taskflow engine state that lets an interrupted '
         'recovery resume.')

DEFAULT_OPTS = [
    cfg.StrOpt(
        'state_path',
        default='/var/lib/vmha',
        help='Directory for vmha\'s local state (the default SQLite '
             'database).'),
]

OPTS = [
    cfg.StrOpt(
        'connection',
        default='sqlite:///$state_path/vmha.sqlite',
        secret=True,
        help='SQLAlchemy URL of vmha\'s database. SQLite (the default) suits '
             'one monitor; use MySQL/MariaDB (mysql+pymysql://...) or '
             'PostgreSQL (postgresql+psycopg2://...) when several monitors '
             'share the work.'),
    cfg.FloatOpt(
        'retry_timeout',
        default=30.0,
        min=0.0,
        help='Seconds vmha keeps retrying a database operation that failed '
             'because the database is unreachable or busy (server restart, '
             'failover, SQLite lock), logging each attempt, before it gives '
             'up with an error. Each operation is one transaction: a retried '
             'one is rolled back first, never half-written. 0: no retry.'),
    cfg.FloatOpt(
        'timeout',
        default=30.0,
        min=1.0,
        help='Seconds one database call may wait: to connect, for a lock '
             '(SQLite busy timeout), for a statement (PostgreSQL '
             'statement_timeout, MySQL read/write timeouts). A database that '
             'stalls would otherwise hang a recovery; once this passes the '
             'call fails (and is retried up to retry_timeout when the '
             'database looks unreachable). PostgreSQL also gets TCP '
             'keepalives so that a dead server or a cut network is noticed.'),
    cfg.FloatOpt(
        'retry_interval',
        default=1.0,
        min=0.01,
        help='Seconds between two attempts of a retried database '
             'operation.'),
]


def register_opts(conf):
    conf.register_opts(DEFAULT_OPTS)
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {'DEFAULT': DEFAULT_OPTS, GROUP: OPTS}
