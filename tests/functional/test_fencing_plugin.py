"""A third-party fencing driver, installed by pip, found by its entry point.

pip installs a copy of doc/examples/vmha-fencing-example into a temporary
directory (no index, no build isolation: no network). New Python processes
with that directory on PYTHONPATH then load its ``fence_agent`` driver by
name, exactly as vmha loads its own (stevedore), and fence a host with it;
without it, vmha does not know the name. The fence agent is a shell script
speaking the fence-agents protocol (options on standard input).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from vmha.db import migration

EXAMPLE = (pathlib.Path(__file__).resolve().parents[2] / 'doc' / 'examples'
           / 'vmha-fencing-example')
PASSWORD = 'agent-S3cret.pw'

FAKE_AGENT = r'''#!/bin/sh
# a fence agent: name=value options on stdin, power state in power.state
DIR=$(cd "$(dirname "$0")" && pwd)
echo "argv:$*" >> "$DIR/calls.log"
action=; password=
while IFS='=' read -r name value; do
  echo "$name=$value" >> "$DIR/calls.log"
  case $name in action) action=$value;; password) password=$value;; esac
done
if [ "$password" != "%(password)s" ]; then
  echo "Failed: Unable to connect/login to fencing device" >&2; exit 1
fi
case $action in
  status) [ "$(cat "$DIR/power.state")" = on ] && exit 0; exit 2 ;;
  off|on) echo $action > "$DIR/power.state"; exit 0 ;;
esac
exit 1
'''

# run in a new process: load by name, validate, fence (wrong password first)
SCRIPT = r'''
import json, sys
from oslo_config import cfg
from vmha import conf as vmha_conf, exception, fencing, inventory
from vmha.drivers import loader

conf = cfg.ConfigOpts()
vmha_conf.register_opts(conf)
conf([], default_config_files=[])
conf.set_override('power_off_confirm_interval', 0, 'fencing')
agent, password = sys.argv[1:]
host = inventory.HostSpec(
    name='compute-x', fencing_driver='fence_agent', bmc_address='192.0.2.50',
    bmc_username='admin', bmc_password='wrong-' + password,
    bmc_options={'agent': agent, 'plug': '3'})
driver = fencing.load_driver(conf, host)
driver.validate(host)
fencer = fencing.Fencer.from_conf(conf, driver)
try:
    fencer.fence(host)
    refused = None
except exception.FencingError as err:
    refused = str(err)
host.bmc_password = password
before = fencer.power_state(host)
print(json.dumps({
    'available': loader.available(loader.FENCING_NAMESPACE),
    'module_file': sys.modules[type(driver).__module__].__file__,
    'refused': refused, 'before': before,
    'result': fencer.fence(host).to_dict(),
    'after': fencer.power_state(host)}))
'''


def run(argv, env):
    return subprocess.run(argv, capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(site directory, environment with it on PYTHONPATH)."""
    tmp = tmp_path_factory.mktemp('plugin')
    source = tmp / 'src'
    # a copy: pip builds in the source tree (build/, *.egg-info)
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns(
        'build', '*.egg-info', '__pycache__'))
    site = tmp / 'site'
    proc = run([sys.executable, '-m', 'pip', 'install', '--quiet',
                '--no-deps', '--no-build-isolation', '--no-index',
                '--disable-pip-version-check', '--target', str(site),
                str(source)], os.environ)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = dict(os.environ, PYTHONPATH=str(site),
               XDG_CACHE_HOME=str(tmp / 'cache'))   # stevedore's cache
    return site, env


@pytest.fixture
def agent(tmp_path):
    path = tmp_path / 'fence_fake'
    path.write_text(FAKE_AGENT % {'password': PASSWORD})
    path.chmod(0o755)
    (tmp_path / 'power.state').write_text('on\n')
    return path


def test_installed_driver_fences_a_host(installed, agent):
    site, env = installed
    proc = run([sys.executable, '-c', SCRIPT, str(agent), PASSWORD], env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out['available'] == ['fence_agent', 'ipmi', 'noop', 'redfish',
                                'ssh', 'watchdog']
    assert out['module_file'].startswith(str(site))
    assert 'compute-x' in out['refused']
    assert 'Unable to connect/login' in out['refused']
    assert PASSWORD not in out['refused']
    assert out['before'] == 'on'
    assert out['result']['driver'] == 'fence_agent'
    assert out['result']['first_state'] == 'on'
    assert out['after'] == 'off'
    assert (agent.parent / 'power.state').read_text().strip() == 'off'
    calls = (agent.parent / 'calls.log').read_text().splitlines()
    assert 'action=off' in calls and 'plug=3' in calls
    assert 'password=%s' % PASSWORD in calls        # on stdin ...
    assert all(c == 'argv:' for c in calls if c.startswith('argv:'))
    assert PASSWORD not in proc.stderr


def _host_add(env, tmp_path, *options):
    """vmha-manage host add against a synced database (vmha-manage reports
    a database it cannot use before it looks at its input)."""
    url = 'sqlite:///%s' % (tmp_path / 'vmha.sqlite')
    migration.upgrade(url)
    config = tmp_path / 'vmha.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n[database]\nconnection = '
                      '%s\n' % (tmp_path / 'log', url))
    return run([sys.executable, '-m', 'vmha.cmd.manage', '--config-file',
                str(config), 'host', 'add', 'c1', '--fencing', 'fence_agent',
                '--bmc-address', '192.0.2.50', *options], env)


def test_manage_validates_with_the_installed_driver(installed, tmp_path):
    _, env = installed
    proc = _host_add(env, tmp_path, '--bmc-option', 'agent=no_such_agent')
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "vmha-manage: error: Invalid input: host c1: fencing driver "
        "fence_agent: bmc_options['agent'] 'no_such_agent' is not an "
        "installed fence agent (set with --bmc-option agent=...)"]


def test_unknown_without_the_package(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / 'cache'))
    env.pop('PYTHONPATH', None)
    proc = _host_add(env, tmp_path)
    assert proc.returncode == 1
    assert 'No fencing driver named "fence_agent"' in proc.stderr
