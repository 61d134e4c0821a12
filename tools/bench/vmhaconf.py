"""vmha as the benchmark runs it: embedded defaults plus the lab's timings.

Everything not set here is vmha's default (SQLite database, 16 evacuation
workers, ``nova,heartbeat`` detection); ``tools.lab.access.lab`` wires the
config file to the lab's Nova and BMCs exactly as for the functional tests.
The detection timings are the ones the README documents for the lab
(agents on Redis, heartbeat_timeout 3 s + poll_interval 1 s).
"""

from vmha.db import api as db_api
from vmha.db import migration

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib

HEARTBEAT_INTERVAL = 0.5
HEARTBEAT_TIMEOUT = 3.0
POLL_INTERVAL = 1.0
SOURCES = 'nova,heartbeat'


def timings():
    """The detection settings, as printed with the results."""
    return {'heartbeat_interval': HEARTBEAT_INTERVAL,
            'heartbeat_timeout': HEARTBEAT_TIMEOUT,
            'poll_interval': POLL_INTERVAL, 'sources': SOURCES}


def setup(workdir, lab_info, **overrides):
    """(conf, config file, Database) for one case in ``workdir``: a fresh
    SQLite database, the agents' group private to this case."""
    url = 'sqlite:///%s' % (workdir / 'vmha.sqlite')
    migration.upgrade(url)
    options = {
        'DEFAULT.log_file': workdir / 'monitor.log',
        'monitor.poll_interval': POLL_INTERVAL,
        'monitor.detection_sources': SOURCES,
        'coordination.backend_url': agentlib.REDIS_URL,
        'coordination.group_name': agentlib.unique('vmha-bench'),
        'coordination.heartbeat_interval': HEARTBEAT_INTERVAL,
        'coordination.heartbeat_timeout': HEARTBEAT_TIMEOUT,
    }
    options.update(overrides)
    config = workdir / 'vmha.conf'
    conf = lablib.load_conf(config, lab_info, url, **options)
    return conf, str(config), db_api.Database.from_conf(conf)


def microversion(log_file):
    """The compute API microversion the monitor negotiated (its log)."""
    marker = 'Using compute API microversion '
    try:
        with open(log_file) as f:
            for line in f:
                if marker in line:
                    return line.split(marker, 1)[1].split()[0]
    except FileNotFoundError:
        pass
    return None
