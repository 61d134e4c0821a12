"""Many simulated vmha-agents in one process: the monitor's load.

    python -m tools.bench.swarm CONFIG COUNT PREFIX

Joins ``COUNT`` members ``PREFIX-0001``... to the config's agents' group,
each through its own tooz coordinator (one backend connection, as one
vmha-agent per host has), prints ``joined COUNT`` and heartbeats every
member every ``heartbeat_interval`` until SIGTERM. It uses vmha's own
membership code (vmha.coordination), as vmha-agent does.

On SIGTERM it exits without leaving: the members expire on the backend as
crashed agents' do. (Stopping a tooz Redis coordinator takes about a second,
so leaving 1,000 members one by one would take a quarter of an hour.)
"""

import resource
import signal
import sys
import threading
import time

from oslo_config import cfg

from vmha import conf as vmha_conf
from vmha import coordination


def _more_files(count):
    """One socket per member: raise the soft descriptor limit if needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted,
                                                                  hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def join(conf, names):
    members = []
    for name in names:
        member = coordination.Membership.connect(conf, name)
        member.join(name, {'host': name})
        members.append(member)
    return members


def beat(members, interval, stop):
    """Heartbeat every member once per ``interval`` until ``stop``."""
    while not stop.is_set():
        started = time.monotonic()
        for member in members:
            member.heartbeat()
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def main(argv):
    config, count, prefix = argv[0], int(argv[1]), argv[2]
    conf = cfg.ConfigOpts()
    vmha_conf.register_opts(conf)
    conf(['--config-file', config], default_config_files=[])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _more_files(count)
    members = join(conf, ['%s-%04d' % (prefix, i)
                          for i in range(1, count + 1)])
    print('joined %d' % len(members), flush=True)
    beat(members, conf.coordination.heartbeat_interval, stop)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
