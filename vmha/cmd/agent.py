"""vmha-agent: heartbeat this compute host to vmha-monitor.

Thin: load configuration, run :class:`vmha.agent.Agent` until SIGTERM or
SIGINT, which disarm the watchdog and leave the group at once (a planned
stop, not a failure). The
process exits within a few seconds of the signal even when the coordination
backend hangs (vmha/cmd/service.py).
"""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from vmha import agent
from vmha import conf as vmha_conf
from vmha.cmd import service
from vmha import exception


def main(argv=None):
    conf = cfg.CONF
    vmha_conf.register_opts(conf)
    logging.register_options(conf)
    conf(sys.argv[1:] if argv is None else argv, project='vmha')
    logging.setup(conf, 'vmha')
    try:
        heart = agent.Agent(conf)
    except (exception.VmhaError, cfg.Error) as err:
        print('vmha-agent: error: %s' % err, file=sys.stderr)
        return 1
    # the cleanup disarms the watchdog even when the heartbeat loop hangs
    # on the backend past the grace time (a planned stop never resets)
    return service.run('vmha-agent', heart.run, cleanup=heart.disarm)


if __name__ == '__main__':
    sys.exit(main())
