"""vmha-monitor: watch compute hosts and recover those that fail.

Thin: load and check the configuration and the database
(vmha/cmd/startup.py), build a Recoverer and a Monitor, run the detection
loop until SIGTERM/SIGINT (vmha/cmd/service.py: promptly, even while a
backend hangs). On start it resumes any recovery a previous (crashed)
monitor left unfinished.
"""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from vmha.cmd import service
from vmha.cmd import startup
from vmha import conductor
from vmha import conf as vmha_conf
from vmha import metrics
from vmha import monitor
from vmha import recovery
from vmha import runner

LOG = logging.getLogger(__name__)
PROG = 'vmha-monitor'

_CLI_OPTS = [
    cfg.BoolOpt('once', default=False,
                help='Resume unfinished recoveries, check once, exit: 0, '
                     'or 1 when a detection source did not answer.'),
]


def _build(conf):
    recoverer = recovery.from_conf(conf)
    try:
        return monitor.Monitor(conf, recoverer,
                               runner=runner.get_runner(conf, recoverer))
    except Exception:
        recoverer.close()
        raise


def _close(watcher):
    watcher.close()
    watcher.runner.close()
    watcher.recoverer.close()


def _once(watcher):
    """Resume, look once, wait for the recoveries started; 0, or 1 when a
    detection source failed (what it watches went unseen)."""
    watcher.runner.resume_all()
    watcher.check_once()
    watcher.runner.wait()
    if watcher.failed_sources:
        print('%s: error: detection source(s) %s did not answer; their '
              'hosts were not checked' % (
                  PROG, ', '.join(watcher.failed_sources)), file=sys.stderr)
        return 1
    return 0


def _watch(conf, watcher, stop):
    LOG.info('vmha-monitor watching with %s every %.1fs',
             ', '.join(s.name for s in watcher.sources),
             conf.monitor.poll_interval)
    conductor_service = conductor.serve(conf, watcher.runner)
    try:
        with metrics.serving(conf, 'monitor'):
            watcher.run(stop)
    finally:
        if conductor_service is not None:
            conductor_service.stop()


def main(argv=None):
    conf = cfg.CONF
    vmha_conf.register_opts(conf)
    logging.register_options(conf)
    conf.register_cli_opts(_CLI_OPTS)
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        startup.parse_args(PROG, conf, argv)
        startup.check(PROG, conf, database=True, schema=True)
        logging.setup(conf, 'vmha')
        startup.logs_to_stderr()
        watcher = _build(conf)
    except startup.EXPECTED as err:
        return startup.report(PROG, err, startup.debugging(conf, argv))
    if conf.once:
        try:
            return _once(watcher)
        finally:
            _close(watcher)
    return service.run(PROG,
                       lambda stop: _watch(conf, watcher, stop),
                       cleanup=lambda: _close(watcher))


if __name__ == '__main__':
    sys.exit(main())
