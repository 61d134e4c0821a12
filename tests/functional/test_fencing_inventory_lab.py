"""vmha-manage evacuate of a host that the real Nova knows and vmha's
inventory does not (issue 12).

Before, the recovery ran and fenced through the default ipmi driver with no
address, i.e. pyghmi's LOCAL IPMI device: on a monitor machine with a BMC,
the monitor itself. Now it is refused with one line, before anything is
recorded, fenced or changed in Nova. Nothing in the lab is changed, so the
test needs no reset.
"""

import os
import subprocess
import sys

import pytest

from vmha.db import api as db_api
from vmha.db import migration
from vmha.drivers.fencing import ipmi
from vmha import inventory

from tools.lab.access import lab as lablib

pytestmark = [lablib.requires_lab, pytest.mark.lab]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HOST = 'hostC'


def _bmc_state(conf, lab_info):
    bmc = lab_info['hosts'][HOST]['bmc']
    spec = inventory.HostSpec(
        name=HOST, fencing_driver='ipmi', bmc_address=bmc['address'],
        bmc_port=bmc['port'], bmc_username=bmc['username'],
        bmc_password=bmc['password'])
    return ipmi.IPMIDriver(conf).get_power_state(spec)


def _service(nova):
    svc = lablib.service(nova, HOST)
    return svc.state, svc.status, svc.forced_down


@pytest.mark.parametrize('dry_run', [False, True])
def test_evacuate_of_a_host_missing_from_the_inventory_is_refused(
        tmp_path, lab_info, nova, dry_run):
    url = 'sqlite:///%s' % (tmp_path / 'vmha.sqlite')
    migration.upgrade(url)                  # an empty inventory
    config = lablib.write_config(
        tmp_path / 'vmha.conf', lab_info, url,
        **{'DEFAULT.log_file': tmp_path / 'vmha.log'})
    conf = lablib.load_conf(tmp_path / 'probe.conf', lab_info, url)
    service_before = _service(nova)
    power_before = _bmc_state(conf, lab_info)
    argv = [sys.executable, '-m', 'vmha.cmd.manage', '--config-file',
            config, 'evacuate', HOST] + (['--dry-run'] if dry_run else [])
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert (proc.returncode, proc.stdout) == (1, ''), proc.stderr
    assert proc.stderr.splitlines() == [
        "vmha-manage: error: Host %s cannot be fenced: it is not in vmha's "
        "inventory (add it with 'vmha-manage host add %s' and its BMC "
        "details); not recovering it." % (HOST, HOST)]
    db = db_api.Database(url)
    try:
        assert db.list_recoveries() == [] and db.list_events() == []
    finally:
        db.dispose()
    assert _service(nova) == service_before
    assert _bmc_state(conf, lab_info) == power_before
