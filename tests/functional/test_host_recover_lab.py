"""vmha-manage host recover against real Nova: refused while Nova has not
finished with the host's evacuations.

After a recovery the evacuation migrations of the host stay ``done`` until
its nova-compute starts again and deletes the local copies of the evacuated
instances (then ``completed``). Put back into service before that, the host
could run instances that also run elsewhere: ``host recover`` refuses,
changing nothing. (The ``accepted``/``pre-migrating``/``migrating`` states
pass too quickly on the lab's fake virt driver to be caught: the unit tests
cover them.)
"""

import subprocess
import sys

from vmha import api
from vmha.db import api as db_api

from tools.lab.access import lab as lablib

pytestmark = [lablib.requires_lab, lablib.pytest.mark.lab]

SOURCE = 'hostA'


def test_host_recover_refused_while_evacuations_are_not_cleaned_up(
        clean_lab, vmha_setup, nova, tmp_path, lab_info, sqlite_url):
    conf, db = vmha_setup
    ids = [s['id'] for s in lablib.boot(2, SOURCE)]
    lablib.lab('fail', SOURCE, '--mode', 'kill')
    report = api.recover_host(conf, SOURCE, level=2)
    assert report.state == db_api.COMPLETED, report.error
    statuses = {m.status for sid in ids for m in nova('2.59').migrations.list(
        instance_uuid=sid, migration_type='evacuation')}
    assert statuses == {'done'}, statuses          # what the test is about

    config = lablib.write_config(tmp_path / 'manage.conf', lab_info,
                                 sqlite_url,
                                 **{'monitor.detection_sources': 'nova',
                                    'DEFAULT.log_file': tmp_path / 'log'})
    done = subprocess.run(
        [sys.executable, '-m', 'vmha.cmd.manage', '--config-file', config,
         'host', 'reinstate', SOURCE], capture_output=True, text=True,
        timeout=120)
    assert (done.returncode, done.stdout) == (1, ''), done.stderr
    [line] = done.stderr.splitlines()
    assert 'is still failing' in line and 'not yet cleaned up' in line
    svc = lablib.service(nova, SOURCE)
    assert (svc.status, svc.forced_down) == ('disabled', True)
    assert db.host_state(SOURCE) == 'evacuated'
