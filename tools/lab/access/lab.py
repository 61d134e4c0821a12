"""The real-Nova lab (tools/lab/lab) as the functional tests and the
benchmark use it.

The lab runs keystone, placement, nova-api/conductor/scheduler and three
fake-virt nova-compute hosts (hostA, hostB, hostC), each behind an ipmi_sim
BMC. Tests run only with VMHA_LAB=1 (tools/run-tests.sh sets it after
``lab up``); their fixtures, built on these helpers, are in
tests/functional/conftest.py.

The lab is one per machine: a test session that uses it holds
``LAB_LOCK`` (flock(2)) from its first lab test to its end, so two test
runs, or a test run and the benchmark (which takes it per case), never
reset or fail hosts under each other. Do not wrap a test run in
``flock LAB_LOCK``: the session would wait for itself.
"""

import contextlib
import fcntl
import json
import os
import subprocess
import time

from oslo_config import cfg
import pytest

from tools.lab.access import agents as agentlib
from tools.lab.access import keys
from vmha import conf as vmha_conf
from vmha import inventory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
LAB = os.path.join(ROOT, 'tools', 'lab', 'lab')
HOSTS = ('hostA', 'hostB', 'hostC')

LAB_LOCK = '/tmp/vmha-lab.lock'

requires_lab = pytest.mark.skipif(
    os.environ.get('VMHA_LAB') != '1',
    reason='needs the real-Nova lab: tools/lab/lab up, then VMHA_LAB=1')


def lab(*args, timeout=600):
    """Run a lab command; return its stdout, fail the test on error."""
    proc = subprocess.run([LAB] + [str(a) for a in args], text=True,
                          capture_output=True, timeout=timeout)
    if proc.returncode:
        pytest.fail('lab %s failed (%d):\n%s\n%s' % (
            ' '.join(map(str, args)), proc.returncode, proc.stdout[-3000:],
            proc.stderr[-3000:]))
    return proc.stdout


def boot(count, host, stopped=0, error=0, prefix='ha'):
    """Boot servers on ``host``; return [{id, name, status, host}]."""
    out = lab('boot', count, '--host', host, '--stopped', stopped,
              '--error', error, '--name-prefix', prefix, '--json')
    return json.loads(out[out.index('['):])


@contextlib.contextmanager
def locked(path=LAB_LOCK):
    """Hold the lab lock; yield the seconds spent waiting for it."""
    with open(path, 'a') as lock:
        asked = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield time.monotonic() - asked
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def more_hosts(count):
    """The lab grown to ``count`` hosts (``lab up --hosts``), and back to
    its three on the way out whatever happened. The caller holds the lab
    lock: every other user of the lab expects hostA-hostC only. Yields the
    lab's info with every host."""
    try:
        lab('reset')        # hosts a test left failed would not come up
        lab('up', '--hosts', count, timeout=900)
        yield json.loads(lab('info'))
    finally:
        try:
            lab('reset')    # the same, and no servers on the extras
        finally:
            lab('up', '--hosts', len(HOSTS), timeout=900)
            lab('reset')


def write_config(path, lab_info, db_url, **overrides):
    """Write a vmha config file wired to the lab, as an operator would.

    ``overrides``: {'group.option': value}. Returns ``path``.
    """
    auth = lab_info['auth']
    options = {
        'nova.auth_type': 'password',
        'nova.region_name': auth.get('region_name', 'RegionOne'),
        'nova.valid_interfaces': 'public',
        'database.connection': db_url,
        'inventory.credential_key_file': keys.key_file(),
        'fencing.default_driver': 'ipmi',
        'fencing.power_off_confirm_count': 10,
        'fencing.power_off_confirm_interval': 0.5,
        'evacuation.confirm_timeout': 120,
        'evacuation.confirm_interval': 0.5,
        'recovery.wait_service_down_timeout': 90,
        'recovery.wait_service_down_interval': 0.5,
        'notification.drivers': 'log',
        # vmha must be told Nova's report_interval (not in Nova's API)
        'monitor.nova_report_interval': lab_info['report_interval'],
        'monitor.nova_report_grace': 1,
    }
    for key in ('auth_url', 'username', 'password', 'project_name',
                'user_domain_name', 'project_domain_name'):
        options['nova.' + key] = auth[key]
    options.update(overrides)
    groups = {}
    for key, value in options.items():
        group, option = key.split('.', 1)
        groups.setdefault(group, []).append('%s = %s' % (option, value))
    with open(path, 'w') as f:
        for group, lines in groups.items():
            f.write('[%s]\n%s\n\n' % (group, '\n'.join(lines)))
    return str(path)


def load_conf(path, lab_info, db_url, **overrides):
    """A vmha ConfigOpts loaded from a config file written for the lab."""
    conf = cfg.ConfigOpts()
    vmha_conf.register_opts(conf)
    conf(['--config-file', write_config(path, lab_info, db_url, **overrides)],
         default_config_files=[])
    return conf


def add_lab_hosts(db, lab_info, driver='ipmi'):
    """Put the lab's hosts and their BMCs in vmha's inventory."""
    for name, host in lab_info['hosts'].items():
        bmc = host['bmc']
        db.add_host(inventory.HostSpec(
            name=name, fencing_driver=driver, bmc_address=bmc['address'],
            bmc_port=bmc['port'], bmc_username=bmc['username'],
            bmc_password=bmc['password']))


def server_states(nova, ids):
    """{id: (host, vm_state, task_state)} as Nova reports now."""
    client = nova('2.53')
    result = {}
    for sid in ids:
        server = client.servers.get(sid)
        result[sid] = (getattr(server, 'OS-EXT-SRV-ATTR:host'),
                       getattr(server, 'OS-EXT-STS:vm_state'),
                       getattr(server, 'OS-EXT-STS:task_state'))
    return result


def evacuation_counts(nova, ids):
    """{id: number of evacuation migrations Nova recorded for it}."""
    client = nova('2.59')
    return {sid: len(client.migrations.list(instance_uuid=sid,
                                            migration_type='evacuation'))
            for sid in ids}


def assert_evacuated_once(nova, ids, source, vm_states=None,
                          forced_down=True):
    """What Nova must show after a recovery of ``source``: every server
    elsewhere, settled, in its original state (``vm_states``: {id: state},
    default all active), evacuated exactly once; the source's service
    disabled, and forced down unless ``forced_down`` is False (level 3)."""
    states = server_states(nova, ids)
    for sid, (host, vm_state, task_state) in states.items():
        assert host != source and task_state is None, (sid, states[sid])
        wanted = (vm_states or {}).get(sid, 'active')
        assert vm_state == wanted, (sid, states[sid], wanted)
    assert evacuation_counts(nova, ids) == dict.fromkeys(ids, 1)
    svc = service(nova, source)
    assert (svc.status, svc.forced_down) == ('disabled', forced_down), svc


def instance_actions(nova, sid):
    """Nova's instance-action names for ``sid``, oldest first.

    Nova lists them newest first (created_at, then id, descending); their
    start times have whole seconds in the lab's MariaDB, so sorting by them
    would mix up actions of the same second.
    """
    actions = nova('2.53').instance_action.list(sid)
    return [a.action for a in reversed(actions)]


def wait_vm_state(nova, sid, vm_state, timeout=60):
    """Wait until Nova shows ``sid`` in ``vm_state`` with no task."""
    return wait_for(lambda: server_states(nova, [sid])[sid][1:] == (
        vm_state, None), timeout, what='%s to be %s' % (sid, vm_state))


def service(nova, host):
    return [s for s in nova('2.53').services.list(binary='nova-compute')
            if s.host == host][0]


def wait_for(predicate, timeout, interval=0.5, what='condition'):
    """agents.wait_for at the pace of Nova's API (a poll every 0.5 s)."""
    return agentlib.wait_for(predicate, timeout, interval, what)
