"""Test-only entry point: real vmha processes on a FileNova cloud.

    python -m tests.functional.vmha_proc NOVA_FILE monitor ARGS...
    python -m tests.functional.vmha_proc NOVA_FILE post CONFIG HOST AT
    python -m tests.functional.vmha_proc NOVA_FILE manage ARGS...

``monitor`` is the real vmha-monitor (``ARGS``: its command line). ``post``
records and posts the recovery of ``HOST`` through the configured runner at
clock time ``AT`` (so that several processes race), and prints ``posted`` or
``refused``. ``manage`` is the real vmha-manage. Only what reaches outside
is replaced: Nova and the BMCs are the shared file
(tests/functional/fakenova.py); configuration, detection, runner,
conductor, database and jobboard are vmha's own.
"""

import sys
import time

from oslo_config import cfg

from vmha import compute
from vmha import conf as vmha_conf
from vmha import exception
from vmha import fencing
from vmha import recovery
from vmha import runner

from tests.functional import fakenova
from vmha.cmd import manage
from vmha.cmd import monitor


def _use_file_cloud(path):
    nova = fakenova.FileNova(path)
    compute.ComputeAPI.from_conf = classmethod(lambda cls, conf: nova)
    fencing.load_driver = lambda conf, host: fakenova.FileBMC(conf, nova)


def _post(config, host, at):
    conf = cfg.ConfigOpts()
    vmha_conf.register_opts(conf)
    conf(['--config-file', config], default_config_files=[],
         default_config_dirs=[])
    recoverer = recovery.Recoverer(conf)
    posting = runner.get_runner(conf, recoverer)
    time.sleep(max(0.0, float(at) - time.time()))
    try:
        report = posting.start(host)
    except exception.RecoveryInProgress:
        print('refused')
    else:
        print('posted %s' % report.id)
    finally:
        posting.close()
        recoverer.close()
    return 0


def main():
    path, command, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    _use_file_cloud(path)
    if command == 'post':
        return _post(*args)
    if command == 'manage':
        return manage.main(args)
    return monitor.main(args)


if __name__ == '__main__':
    sys.exit(main())
