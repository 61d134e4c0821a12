"""vmha-manage through main([...]) with a temporary configuration file."""

import json
import os

import pytest
from oslo_config import cfg

from vmha import agent as agent_mod
from vmha.cmd import manage
from vmha import compute as compute_mod
from vmha.db import api as db_api
from vmha import events
from vmha import inventory
from vmha import recovery
from tests.unit.conftest import make_conf
from tests.unit.conftest import open_db
from tests.unit.conftest import nova_calls
from tests.unit import fakes

SECRET = 'Sup3rSecret'


@pytest.fixture
def cli(tmp_path, db_url, key_file, monkeypatch, capsys, restore_logging):
    """run(*argv) -> (exit code, stdout, stderr), each call a fresh CONF."""
    config = tmp_path / 'vmha.conf'
    config.write_text(
        '[DEFAULT]\nlog_file = %s\n'
        '[database]\nconnection = %s\n'
        '[inventory]\ncredential_key_file = %s\n'
        '[fencing]\ndefault_driver = noop\n'
        '[coordination]\nbackend_url = file://%s\n'
        '[notification]\ndrivers = \n' % (tmp_path / 'vmha.log', db_url,
                                           key_file,
                                           tmp_path / 'coordination'))

    def run(*argv):
        monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
        code = manage.main(['--config-file', str(config)] + list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    run.config = config
    run.conf_file = str(config)
    return run


def _error_line(err):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith('vmha-manage: error: ')
    return lines[0]


def _table_rows(out):
    """The cells of cliff's table output, header first."""
    return [[cell.strip() for cell in line.strip('|').split('|')]
            for line in out.splitlines() if line.startswith('|')]


def _hosts(db_url):
    db = open_db(db_url)
    try:
        return {spec.name: spec for spec, _ in db.list_hosts()}
    finally:
        db.dispose()


def test_db_sync(tmp_path, monkeypatch, capsys, restore_logging):
    url = 'sqlite:///%s' % (tmp_path / 'new.sqlite')
    config = tmp_path / 'sync.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n[database]\nconnection = '
                      '%s\n' % (tmp_path / 'log', url))
    for _ in range(2):                       # idempotent
        monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
        assert manage.main(['--config-file', str(config), 'db',
                            'sync']) == 0
        out = capsys.readouterr().out
        assert out.startswith('database schema at revision ')
        assert out.split()[-1] != 'None'
    assert _hosts(url) == {}


def test_db_sync_missing_directory(tmp_path, monkeypatch, capsys,
                                   restore_logging):
    config = tmp_path / 'sync.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n[database]\nconnection = '
                      'sqlite:///%s/nope/x.sqlite\n'
                      % (tmp_path / 'log', tmp_path))
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    assert manage.main(['--config-file', str(config), 'db', 'sync']) == 1
    line = _error_line(capsys.readouterr().err)
    assert '[database] connection' in line


def test_host_add_show_list(cli, db_url):
    code, out, err = cli('host', 'add', 'c1', '--bmc-address', '192.0.2.7',
                         '--bmc-port', '623', '--bmc-username', 'admin',
                         '--bmc-password', SECRET, '--bmc-option', 'k=v',
                         '--level', '3')
    assert (code, err) == (0, '')
    assert 'c1' in out and '***' in out and SECRET not in out
    stored = _hosts(db_url)['c1']
    assert stored.bmc_password == SECRET
    assert stored.bmc_options == {'k': 'v'}
    assert stored.level == 3
    code, out, _ = cli('-f', 'json', 'host', 'show', 'c1')
    data = json.loads(out)
    assert data['bmc_password'] == '***'
    assert data['bmc_address'] == '192.0.2.7'
    assert data['state'] == 'healthy'
    cli('host', 'add', 'c0')
    code, out, _ = cli('host', 'list')
    assert code == 0
    # cliff's table (format changed with cliff: a bordered PrettyTable)
    header, *rows = _table_rows(out)
    assert header[:3] == ['name', 'fencing_driver', 'bmc_address']
    assert [row[0] for row in rows] == ['c0', 'c1']
    code, out, _ = cli('-f', 'json', 'host', 'list')
    rows = json.loads(out)
    assert [r['name'] for r in rows] == ['c0', 'c1']
    assert SECRET not in out


def test_host_add_password_file(cli, tmp_path, db_url):
    secret_file = tmp_path / 'pw'
    secret_file.write_text(SECRET + '\n')
    code, out, _ = cli('host', 'add', 'c1', '--bmc-password-file',
                       str(secret_file))
    assert code == 0 and SECRET not in out
    assert _hosts(db_url)['c1'].bmc_password == SECRET
    code, _, err = cli('host', 'add', 'c2', '--bmc-password-file',
                       str(tmp_path / 'missing'))
    assert code == 1
    assert '--bmc-password-file' in _error_line(err)
    assert 'c2' not in _hosts(db_url)


def test_host_add_duplicate(cli, db_url):
    assert cli('host', 'add', 'c1', '--bmc-address', '192.0.2.7')[0] == 0
    code, out, err = cli('host', 'add', 'c1', '--bmc-address', '192.0.2.8')
    assert code == 1 and out == ''
    line = _error_line(err)
    assert 'c1' in line and 'already' in line
    assert _hosts(db_url)['c1'].bmc_address == '192.0.2.7'


def test_host_add_unknown_driver(cli, db_url):
    code, out, err = cli('host', 'add', 'c1', '--fencing', 'nosuch')
    assert code == 1 and out == ''
    line = _error_line(err)
    assert '"nosuch"' in line
    assert 'installed: ' in line and 'noop' in line.split('installed: ')[1]
    assert _hosts(db_url) == {}


@pytest.mark.parametrize('address', ['not an address!', '-bad-', 'a..b!'])
def test_host_add_bad_address(cli, db_url, address):
    code, _, err = cli('host', 'add', 'c1', '--bmc-address=' + address)
    assert code == 1
    assert '--bmc-address' in _error_line(err)
    assert _hosts(db_url) == {}


@pytest.mark.parametrize('address', ['192.0.2.1', '2001:db8::1',
                                     'bmc-c1.example.org'])
def test_host_add_good_address(cli, db_url, address):
    assert cli('host', 'add', 'c1', '--bmc-address', address)[0] == 0
    assert _hosts(db_url)['c1'].bmc_address == address


@pytest.mark.parametrize('port', ['0', '65536', '-1'])
def test_host_add_bad_port(cli, db_url, port):
    code, _, err = cli('host', 'add', 'c1', '--bmc-port=%s' % port)
    assert code == 1
    assert 'port' in _error_line(err)
    assert _hosts(db_url) == {}


def test_host_add_bad_option(cli, db_url):
    code, _, err = cli('host', 'add', 'c1', '--bmc-option', 'novalue')
    assert code == 1
    assert 'key=value' in _error_line(err)
    assert _hosts(db_url) == {}


def test_host_update_maintenance_and_delete(cli, db_url):
    cli('host', 'add', 'c1', '--bmc-address', '192.0.2.7',
        '--bmc-password', SECRET)
    code, out, _ = cli('-f', 'json', 'host', 'update', 'c1',
                       '--maintenance', 'on', '--bmc-port', '624')
    assert code == 0
    data = json.loads(out)
    assert data['maintenance'] is True and data['bmc_port'] == 624
    assert data['bmc_password'] == '***'
    stored = _hosts(db_url)['c1']
    assert stored.maintenance is True
    assert stored.bmc_password == SECRET          # kept when not given
    assert stored.bmc_address == '192.0.2.7'
    code, out, _ = cli('host', 'update', 'c1', '--maintenance', 'off')
    assert code == 0 and SECRET not in out
    assert _hosts(db_url)['c1'].maintenance is False
    code, _, err = cli('host', 'update', 'c1', '--bmc-address', 'bad addr!')
    assert code == 1 and _hosts(db_url)['c1'].bmc_address == '192.0.2.7'
    code, out, _ = cli('host', 'delete', 'c1')
    assert code == 0 and 'deleted' in out
    code, _, err = cli('host', 'show', 'c1')
    assert code == 1
    assert 'c1 not found' in _error_line(err)
    code, _, err = cli('host', 'update', 'nope', '--level', '1')
    assert code == 1 and 'nope' in _error_line(err)


def test_bad_level_is_a_usage_error(cli):
    with pytest.raises(SystemExit) as exit_info:
        cli('host', 'add', 'c1', '--level', '4')
    assert exit_info.value.code == 2


@pytest.fixture
def recovered(conf, db, dispatcher, db_url, host_spec):
    """A recovery made through the Recoverer with fakes, in the CLI's DB."""
    db.add_host(host_spec)
    compute = fakes.FakeCompute()
    compute.add_instance('i1')
    compute.add_instance('i2')
    compute.fail_evacuate['i2'] = manage.exception.EvacuateRefused(
        instance='i2', reason='HTTP 400')
    rec = recovery.Recoverer(conf, compute=compute, db=db,
                             dispatcher=dispatcher,
                             fencing_driver=fakes.FakeFencingDriver())
    try:
        return rec.recover('hostA', level=2)
    finally:
        rec.close()


def test_recovery_list_and_show(cli, recovered):
    code, out, _ = cli('-f', 'json', 'recovery', 'list')
    assert code == 0
    [row] = json.loads(out)
    assert row['id'] == recovered.id
    assert row['state'] == db_api.COMPLETED_WITH_ERRORS
    code, out, _ = cli('recovery', 'list', '--host', 'other')
    assert code == 0 and recovered.id not in out
    code, out, _ = cli('-f', 'json', 'recovery', 'show', recovered.id)
    assert code == 0
    data = json.loads(out)
    assert data['host'] == 'hostA'
    assert data['fence_proof'] == 'bmc-off'
    assert {e['instance_id']: e['status'] for e in data['evacuations']} == {
        'i1': 'evacuated', 'i2': 'failed'}
    code, out, _ = cli('recovery', 'show', recovered.id, '--events')
    assert code == 0
    assert 'timeline:' in out and 'fenced_at' in out
    assert 'bmc-off' in out and '"proof": "bmc-off"' in out
    assert 'vmha.host.fence.end' in out and 'vmha.recovery.start' in out
    assert SECRET not in out
    code, _, err = cli('recovery', 'show', 'nope')
    assert code == 1 and 'nope' in _error_line(err)


@pytest.fixture
def fake_recoverer(monkeypatch, dispatcher, db_url):
    """The CLI's Recoverer(conf), wired to fakes instead of Nova/BMCs;
    the fake Nova's hosts are in the inventory (vmha recovers no other)."""
    compute = fakes.FakeCompute()
    db = db_api.Database(db_url)
    for name in ('hostA', 'hostB'):
        db.add_host(inventory.HostSpec(name=name))
    db.dispose()
    real = recovery.Recoverer

    def build(conf):
        return real(conf, compute=compute, dispatcher=dispatcher,
                    fencing_driver=fakes.FakeFencingDriver())

    monkeypatch.setattr(recovery, 'Recoverer', build)
    return compute


def test_evacuate_dry_run_changes_nothing(cli, fake_recoverer, db_url):
    fake_recoverer.add_instance('i1')
    fake_recoverer.add_instance('p1', vm_state='paused')
    code, out, err = cli('evacuate', 'hostA', '--dry-run', '--level', '3')
    assert code == 0, err
    assert out.startswith('DRY RUN: nothing was changed.')
    assert ('reset from vm_state paused to active before evacuation, '
            'comes back active') in out
    assert not fake_recoverer.calls_of('evacuate')
    assert not fake_recoverer.calls_of('reset_state')
    assert not fake_recoverer.calls_of('force_down')
    code, out, _ = cli('-f', 'json', 'evacuate', 'hostA', '--dry-run')
    assert json.loads(out)['steps'][-1] == 'evacuate'
    db = db_api.Database(db_url)
    assert db.list_recoveries() == []
    db.dispose()


def test_evacuate_exit_codes(cli, fake_recoverer):
    fake_recoverer.add_instance('i1')
    code, out, _ = cli('-f', 'json', 'evacuate', 'hostA', '--level', '1')
    assert code == 0
    assert json.loads(out)['state'] == db_api.COMPLETED
    fake_recoverer.add_instance('i2', host='hostB')
    fake_recoverer.fail_evacuate['i2'] = manage.exception.EvacuateRefused(
        instance='i2', reason='HTTP 400')
    code, out, _ = cli('evacuate', 'hostB', '--level', '1')
    assert code == 2
    assert 'completed_with_errors' in out


def test_evacuate_host_already_recovering(cli, fake_recoverer, db_url):
    db = db_api.Database(db_url)
    db.create_recovery('busy', 'hostA', 2)
    db.dispose()
    code, _, err = cli('evacuate', 'hostA')
    assert code == 1
    assert 'busy' in _error_line(err)
    assert nova_calls(fake_recoverer) == []


# -- json everywhere, one-line errors -----------------------------------------

def test_db_sync_json(cli):
    code, out, _ = cli('-f', 'json', 'db', 'sync')
    assert code == 0 and json.loads(out)['revision']


def test_host_delete_json(cli):
    cli('host', 'add', 'c1')
    code, out, _ = cli('-f', 'json', 'host', 'delete', 'c1')
    assert (code, json.loads(out)) == (0, {'deleted': 'c1'})


def test_recovery_resume_nothing_to_do(cli, fake_recoverer):
    assert cli('recovery', 'resume')[:2] == (0, 'no unfinished recovery\n')
    code, out, _ = cli('-f', 'json', 'recovery', 'resume')
    assert (code, json.loads(out)) == (0, [])


def test_recovery_show_events_json(cli, recovered):
    code, out, _ = cli('-f', 'json', 'recovery', 'show', recovered.id,
                       '--events')
    assert code == 0
    types = [e['event_type'] for e in json.loads(out)['events']]
    assert types[0] == 'vmha.recovery.start'
    assert 'vmha.host.fence.end' in types
    code, out, _ = cli('-f', 'json', 'recovery', 'show', recovered.id)
    assert 'events' not in json.loads(out)


@pytest.mark.parametrize('argv, words', [
    (['nosuch'], 'invalid choice'),
    (['host'], 'required'),
    (['recovery', 'list', '--limit', '0'], 'positive'),
    (['recovery', 'list', '--limit', 'x'], 'positive'),
    (['evacuate', 'h', '--level', '9'], 'level must be 1, 2 or 3'),
    (['-f', 'xml', 'host', 'list'], 'invalid choice'),   # yaml is valid now
    (['host', 'add', 'c1', '--bmc-port', 'x'], 'invalid int'),
])
def test_usage_errors_are_one_line(cli, argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(*argv)
    assert exit_info.value.code == 2
    line = _error_line(capsys.readouterr().err)
    assert words in line and '--help' in line


def test_host_add_missing_credentials(cli, db_url):
    code, _, err = cli('host', 'add', 'c1', '--fencing', 'ipmi',
                       '--bmc-address', '192.0.2.7')
    assert code == 1
    line = _error_line(err)
    assert 'bmc_username' in line and 'bmc_password' in line
    assert _hosts(db_url) == {}


def test_evacuate_unknown_host(cli, fake_recoverer, db_url):
    for argv in (['evacuate', 'nosuch'], ['evacuate', 'nosuch',
                                          '--dry-run']):
        code, out, err = cli(*argv)
        assert (code, out) == (1, '')
        assert 'nosuch' in _error_line(err)
    db = db_api.Database(db_url)
    assert db.list_recoveries() == []
    db.dispose()


@pytest.fixture
def default_fencing(monkeypatch):
    """The CLI's Recoverer(conf) with a fake Nova, and the drivers that
    [fencing] default_driver names; pyghmi's Command records its uses."""
    from pyghmi.ipmi import command as ipmi_command

    compute = fakes.FakeCompute(hosts=('hostA', 'hostB', 'stranger'))
    compute.add_instance('i1', host='stranger')
    real = recovery.Recoverer
    monkeypatch.setattr(recovery, 'Recoverer',
                        lambda conf: real(conf, compute=compute))
    used = []

    def command(**kwargs):
        used.append(kwargs)
        raise AssertionError('pyghmi used: %r' % (kwargs,))

    monkeypatch.setattr(ipmi_command, 'Command', command)
    compute.ipmi_used = used
    return compute


@pytest.mark.parametrize('default_driver', ['ipmi', 'noop'])
@pytest.mark.parametrize('dry_run', [False, True])
def test_evacuate_host_missing_from_the_inventory_is_refused(
        cli, default_fencing, db_url, default_driver, dry_run):
    """Issue 12: Nova knows the host, vmha's inventory does not: it was
    fenced through the local /dev/ipmi0 (pyghmi without an address)."""
    with open(cli.config, 'a') as f:
        f.write('[fencing]\ndefault_driver = %s\n' % default_driver)
    argv = ['evacuate', 'stranger'] + (['--dry-run'] if dry_run else [])
    code, out, err = cli(*argv)
    assert (code, out) == (1, '')
    line = _error_line(err)
    assert line == (
        "vmha-manage: error: Host stranger cannot be fenced: it is not in "
        "vmha's inventory (add it with 'vmha-manage host add stranger' and "
        "its BMC details); not recovering it.")
    assert default_fencing.ipmi_used == []
    assert nova_calls(default_fencing) == []
    db = db_api.Database(db_url)
    assert db.list_recoveries() == [] and db.list_events() == []
    db.dispose()


def test_evacuate_inventory_host_without_bmc_details_is_refused(
        cli, default_fencing, db_url):
    with open(cli.config, 'a') as f:
        f.write('[fencing]\ndefault_driver = ipmi\n')
    assert cli('host', 'add', 'stranger', '--fencing', 'noop')[0] == 0
    db = db_api.Database(db_url)
    db.update_host('stranger', fencing_driver=None)   # as an old entry
    db.dispose()
    code, out, err = cli('evacuate', 'stranger')
    assert (code, out) == (1, '')
    assert 'ipmi needs bmc_address, bmc_username, bmc_password' in \
        _error_line(err)
    assert default_fencing.ipmi_used == []
    assert nova_calls(default_fencing) == []


# -- host recover -------------------------------------------------------------

@pytest.fixture
def repaired(monkeypatch, db_url):
    """hostA after a recovery: forced down, disabled, in the inventory;
    its nova-compute reports again once force-down is unset."""
    compute = fakes.FakeCompute()
    compute.services['hostA'].update(state='down', forced_down=True,
                                     status='disabled')
    monkeypatch.setattr(compute_mod.ComputeAPI, 'from_conf',
                        classmethod(lambda cls, conf: compute))
    db = db_api.Database(db_url)
    db.add_host(inventory.HostSpec(name='hostA'))
    db.update_host_state('hostA', 'evacuated')
    yield compute
    db.dispose()


@pytest.fixture
def running_agent(cli):
    """vmha-agent of hostA, in the CLI's coordination backend."""
    conf = make_conf(agent__host='hostA')
    conf(['--config-file', cli.conf_file], default_config_files=[])
    agent = agent_mod.Agent(conf)
    agent.beat()
    yield agent
    agent.leave()


def test_host_recover_after_repair(cli, repaired, running_agent, db_url):
    code, out, err = cli('host', 'reinstate', 'hostA')
    assert (code, err) == (0, '')
    assert 'healthy' in out
    service = repaired.services['hostA']
    assert (service['state'], service['status'], service['forced_down']) == (
        'up', 'enabled', False)
    db = db_api.Database(db_url)
    assert db.host_state('hostA') == 'healthy'
    event, deprecated = db.list_events(host='hostA')
    assert event.event_type == events.HOST_REINSTATED
    assert deprecated.event_type == events.HOST_RECOVERED
    assert event.payload['force_down_unset'] is True
    db.dispose()
    # again, as JSON: nothing left to undo
    code, out, _ = cli('-f', 'json', 'host', 'reinstate', 'hostA')
    data = json.loads(out)
    assert code == 0
    assert (data['force_down_unset'], data['enabled'],
            data['heartbeat']) == (False, False, 'alive')


def test_host_recover_refused_without_heartbeat(cli, repaired):
    code, out, err = cli('host', 'reinstate', 'hostA')
    assert (code, out) == (1, '')
    line = _error_line(err)
    assert 'hostA is still failing' in line and 'vmha-agent' in line
    assert nova_calls(repaired) == []


def test_host_recover_refused_while_nova_reports_down(cli, repaired,
                                                      running_agent,
                                                      monkeypatch, db_url):
    real = repaired.force_down

    def dead_compute(host, forced=True):
        real(host, forced)
        repaired.services[host]['state'] = 'down'   # still not reporting
        return repaired._service(host)

    monkeypatch.setattr(repaired, 'force_down', dead_compute)
    code, _, err = cli('host', 'reinstate', 'hostA')
    assert code == 1
    assert 'service down' in _error_line(err)
    # put back as it was: forced down, disabled, not healthy
    assert repaired.services['hostA']['forced_down'] is True
    assert repaired.services['hostA']['status'] == 'disabled'
    db = db_api.Database(db_url)
    assert db.host_state('hostA') == 'evacuated'
    db.dispose()


def test_host_recover_refused_during_a_recovery(cli, repaired,
                                                running_agent, db_url):
    db = db_api.Database(db_url)
    db.create_recovery('busy', 'hostA', 2)
    db.dispose()
    code, _, err = cli('host', 'reinstate', 'hostA')
    assert code == 1 and 'busy' in _error_line(err)
    assert nova_calls(repaired) == []


def test_host_recover_unknown_host(cli, repaired):
    code, _, err = cli('host', 'reinstate', 'nosuch')
    assert code == 1
    assert 'nosuch' in _error_line(err)


def test_host_recover_without_agents_checks_nova_only(cli, repaired):
    with open(cli.conf_file, 'a') as f:
        f.write('[monitor]\ndetection_sources = nova\n')
    code, out, err = cli('-f', 'json', 'host', 'reinstate', 'hostA')
    assert (code, err) == (0, '')
    assert json.loads(out)['heartbeat'] == 'not checked'


# -- one owner per recovery ---------------------------------------------------

def test_recovery_resume_of_a_running_recovery_is_refused(cli, fake_recoverer,
                                                          db_url):
    fake_recoverer.add_instance('i1')
    db = db_api.Database(db_url)
    db.create_recovery('busy', 'hostA', 2)
    db.update_recovery('busy', state=db_api.RUNNING)
    assert db.take_lease('busy', 'monitor-1:4242', 60)
    code, out, err = cli('recovery', 'resume', 'busy')
    assert (code, out) == (1, '')
    line = _error_line(err)
    assert 'busy' in line and 'monitor-1:4242' in line
    assert 'not running it a second time' in line
    assert nova_calls(fake_recoverer) == []
    # resuming everything leaves it to its owner too
    code, out, _ = cli('-f', 'json', 'recovery', 'resume')
    assert code == 2                         # not completed
    assert [r['state'] for r in json.loads(out)] == [db_api.RUNNING]
    assert nova_calls(fake_recoverer) == []
    # once its owner is gone (lease expired), it is taken over
    db.update_recovery('busy', lease_expires_at=db_api.utcnow()
                       - db_api.datetime.timedelta(seconds=1))
    code, out, _ = cli('-f', 'json', 'recovery', 'resume', 'busy')
    assert code == 0
    assert json.loads(out)[0]['state'] == db_api.COMPLETED
    assert db.get_recovery('busy').lease_owner is None
    db.dispose()


def test_evacuate_holds_the_lease_while_it_runs(cli, fake_recoverer, db_url,
                                                monkeypatch):
    db = db_api.Database(db_url)
    seen = []
    real = fake_recoverer.evacuate

    def evacuate(iid, *args, **kwargs):
        seen.append(db.list_recoveries()[0].lease_owner)
        return real(iid, *args, **kwargs)

    monkeypatch.setattr(fake_recoverer, 'evacuate', evacuate)
    fake_recoverer.add_instance('i1')
    code, out, _ = cli('-f', 'json', 'evacuate', 'hostA', '--level', '2')
    assert code == 0
    assert len(seen) == 1 and seen[0].endswith(':%d' % os.getpid())
    assert db.list_recoveries()[0].lease_owner is None
    db.dispose()


@pytest.mark.parametrize('status, words', [
    ('accepted', 'still evacuating instance i1'),
    ('pre-migrating', 'still evacuating instance i1'),
    ('migrating', 'still evacuating instance i1'),
    ('done', 'not yet cleaned up'),
])
def test_host_recover_refused_while_nova_evacuates_from_it(
        cli, repaired, running_agent, db_url, status, words):
    repaired.migrations['i1'] = [fakes.FakeMigration(
        source_compute='hostA', status=status, instance_uuid='i1',
        created_at='2026-01-01T00:00:00.000000')]
    code, out, err = cli('host', 'reinstate', 'hostA')
    assert (code, out) == (1, '')
    line = _error_line(err)
    assert 'hostA is still failing' in line and words in line
    assert nova_calls(repaired, ignore=('get_service',
                                        'list_host_evacuations')) == []
    db = db_api.Database(db_url)
    assert db.host_state('hostA') == 'evacuated'
    db.dispose()


@pytest.mark.parametrize('status', ['completed', 'failed', 'error'])
def test_host_recover_ignores_finished_evacuations(cli, repaired,
                                                  running_agent, status):
    repaired.migrations['i1'] = [fakes.FakeMigration(
        source_compute='hostA', status=status, instance_uuid='i1',
        created_at='2026-01-01T00:00:00.000000')]
    repaired.migrations['i2'] = [fakes.FakeMigration(   # into hostA: not ours
        source_compute='hostB', status='migrating', instance_uuid='i2',
        created_at='2026-01-01T00:00:00.000000')]
    assert cli('host', 'reinstate', 'hostA')[0] == 0
    assert repaired.services['hostA']['status'] == 'enabled'


def test_host_recover_advice_for_an_unfinished_recovery(cli, repaired,
                                                       running_agent,
                                                       db_url):
    db = db_api.Database(db_url)
    db.create_recovery('busy', 'hostA', 2)
    db.take_lease('busy', 'monitor-1:7', 60)
    line = _error_line(cli('host', 'reinstate', 'hostA')[2])
    assert 'run by monitor-1:7' in line and 'let it finish' in line
    assert 'recovery resume' not in line
    db.release_lease('busy', 'monitor-1:7')
    line = _error_line(cli('host', 'reinstate', 'hostA')[2])
    assert 'no live process runs it' in line
    assert 'vmha-manage recovery resume busy' in line
    db.dispose()
