"""vmha-monitor: watch compute hosts and recover those that fail.

Thin: load configuration, build a Recoverer and a Monitor, run the detection
loop until SIGTERM/SIGINT. On start it resumes any recovery a previous
(crashed) monitor left unfinished.
"""

import signal
import sys
import threading

from oslo_config import cfg
from oslo_log import log as logging

from vmha import conductor
from vmha import conf as vmha_conf
from vmha import exception
from vmha import monitor
from vmha import recovery
from vmha import runner

LOG = logging.getLogger(__name__)

_CLI_OPTS = [
    cfg.BoolOpt('once', default=False,
                help='Resume unfinished recoveries, check once, exit.'),
]


def _build(conf):
    recoverer = recovery.Recoverer(conf)
    try:
        return monitor.Monitor(conf, recoverer,
                               runner=runner.get_runner(conf, recoverer))
    except Exception:
        recoverer.close()
        raise


def main(argv=None):
    conf = cfg.CONF
    vmha_conf.register_opts(conf)
    logging.register_options(conf)
    conf.register_cli_opts(_CLI_OPTS)
    conf(sys.argv[1:] if argv is None else argv, project='vmha')
    logging.setup(conf, 'vmha')
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        watcher = _build(conf)
    except (exception.VmhaError, cfg.Error) as err:
        print('vmha-monitor: error: %s' % err, file=sys.stderr)
        return 1
    try:
        if conf.once:
            watcher.runner.resume_all()
            watcher.check_once()
        else:
            LOG.info('vmha-monitor watching with %s every %.1fs',
                     ', '.join(s.name for s in watcher.sources),
                     conf.monitor.poll_interval)
            service = conductor.serve(conf, watcher.runner)
            try:
                watcher.run(stop)
            finally:
                if service is not None:
                    service.stop()
    finally:
        watcher.close()
        watcher.runner.close()
        watcher.recoverer.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
