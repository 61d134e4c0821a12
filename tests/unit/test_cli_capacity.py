"""vmha-manage: reserved hosts in the inventory, recovery retry, and the
retry of waiting evacuations by host recover."""

import json

import pytest

from vmha import compute as compute_mod
from vmha.db import api as db_api
from vmha import inventory
from vmha import recovery
from tests.unit.test_capacity import RoomyCompute
from tests.unit.test_cli import _error_line
from tests.unit.test_cli import _table_rows
from tests.unit.test_cli import cli  # noqa: F401  (the fixture)
from tests.unit import fakes


@pytest.fixture
def manage(cli):  # noqa: F811
    """test_cli's ``cli``: run(*argv) -> (exit code, stdout, stderr)."""
    return cli


@pytest.fixture
def nova(monkeypatch, dispatcher, db_url):
    """The CLI's Recoverer and ComputeAPI, wired to a Nova without room:
    hostB and hostC disabled; hostA in the inventory (vmha recovers no
    other host)."""
    db = db_api.Database(db_url)
    db.add_host(inventory.HostSpec(name='hostA'))
    db.dispose()
    fc = RoomyCompute()
    fc.add_instance('i-active')
    fc.add_instance('i-stopped', vm_state='stopped')
    for host in ('hostB', 'hostC'):
        fc.services[host]['status'] = 'disabled'
    real = recovery.Recoverer

    def build(conf):
        return real(conf, compute=fc, dispatcher=dispatcher,
                    fencing_driver=fakes.FakeFencingDriver())

    monkeypatch.setattr(recovery, 'Recoverer', build)
    monkeypatch.setattr(compute_mod.ComputeAPI, 'from_conf',
                        classmethod(lambda cls, conf: fc))
    return fc


@pytest.fixture
def waiting(manage, nova, db_url):
    """A finished recovery of hostA whose two instances wait for room."""
    code, out, err = manage('-f', 'json', 'evacuate', 'hostA')
    assert code == 2, err
    report = json.loads(out)
    assert report['state'] == db_api.COMPLETED_WITH_ERRORS
    assert {e['status'] for e in report['evacuations']} == {'waiting'}
    return report['id']


def test_host_add_reserved_and_list(manage, db_url):
    assert manage('host', 'add', 'spare1', '--reserved')[0] == 0
    assert manage('host', 'add', 'hostA')[0] == 0
    code, out, _ = manage('-f', 'json', 'host', 'list')
    rows = {r['name']: r for r in json.loads(out)}
    assert (rows['spare1']['reserved'], rows['hostA']['reserved']) == (
        True, False)
    code, out, _ = manage('host', 'list')
    assert _table_rows(out)[0][-4:] == ['reserved', 'reserved_for',
                                        'state', 'agent']


def test_host_update_reserved_returns_a_spare_to_the_pool(
        manage, db_url):
    manage('host', 'add', 'spare1', '--reserved')
    db = db_api.Database(db_url)
    db.create_recovery('r1', 'hostA', 2)
    assert db.claim_reserved_host('r1') == 'spare1'
    assert manage('host', 'update', 'spare1', '--reserved', 'on')[0] == 0
    assert db.get_host('spare1').reserved_for is None
    assert db.get_host('spare1').reserved is True
    assert manage('host', 'update', 'spare1', '--reserved', 'off')[0] == 0
    assert db.get_host('spare1').reserved is False
    db.dispose()


def test_recovery_show_lists_waiting_instances(manage, waiting):
    code, out, _ = manage('recovery', 'show', waiting)
    assert code == 0
    assert out.count(' waiting ') == 2
    assert 'no capacity' in out


def test_recovery_retry_after_capacity_returns(manage, nova, waiting,
                                               db_url):
    code, out, _ = manage('recovery', 'retry')
    assert code == 2                          # still no room
    nova.services['hostB']['status'] = 'enabled'
    code, out, err = manage('-f', 'json', 'recovery', 'retry', waiting)
    assert code == 0, err
    [report] = json.loads(out)
    assert report['state'] == db_api.COMPLETED
    assert {e['original_vm_state']: e['target_host']
            for e in report['evacuations']} == {'active': 'hostB',
                                                'stopped': 'hostB'}
    assert nova.instances['i-stopped']['vm_state'] == 'stopped'
    code, out, _ = manage('recovery', 'retry')
    assert (code, out.strip()) == (0, 'no evacuation waiting for capacity')


def test_recovery_retry_unknown_id(manage, nova):
    code, out, err = manage('recovery', 'retry', 'nosuch')
    assert (code, out) == (1, '')
    assert 'nosuch' in _error_line(err)


def test_host_recover_retries_waiting_evacuations(manage, nova, waiting,
                                                  db_url):
    """hostB was out of service (forced down, disabled); once it is back,
    the instances waiting for room go there."""
    nova.services['hostB'].update(state='down', forced_down=True)
    with open(manage.conf_file, 'a') as f:
        f.write('[monitor]\ndetection_sources = nova\n')
    db = db_api.Database(db_url)
    db.add_host(inventory.HostSpec(name='hostB'))
    code, out, err = manage('-f', 'json', 'host', 'recover', 'hostB')
    assert code == 0, err
    data = json.loads(out)
    assert data['retried_recoveries'] == ['%s: completed (0 waiting)'
                                          % waiting]
    assert db.get_recovery(waiting).state == db_api.COMPLETED
    assert {i['host'] for i in nova.instances.values()} == {'hostB'}
    db.dispose()
