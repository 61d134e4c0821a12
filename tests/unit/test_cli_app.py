"""OpenStack's CLI habits (issue 19, item 3): --version, formats and -c,
logs on stderr only, bash completion, host names, --once exit code."""

import configparser
import json
import os
import shutil
import subprocess
import sys

import pytest
from oslo_config import cfg
import yaml

from vmha.cmd import agent as agent_cmd
from vmha.cmd import manage
from vmha.cmd import monitor as monitor_cmd
from vmha.detection import nova as nova_source
from vmha import exception
from vmha import recovery
from tests.unit.test_cli import _error_line
from tests.unit.test_cli import _hosts
from tests.unit.test_cli import cli  # noqa: F401  (the fixture)
from tests.unit import fakes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.mark.parametrize('main', [agent_cmd.main, monitor_cmd.main,
                                  manage.main])
def test_version_on_every_console_script(main, monkeypatch, capsys):
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    with pytest.raises(SystemExit) as exit_info:
        main(['--version'])
    assert exit_info.value.code == 0
    out = capsys.readouterr()
    assert (out.out + out.err).split()[-1][0].isdigit()


def test_commands_are_entry_points():
    """The vmha.manage namespace (what cliff's Sphinx extension documents)
    lists every command."""
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, 'setup.cfg'))
    declared = {line.split('=')[0].strip(): line.split('=')[1].strip()
                for line in parser['entry_points']['vmha.manage']
                .strip().splitlines()}
    assert declared == {name: 'vmha.cmd.manage:%s' % factory.__name__
                        for name, factory in manage.COMMANDS.items()}


@pytest.fixture
def run_cli(cli):  # noqa: F811  (the imported fixture)
    return cli


@pytest.fixture
def two_hosts(run_cli):
    run = run_cli
    assert run('host', 'add', 'c1', '--bmc-address', '192.0.2.7',
               '--bmc-password', 'Sup3rSecret')[0] == 0
    assert run('host', 'add', 'c2')[0] == 0
    return run


def test_list_formats_after_the_subcommand(two_hosts):
    run = two_hosts
    code, out, err = run('host', 'list', '-f', 'json')
    assert (code, err) == (0, '')
    assert [r['name'] for r in json.loads(out)] == ['c1', 'c2']
    code, out, _ = run('host', 'list', '-f', 'yaml')
    assert [r['name'] for r in yaml.safe_load(out)] == ['c1', 'c2']
    code, out, _ = run('host', 'list', '-f', 'csv', '-c', 'name',
                       '-c', 'bmc_address')
    assert out.splitlines() == ['"name","bmc_address"', '"c1","192.0.2.7"',
                                '"c2",""']
    code, out, _ = run('host', 'list', '-f', 'value', '-c', 'name')
    assert out.split() == ['c1', 'c2']
    assert 'Sup3rSecret' not in out


def test_show_formats_and_columns(two_hosts):
    run = two_hosts
    code, out, _ = run('host', 'show', 'c1', '-f', 'value', '-c',
                       'bmc_password')
    assert (code, out) == (0, '***\n')
    code, out, _ = run('host', 'show', 'c1', '-f', 'yaml')
    assert yaml.safe_load(out)['bmc_password'] == '***'
    code, out, _ = run('-f', 'json', 'host', 'show', 'c1')   # still works
    assert json.loads(out)['name'] == 'c1'


def test_db_sync_json_is_clean_with_logging_on(tmp_path, monkeypatch,
                                              capsys, restore_logging):
    """No log file: oslo.log would log on stdout, into the JSON."""
    config = tmp_path / 'c.conf'
    config.write_text('[DEFAULT]\ndebug = true\n[database]\nconnection = '
                      'sqlite:///%s\n' % (tmp_path / 'v.sqlite'))
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    assert manage.main(['--config-file', str(config), 'db', 'sync',
                        '-f', 'json']) == 0
    out, err = capsys.readouterr()
    assert set(json.loads(out)) == {'revision'}
    assert 'DEBUG' in err or 'INFO' in err


def test_evacuate_dry_run_json_is_clean_with_logging_on(
        run_cli, monkeypatch, capsys):
    run = run_cli
    compute = fakes.FakeCompute(hosts=('hostA', 'hostB'))
    compute.add_instance('i1', host='hostA')
    real = recovery.Recoverer
    monkeypatch.setattr(recovery, 'Recoverer',
                        lambda conf: real(conf, compute=compute))
    text = run.config.read_text().replace('log_file = ', 'debug = true\n#')
    run.config.write_text(text)
    assert run('host', 'add', 'hostA')[0] == 0
    code, out, err = run('evacuate', 'hostA', '--dry-run', '-f', 'json')
    assert code == 0, err
    assert json.loads(out)['host'] == 'hostA'
    assert err                                   # the logs went there


@pytest.mark.skipif(not shutil.which('bash'), reason='needs bash')
def test_bash_completion_works(tmp_path):
    script = (
        'source <(%s complete)\n'
        'COMP_WORDS=(vmha-manage ho); COMP_CWORD=1; _vmha_manage\n'
        'echo "${COMPREPLY[@]}"\n'
        'COMP_WORDS=(vmha-manage host ""); COMP_CWORD=2; _vmha_manage\n'
        'echo "${COMPREPLY[@]}"\n'
        'COMP_WORDS=(vmha-manage host list --for); COMP_CWORD=3; '
        '_vmha_manage\necho "${COMPREPLY[@]}"\n'
        % os.path.join(os.path.dirname(sys.executable), 'vmha-manage'))
    proc = subprocess.run(['bash', '-c', script], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # the deprecated "host recover" still runs but is not offered
    assert proc.stdout.splitlines() == [
        'host', 'add delete list reinstate show update', '--format']


def test_oslo_shell_completion_does_not_crash(monkeypatch, capsys):
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    with pytest.raises(SystemExit) as exit_info:
        monitor_cmd.main(['--shell_completion', 'bash'])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert 'complete -o default -F _vmha_monitor vmha-monitor' in out
    assert '--once' in out and '--config-file' in out


@pytest.mark.parametrize('name', ['', '   ', 'c1\nc2', 'x' * 300,
                                  'bad name', 'h@st'])
def test_host_names_follow_nova_rules(run_cli, db_url, name):
    run = run_cli
    code, out, err = run('host', 'add', name)
    assert (code, out) == (1, '')
    assert 'host name' in _error_line(err)
    assert _hosts(db_url) == {}


def test_host_recover_of_an_unknown_host_says_unknown(run_cli, monkeypatch):
    run = run_cli
    compute = fakes.FakeCompute(hosts=('hostA',))
    real = recovery.Recoverer
    monkeypatch.setattr(recovery, 'Recoverer',
                        lambda conf: real(conf, compute=compute))
    code, out, err = run('host', 'reinstate', 'nosuch')
    assert (code, out) == (1, '')
    line = _error_line(err)
    assert 'nosuch is unknown' in line and 'heartbeat' not in line


def test_monitor_once_fails_when_a_source_failed(
        tmp_path, db_url, key_file, monkeypatch, capsys, restore_logging):
    def unreachable(self):
        raise exception.NovaUnavailable(reason='connection refused')

    monkeypatch.setattr(nova_source.NovaSource, 'observe', unreachable)
    config = tmp_path / 'm.conf'
    config.write_text(
        '[DEFAULT]\nlog_file = %s\n[database]\nconnection = %s\n'
        '[inventory]\ncredential_key_file = %s\n'
        '[monitor]\ndetection_sources = nova\n[notification]\ndrivers =\n'
        '[nova]\nauth_type = password\nauth_url = http://127.0.0.1:1/v3\n'
        'username = u\npassword = p\nproject_name = p\n'
        % (tmp_path / 'log', db_url, key_file))
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    assert monitor_cmd.main(['--config-file', str(config), '--once']) == 1
    err = capsys.readouterr().err
    assert 'detection source(s) nova did not answer' in err


def test_an_unexpected_error_is_said_on_stderr(run_cli, monkeypatch):
    def broken(self, parsed_args):
        raise KeyError('bug')

    monkeypatch.setattr(manage.HostList, 'take_action', broken)
    code, out, err = run_cli('host', 'list')
    assert (code, out) == (1, '')
    assert _error_line(err).startswith(
        "vmha-manage: error: unexpected KeyError: 'bug'")
