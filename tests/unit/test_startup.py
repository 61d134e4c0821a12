"""Start-up validation in every console script (issue 19, item 2).

Each test reproduces a defect of the issue: a bad value accepted until a
recovery was built, a misspelling silently ignored, a traceback for an
expected error, a database error without its remedy.
"""

import configparser
import os
import subprocess
import sys

import pytest
from oslo_config import cfg

from vmha.cmd import agent as agent_cmd
from vmha.cmd import manage
from vmha.cmd import monitor as monitor_cmd
from vmha.cmd import startup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

MAINS = {'vmha-agent': agent_cmd.main, 'vmha-monitor': monitor_cmd.main,
         'vmha-manage': lambda argv: manage.main(argv + ['host', 'list'])}


def console_scripts():
    """The console scripts setup.cfg installs."""
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, 'setup.cfg'))
    lines = parser['entry_points']['console_scripts'].strip().splitlines()
    return sorted(line.split('=')[0].strip() for line in lines)


def test_every_console_script_is_covered():
    assert console_scripts() == sorted(MAINS)


@pytest.fixture
def run(tmp_path, db_url, key_file, monkeypatch, capsys, restore_logging):
    """run(prog, config text) -> (code, stdout, stderr); a fresh CONF."""

    def call(prog, text, *argv):
        config = tmp_path / ('%s.conf' % prog)
        config.write_text(
            '[DEFAULT]\nlog_file = %s\n[database]\nconnection = %s\n'
            '[inventory]\ncredential_key_file = %s\n'
            '[fencing]\ndefault_driver = noop\n'
            '[notification]\ndrivers =\n%s' % (
                tmp_path / 'log', db_url, key_file, text))
        monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
        code = MAINS[prog](['--config-file', str(config)] + list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _errors(err, prog):
    lines = err.splitlines()
    assert all(line.startswith(prog + ': ') for line in lines), err
    assert 'Traceback' not in err
    return [line for line in lines if line.startswith(prog + ': error: ')]


BAD = ('[recovery]\nquick_evacuate_level = 4\n'
       '[evacuation]\nconfirm_timeout = -5\n'
       '[monitor]\npoll_interval = -1\n')


@pytest.mark.parametrize('prog', sorted(MAINS))
def test_bad_values_are_refused_at_start_one_line_each(run, prog):
    code, out, err = run(prog, BAD)
    assert (code, out) == (1, '')
    errors = _errors(err, prog)
    assert errors == [
        "%s: error: [evacuation] confirm_timeout = '-5': must be at least 1"
        % prog,
        "%s: error: [monitor] poll_interval = '-1': must be at least 0.5"
        % prog,
        "%s: error: [recovery] quick_evacuate_level = '4': must be one of "
        "1, 2, 3" % prog]


def test_monitor_once_refuses_a_non_number_level(run):
    code, out, err = run('vmha-monitor', '[recovery]\n'
                         'quick_evacuate_level = abc\n', '--once')
    assert code == 1
    [line] = _errors(err, 'vmha-monitor')
    assert "[recovery] quick_evacuate_level = 'abc'" in line
    assert 'LocationInfo' not in line


@pytest.mark.parametrize('group, option, value, namespace', [
    ('fencing', 'default_driver', 'nosuch', 'vmha.fencing'),
    ('notification', 'drivers', 'log, nosuch', 'vmha.notification'),
    ('monitor', 'detection_sources', 'nova, nosuch', 'vmha.detection'),
])
def test_unknown_driver_names_are_refused(run, group, option, value,
                                          namespace):
    code, _, err = run('vmha-monitor', '[%s]\n%s = %s\n' % (
        group, option, value), '--once')
    assert code == 1
    [line] = _errors(err, 'vmha-monitor')
    assert line.startswith("vmha-monitor: error: [%s] %s = 'nosuch': no "
                           "such driver in %s (installed: " % (
                               group, option, namespace))


def test_driver_options_of_other_helpers_are_checked_if_registered():
    """[watchdog] driver (another feature) is checked the same way once
    registered; absent, it is skipped."""
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    assert startup.driver_problems(conf) == []
    conf.register_opt(cfg.StrOpt('driver', default='nosuch'),
                      group='watchdog')
    [line] = startup.driver_problems(conf)
    assert line.startswith("[watchdog] driver = 'nosuch': no such driver "
                           "in vmha.watchdog")


def test_unknown_options_and_groups_are_warnings(run):
    code, _, err = run('vmha-manage', '[recovery]\nquick_evac_level = 2\n'
                       '[recover]\nquick_evacuate_level = 2\n'
                       '[nova]\nauth_url = http://x\nusername = u\n')
    assert code == 0
    warnings = [line for line in err.splitlines() if ': warning: ' in line]
    assert len(warnings) == 2, err
    assert 'unknown option [recovery] quick_evac_level' in warnings[0]
    assert 'unknown group [recover]' in warnings[1]


def test_agent_host_must_be_a_nova_host_name(run):
    code, _, err = run('vmha-agent', '[agent]\nhost =\n')
    assert code == 1
    [line] = _errors(err, 'vmha-agent')
    assert line.startswith("vmha-agent: error: [agent] host = ''")


def test_secret_values_are_never_printed(tmp_path):
    config = tmp_path / 'c.conf'
    config.write_text('[g]\ntoken = S3cretButNotANumber\n')
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.IntOpt('token', secret=True), group='g')
    conf(['--config-file', str(config)], default_config_files=[])
    [line] = startup.value_problems(conf)
    assert line.startswith("[g] token = '***': ")
    assert 'S3cret' not in line


# -- the database -------------------------------------------------------------

@pytest.mark.parametrize('prog', ['vmha-monitor', 'vmha-manage'])
def test_malformed_database_url_is_one_line(run, prog):
    code, _, err = run(prog, '[database]\nconnection = not-a-url\n')
    assert code == 1
    [line] = _errors(err, prog)
    assert "[database] connection = 'not-a-url': not a database URL" in line


def test_unsynced_database_says_run_db_sync(run, tmp_path):
    fresh = 'sqlite:///%s' % (tmp_path / 'fresh.sqlite')
    for prog in ('vmha-monitor', 'vmha-manage'):
        code, _, err = run(prog, '[database]\nconnection = %s\n' % fresh)
        assert code == 1
        [line] = _errors(err, prog)
        assert 'has no vmha schema: run "vmha-manage db sync"' in line
        assert 'no such table' not in line


def test_older_schema_says_run_db_sync(run, tmp_path):
    from vmha.db import migration
    old = 'sqlite:///%s' % (tmp_path / 'old.sqlite')
    migration.upgrade(old, '0003')
    code, _, err = run('vmha-manage', '[database]\nconnection = %s\n' % old)
    [line] = _errors(err, 'vmha-manage')
    assert 'at schema revision 0003' in line and 'db sync' in line


def test_unreachable_database_is_one_line_without_password(run):
    url = 'postgresql+psycopg2://vmha:Db-S3cret@127.0.0.1:1/vmha'
    code, _, err = run('vmha-monitor', '[database]\nconnection = %s\n'
                       'timeout = 2\n' % url, '--once')
    assert code == 1
    [line] = _errors(err, 'vmha-monitor')
    assert 'cannot reach the database' in line
    assert 'Db-S3cret' not in err and 'vmha:***@' in line


def test_db_sync_unreachable_is_one_line(tmp_path, monkeypatch, capsys,
                                         restore_logging):
    config = tmp_path / 'c.conf'
    config.write_text('[database]\nconnection = postgresql+psycopg2://vmha:'
                      'Db-S3cret@127.0.0.1:1/vmha\ntimeout = 2\n')
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    code = manage.main(['--config-file', str(config), 'db', 'sync'])
    err = capsys.readouterr().err
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith('vmha-manage: error: ') and 'Db-S3cret' not in err


def test_missing_database_driver_names_the_extra(tmp_path):
    """psycopg2 made unimportable in a new process: the line names
    vmha[postgresql] instead of a ModuleNotFoundError traceback."""
    config = tmp_path / 'c.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n[database]\nconnection = '
                      'postgresql+psycopg2://u:p@127.0.0.1/x\n'
                      % (tmp_path / 'log'))
    code = ('import sys; sys.modules["psycopg2"] = None; '
            'from vmha.cmd import manage; '
            'sys.exit(manage.main(["--config-file", %r, "host", "list"]))'
            % str(config))
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    [line] = proc.stderr.splitlines()
    assert "its driver (psycopg2) is not installed" in line
    assert "pip install 'vmha[postgresql]'" in line


def test_debug_shows_the_traceback(run):
    code, _, err = run('vmha-manage', '[database]\nconnection = not-a-url\n',
                       '--debug')
    assert code == 1
    assert 'Traceback' in err and 'StartupError' in err


def test_extras_for_the_database_drivers():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, 'setup.cfg'))
    extras = parser['extras']
    assert 'psycopg2' in extras['postgresql']
    assert 'PyMySQL' in extras['mysql']


def test_schema_newer_than_the_code_is_one_line(run, db_url):
    import sqlalchemy as sa
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text('UPDATE vmha_alembic_version SET '
                             "version_num = '0099'"))
    engine.dispose()
    code, _, err = run('vmha-monitor', '')
    [line] = _errors(err, 'vmha-monitor')
    assert 'newer than this vmha knows' in line and 'upgrade vmha' in line
    code, out, err = run('vmha-manage', '')     # host list
    assert code == 1 and out == ''


def test_db_sync_of_a_newer_schema_is_one_line(tmp_path, db_url,
                                               monkeypatch, capsys,
                                               restore_logging):
    import sqlalchemy as sa
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text('UPDATE vmha_alembic_version SET '
                             "version_num = '0099'"))
    engine.dispose()
    config = tmp_path / 'c.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n[database]\nconnection = '
                      '%s\n' % (tmp_path / 'log', db_url))
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    assert manage.main(['--config-file', str(config), 'db', 'sync']) == 1
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    [line] = err.splitlines()
    assert line.startswith('vmha-manage: error: ') and '0099' in line


def test_agent_host_rules_are_named(run):
    code, _, err = run('vmha-agent', '[agent]\nhost = a b\n')
    assert code == 1
    [line] = _errors(err, 'vmha-agent')
    assert line == ("vmha-agent: error: [agent] host = 'a b': host name "
                    "'a b' contains whitespace")


def test_monitor_without_the_key_of_stored_credentials_refuses_to_start(
        run, db_url, keyring):
    """Found at start, not when the failed host is being fenced."""
    from vmha.db import api as db_api
    from vmha import inventory
    db = db_api.Database(db_url, keyring=keyring)
    db.add_host(inventory.HostSpec(name='c1', bmc_password='Sup3rSecret'))
    db.dispose()
    code, _, err = run('vmha-monitor', '[inventory]\n'
                       'credential_key_file =\n', '--once')
    assert code == 1
    [line] = _errors(err, 'vmha-monitor')
    assert 'bmc_password of host c1 is encrypted' in line
    assert '[inventory] credential_key_file' in line
