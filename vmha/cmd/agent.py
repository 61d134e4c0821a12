"""vmha-agent: heartbeat this compute host to vmha-monitor.

Thin: load configuration, run :class:`vmha.agent.Agent` until SIGTERM or
SIGINT, which leave the group at once (a planned stop, not a failure).
"""

import signal
import sys
import threading

from oslo_config import cfg
from oslo_log import log as logging

from vmha import agent
from vmha import conf as vmha_conf
from vmha import exception


def main(argv=None):
    conf = cfg.CONF
    vmha_conf.register_opts(conf)
    logging.register_options(conf)
    conf(sys.argv[1:] if argv is None else argv, project='vmha')
    logging.setup(conf, 'vmha')
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        agent.Agent(conf).run(stop)
    except (exception.VmhaError, cfg.Error) as err:
        print('vmha-agent: error: %s' % err, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
