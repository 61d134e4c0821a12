"""vmha-agent: heartbeat this compute host to vmha-monitor.

Thin: load and check the configuration (vmha/cmd/startup.py), run
:class:`vmha.agent.Agent` until SIGTERM or SIGINT, which disarm the watchdog
and leave the group at once (a planned stop, not a failure). The process
exits within a few seconds of the signal even when the coordination backend
hangs (vmha/cmd/service.py).
"""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from vmha import agent
from vmha.cmd import service
from vmha.cmd import startup
from vmha import conf as vmha_conf
from vmha import metrics

PROG = 'vmha-agent'


def main(argv=None):
    conf = cfg.CONF
    vmha_conf.register_opts(conf)
    logging.register_options(conf)
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        startup.parse_args(PROG, conf, argv)
        # the agent uses no database: its URL is not its business
        startup.check(PROG, conf, database=False)
        logging.setup(conf, 'vmha')
        startup.logs_to_stderr()
        heart = agent.Agent(conf)
    except startup.EXPECTED as err:
        return startup.report(PROG, err, startup.debugging(conf, argv))
    # the cleanup disarms the watchdog even when the heartbeat loop hangs
    # on the backend past the grace time (a planned stop never resets)
    return service.run(PROG, lambda stop: _heartbeat(conf, heart, stop),
                       cleanup=heart.disarm)


def _heartbeat(conf, heart, stop):
    """Heartbeat until ``stop``, serving metrics if [metrics] asks."""
    with metrics.serving(conf, 'agent'):
        heart.run(stop)


if __name__ == '__main__':
    sys.exit(main())
