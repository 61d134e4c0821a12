"""[jobboard]: share recoveries between several vmha-monitor processes.

Empty ``backend_url`` (the default) keeps the embedded single-process mode:
the monitor runs each recovery itself. Set, every vmha-monitor posts
recoveries as jobs on a taskflow jobboard and runs a conductor that claims
and runs them (see vmha/runner.py and vmha/conductor.py).
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'jobboard',
    title='Jobboard options (several monitors)',
    help='Several vmha-monitor processes share the work through a taskflow '
         'jobboard: each host failure becomes one job; the conductor of any '
         'monitor claims it and runs the recovery, whose state is kept in '
         '[database] (which all monitors must share, so not SQLite unless '
         'they run on one machine). A monitor that dies loses its claim and '
         'another one resumes the recovery from its last completed step.')

OPTS = [
    cfg.StrOpt(
        'backend_url',
        default='',
        secret=True,
        help='Jobboard backend. Empty: no jobboard, one monitor runs every '
             'recovery in its own process. redis://[:PASSWORD@]HOST:PORT[/DB]'
             ' or zookeeper://HOST:PORT[,HOST:PORT...] (needs the kazoo '
             'package). Query parameters are passed to the taskflow '
             'jobboard (e.g. redis://10.0.0.5:6379?socket_timeout=5).'),
    cfg.StrOpt(
        'name',
        default='vmha',
        help='Name of the jobboard: the Redis key namespace, or the '
             'ZooKeeper path /<name>/jobs. Monitors of one cloud must use the '
             'same name; several clouds may share a backend with different '
             'names.'),
    cfg.FloatOpt(
        'claim_timeout',
        default=30.0,
        min=1.0,
        max=3600.0,
        help='Seconds after a monitor died before another monitor takes its '
             'recoveries over. It is the expiry of a job claim (Redis, kept '
             'alive every claim_timeout/3 while the recovery runs; the '
             'session timeout with ZooKeeper) and of the recovery\'s '
             'ownership lease in the database, which whoever runs the '
             'recovery (a monitor, vmha-manage evacuate or recovery resume, '
             'the Python API; with or without a jobboard) renews before '
             'every change it makes to Nova or a BMC: a process that lost its '
             'lease (stalled longer than this) stops without touching '
             'anything, and the recovery of a process that died can be '
             'resumed this long after its last renewal. Keep it well above '
             'the longest pause a healthy monitor may have, and monitor '
             'clocks in sync (NTP).'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
