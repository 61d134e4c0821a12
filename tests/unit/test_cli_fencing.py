"""``vmha-manage host add/update`` with each fencing driver.

Bad input is one error line naming what is wrong and the option to fix it,
exit 1, nothing stored; the BMC password is never printed nor logged.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.unit.drivers.helpers import write_key
from tests.unit.test_cli import _error_line
from tests.unit.test_cli import _hosts
from tests.unit.test_cli import cli  # noqa: F401 (fixture)
from tests.unit.test_cli import SECRET

IPMI = ('--fencing', 'ipmi', '--bmc-address', '192.0.2.7',
        '--bmc-username', 'admin')
REDFISH = ('--fencing', 'redfish', '--bmc-address', 'https://192.0.2.8',
           '--bmc-username', 'admin')


@pytest.fixture
def debug_cli(cli, tmp_path):  # noqa: F811
    """``cli`` logging at DEBUG to ``cli.log``."""
    with open(cli.config, 'a') as f:
        f.write('[DEFAULT]\ndebug = true\n')
    cli.log = tmp_path / 'vmha.log'
    return cli


@pytest.fixture
def ssh_files(debug_cli, tmp_path):
    """A key and known_hosts file, configured in [ssh_fencing]."""
    key = write_key(tmp_path / 'id_ed25519')
    known_hosts = tmp_path / 'known_hosts'
    known_hosts.write_text('')
    with open(debug_cli.config, 'a') as f:
        f.write('[ssh_fencing]\nprivate_key_file = %s\n'
                'known_hosts_file = %s\n' % (key, known_hosts))
    return key


def _no_secret(run, *texts):
    for text in texts + (run.log.read_text(),):
        assert SECRET not in text


@pytest.mark.parametrize('argv, words', [
    (('--fencing', 'ipmi', '--bmc-address', '192.0.2.7'),
     ['needs bmc_username, bmc_password', '--bmc-username',
      '--bmc-password or --bmc-password-file']),
    (IPMI[:2] + ('--bmc-username', 'admin', '--bmc-password', SECRET),
     ['needs bmc_address', '--bmc-address']),
    (('--fencing', 'ipmi', '--bmc-address', 'bmc 7', '--bmc-username',
      'admin', '--bmc-password', SECRET),
     ["bmc_address 'bmc 7' is neither an IP address nor a host name",
      '(set with --bmc-address)']),
    (IPMI + ('--bmc-password', SECRET, '--bmc-port', '70000'),
     ['bmc_port 70000 is not', '(set with --bmc-port)']),
    (IPMI + ('--bmc-password', SECRET, '--bmc-option', 'privilege=x'),
     ['unknown key(s) privilege', '--bmc-option']),
    (IPMI + ('--bmc-password', 'p' * 21), ['longer than 20 bytes']),
    (REDFISH[:2] + ('--bmc-address', '192.0.2.8', '--bmc-username', 'admin',
                    '--bmc-password', SECRET),
     ['is not an http(s) URL', '(set with --bmc-address)']),
    (REDFISH, ['fencing driver redfish needs bmc_password',
               '--bmc-password']),
    (REDFISH[:2] + ('--bmc-address', 'https://admin:%s@192.0.2.8' % SECRET,
                    '--bmc-username', 'admin', '--bmc-password', SECRET),
     ['must not contain credentials']),
    (REDFISH + ('--bmc-password', SECRET, '--bmc-option', 'system_id=a b'),
     ["bmc_options['system_id'] 'a b' is not a Redfish id",
      '--bmc-option system_id=']),
    (REDFISH + ('--bmc-password', SECRET, '--bmc-option', 'verify=/nope'),
     ["bmc_options['verify']", 'CA bundle', '--bmc-option verify=']),
    (('--fencing', 'ssh', '--bmc-address', '192.0.2.9', '--bmc-password',
      SECRET),
     ['needs a private key', '--bmc-option key_file=']),
    (('--fencing', 'ssh', '--bmc-option', 'key_file=/nope'),
     ['fencing driver ssh needs bmc_address', '--bmc-address']),
    (('--fencing', 'nosuch', '--bmc-password', SECRET),
     ['No fencing driver named "nosuch"', 'installed: ipmi, noop, redfish, '
      'ssh']),
    (('--bmc-address', 'not an address!', '--bmc-password', SECRET),
     ['fencing driver noop: bmc_address', '--bmc-address']),
], ids=['ipmi-no-credentials', 'ipmi-no-address', 'ipmi-bad-address',
        'ipmi-bad-port', 'ipmi-unknown-option', 'ipmi-long-password',
        'redfish-not-url', 'redfish-no-password', 'redfish-url-credentials',
        'redfish-bad-system-id', 'redfish-bad-ca-bundle', 'ssh-no-key',
        'ssh-no-address', 'unknown-driver', 'noop-bad-address'])
def test_host_add_refused(debug_cli, db_url, argv, words):
    code, out, err = debug_cli('host', 'add', 'c1', *argv)
    assert (code, out) == (1, '')
    line = _error_line(err)
    for word in words:
        assert word in line
    _no_secret(debug_cli, out, err)
    assert _hosts(db_url) == {}


def test_host_add_ipmi(debug_cli, db_url):
    code, out, err = debug_cli('-f', 'json', 'host', 'add', 'c1', *IPMI,
                               '--bmc-password', SECRET, '--bmc-option',
                               'kg=%s' % SECRET)
    assert (code, err) == (0, '')
    shown = json.loads(out)
    assert shown['bmc_password'] == '***'
    assert shown['bmc_options'] == {'kg': '***'}
    stored = _hosts(db_url)['c1']
    assert (stored.fencing_driver, stored.bmc_password) == ('ipmi', SECRET)
    assert stored.bmc_options == {'kg': SECRET}
    code, out, _ = debug_cli('host', 'show', 'c1')
    assert code == 0
    _no_secret(debug_cli, out)


def test_host_add_redfish(debug_cli, db_url):
    code, out, err = debug_cli('host', 'add', 'c1', *REDFISH,
                               '--bmc-password', SECRET, '--bmc-option',
                               'system_id=1', '--bmc-option', 'verify=false')
    assert (code, err) == (0, '')
    stored = _hosts(db_url)['c1']
    assert stored.bmc_address == 'https://192.0.2.8'
    assert stored.bmc_options == {'system_id': '1', 'verify': 'false'}
    _no_secret(debug_cli, out)


def test_host_add_ssh_with_configured_key(ssh_files, debug_cli, db_url):
    code, _, err = debug_cli('host', 'add', 'c1', '--fencing', 'ssh',
                             '--bmc-address', '192.0.2.9')
    assert (code, err) == (0, '')
    assert _hosts(db_url)['c1'].bmc_options == {}
    code, _, err = debug_cli('host', 'add', 'c2', '--fencing', 'ssh',
                             '--bmc-address', '192.0.2.10', '--bmc-option',
                             'key_file=%s' % ssh_files, '--bmc-port', '2222')
    assert (code, err) == (0, '')
    assert _hosts(db_url)['c2'].bmc_port == 2222


def test_host_update_revalidates_with_the_new_driver(debug_cli, db_url):
    assert debug_cli('host', 'add', 'c1', *IPMI,
                     '--bmc-password', SECRET)[0] == 0
    code, out, err = debug_cli('host', 'update', 'c1', '--fencing',
                               'redfish')
    assert (code, out) == (1, '')
    assert 'is not an http(s) URL' in _error_line(err)
    assert _hosts(db_url)['c1'].fencing_driver == 'ipmi'
    code, _, err = debug_cli('host', 'update', 'c1', '--fencing', 'redfish',
                             '--bmc-address', 'https://192.0.2.8')
    assert (code, err) == (0, '')
    stored = _hosts(db_url)['c1']
    assert (stored.fencing_driver, stored.bmc_password) == ('redfish', SECRET)
    _no_secret(debug_cli, err)


def test_console_script_prints_one_error_line(tmp_path, db_url):
    """The real command in a new process: nothing but the error on stderr
    (no library warnings printed at import). The database is synced: an
    unsynced one is reported first now ("run vmha-manage db sync")."""
    config = tmp_path / 'vmha.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n[database]\nconnection = '
                      '%s\n' % (tmp_path / 'log', db_url))
    env = dict(os.environ)
    env.pop('PYTHONWARNINGS', None)
    proc = subprocess.run(
        [sys.executable, '-m', 'vmha.cmd.manage', '--config-file',
         str(config), 'host', 'add', 'c1', '--fencing', 'ipmi',
         '--bmc-address', '192.0.2.7', '--bmc-password', SECRET],
        capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ''
    assert proc.stderr.splitlines() == [
        'vmha-manage: error: Invalid input: host c1: fencing driver ipmi '
        'needs bmc_username (set with --bmc-username)']
