"""Database: migrations, hosts, recoveries, evacuations, events, errors."""

import datetime

import pytest
import sqlalchemy as sa

from vmha.db import api as db_api
from vmha.db import migration
from vmha import events
from vmha import exception
from vmha import inventory

VMHA_TABLES = {'hosts', 'recoveries', 'evacuations', 'events', 'outbox',
               'vmha_alembic_version'}
# on SQLite taskflow creates its tables directly (no alembic_version)
TASKFLOW_TABLES = {'logbooks', 'flowdetails', 'atomdetails'}


def _tables(url):
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_vmha_and_taskflow_tables_and_is_idempotent(
        tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'fresh.sqlite')
    assert migration.current_revision(url) is None
    migration.upgrade(url)
    head = migration.current_revision(url)
    assert head is not None
    tables = _tables(url)
    assert VMHA_TABLES <= tables
    assert TASKFLOW_TABLES <= tables
    db = db_api.Database(url)
    db.add_host(inventory.HostSpec(name='keep-me'))
    migration.upgrade(url)                 # second run: no error, no loss
    assert migration.current_revision(url) == head
    assert [h.name for h, _ in db.list_hosts()] == ['keep-me']
    db.dispose()


def test_vmha_revision_is_kept_in_its_own_table(db_url):
    """Not in alembic's default table, which taskflow's migrations use."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        vmha = conn.execute(sa.text(
            'select version_num from vmha_alembic_version')).scalars().all()
    engine.dispose()
    assert vmha == [migration.current_revision(db_url)]
    assert 'alembic_version' not in _tables(db_url)


# -- hosts --------------------------------------------------------------------

def test_host_crud(db):
    spec = inventory.HostSpec(name='c1', fencing_driver='noop',
                              bmc_address='192.0.2.1', bmc_port=623,
                              bmc_username='root', bmc_password='pw',
                              bmc_options={'system_id': '1'}, level=3)
    db.add_host(spec)
    got = db.get_host('c1')
    assert got == spec
    assert db.host_state('c1') == 'healthy'
    db.add_host(inventory.HostSpec(name='a0'))
    assert [(h.name, s) for h, s in db.list_hosts()] == [('a0', 'healthy'),
                                                         ('c1', 'healthy')]
    updated = db.update_host('c1', maintenance=True, bmc_port=624)
    assert updated.maintenance is True and updated.bmc_port == 624
    assert db.get_host('c1').bmc_password == 'pw'
    db.update_host_state('c1', 'recovering')
    assert db.host_state('c1') == 'recovering'
    db.delete_host('c1')
    assert db.find_host('c1') is None
    assert [h.name for h, _ in db.list_hosts()] == ['a0']


def test_duplicate_host_conflict(db):
    db.add_host(inventory.HostSpec(name='c1'))
    with pytest.raises(exception.Conflict) as err:
        db.add_host(inventory.HostSpec(name='c1', bmc_address='x'))
    assert 'c1' in str(err.value)
    assert db.get_host('c1').bmc_address is None


@pytest.mark.parametrize('call', [
    lambda db: db.get_host('nope'),
    lambda db: db.host_state('nope'),
    lambda db: db.update_host('nope', level=1),
    lambda db: db.delete_host('nope'),
    lambda db: db.get_recovery('nope'),
])
def test_not_found(db, call):
    with pytest.raises(exception.NotFound) as err:
        call(db)
    assert 'nope' in str(err.value)


def test_update_host_unknown_field(db):
    db.add_host(inventory.HostSpec(name='c1'))
    with pytest.raises(exception.InvalidInput) as err:
        db.update_host('c1', colour='red')
    assert 'colour' in str(err.value)


def test_update_host_state_ignores_hosts_not_in_inventory(db):
    db.update_host_state('ghost', 'failed')
    assert db.find_host('ghost') is None


# -- recoveries ---------------------------------------------------------------

def test_mark_phase_keeps_first_timestamp(db):
    db.create_recovery('r1', 'c1', 2)
    first = datetime.datetime(2024, 1, 1, 12, 0, 0)
    db.mark_phase('r1', 'fenced_at', when=first)
    db.mark_phase('r1', 'fenced_at')
    db.mark_phase('r1', 'fenced_at', when=first + datetime.timedelta(hours=1))
    assert db.get_recovery('r1').fenced_at == first
    db.mark_phase('r1', 'disabled_at')
    assert db.get_recovery('r1').disabled_at is not None


def test_mark_phase_unknown(db):
    db.create_recovery('r1', 'c1', 2)
    with pytest.raises(ValueError):
        db.mark_phase('r1', 'lunch_at')


def test_one_active_recovery_per_host(db):
    db.create_recovery('r1', 'c1', 2)
    with pytest.raises(exception.RecoveryInProgress) as err:
        db.create_recovery('r2', 'c1', 2)
    assert 'r1' in str(err.value) and 'pending' in str(err.value)
    db.create_recovery('r3', 'c2', 2)            # another host is fine
    db.create_recovery('dry', 'c1', 2, dry_run=True)
    db.update_recovery('r1', state=db_api.FAILED)
    db.create_recovery('r4', 'c1', 2)            # after it finished
    assert {r.id for r in db.unfinished_recoveries()} == {'r3', 'r4'}
    assert [r.id for r in db.list_recoveries(host='c1', states=['failed'])] \
        == ['r1']


def test_list_recoveries_newest_first_with_limit(db):
    for n in range(3):
        db.create_recovery('r%d' % n, 'c%d' % n, 2)
        db.update_recovery('r%d' % n, created_at=datetime.datetime(
            2024, 1, 1 + n))
    assert [r.id for r in db.list_recoveries()] == ['r2', 'r1', 'r0']
    assert [r.id for r in db.list_recoveries(limit=1)] == ['r2']


def test_create_recovery_records_detected_at_and_owner(db):
    when = datetime.datetime(2024, 5, 5, 5, 5, 5)
    db.create_recovery('r1', 'c1', 3, detected_at=when, owner='mon-1')
    rec = db.get_recovery('r1')
    assert (rec.detected_at, rec.owner, rec.level, rec.state) == (
        when, 'mon-1', 3, db_api.PENDING)


# -- evacuations --------------------------------------------------------------

def test_save_and_count_evacuations(db):
    db.create_recovery('r1', 'c1', 2)
    db.save_evacuation('r1', 'i1', source_host='c1', instance_name='vm1',
                       original_vm_state='active')
    db.save_evacuation('r1', 'i1', status=db_api.EVAC_IN_PROGRESS)
    assert db.get_evacuation('r1', 'i2') is None
    db.count_evacuate_call('r1', 'i1')
    issued = db.get_evacuation('r1', 'i1').issued_at
    db.count_evacuate_call('r1', 'i1')
    row = db.get_evacuation('r1', 'i1')
    assert row.evacuate_calls == 2
    assert row.issued_at == issued
    assert row.status == db_api.EVAC_IN_PROGRESS
    assert row.instance_name == 'vm1'
    [listed] = db.list_evacuations('r1')
    assert listed.instance_id == 'i1'


def test_evacuation_needs_a_recovery(db):
    with pytest.raises(exception.Conflict):
        db.save_evacuation('no-recovery', 'i1', source_host='c1')


# -- events -------------------------------------------------------------------

def test_events_are_appended_and_filtered(db):
    db.add_event(events.Event(events.RECOVERY_STARTED, host='c1',
                              recovery_id='r1', level=2))
    db.add_event(events.Event(events.HOST_FENCE_FAILED, host='c1',
                              recovery_id='r1', level=2,
                              payload={'error': 'boom'}))
    db.add_event(events.Event(events.MASS_FAILURE, host='c2,c3'))
    rows = db.list_events(recovery_id='r1')
    assert [r.event_type for r in rows] == [events.RECOVERY_STARTED,
                                            events.HOST_FENCE_FAILED]
    assert rows[1].priority == events.ERROR
    assert rows[1].payload == {'error': 'boom', 'level': 2}
    assert [r.event_type for r in db.list_events(host='c2,c3')] == [
        events.MASS_FAILURE]
    assert len(db.list_events(limit=2)) == 2


# -- unusable databases -------------------------------------------------------

def test_sqlite_in_missing_directory_is_config_error(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'missing' / 'vmha.sqlite')
    with pytest.raises(exception.ConfigError) as err:
        db_api.Database(url)
    assert '[database] connection' in str(err.value)
    assert str(tmp_path / 'missing') in str(err.value)
    with pytest.raises(exception.ConfigError):
        migration.upgrade(url)


def test_unopenable_database_is_database_error(tmp_path):
    (tmp_path / 'adir').mkdir()
    db = db_api.Database('sqlite:///%s' % (tmp_path / 'adir'))
    with pytest.raises(exception.DatabaseError) as err:
        db.list_hosts()
    assert 'unable to open database file' in str(err.value)
    db.dispose()


def test_unmigrated_database_is_database_error(tmp_path):
    db = db_api.Database('sqlite:///%s' % (tmp_path / 'empty.sqlite'))
    with pytest.raises(exception.DatabaseError) as err:
        db.find_host('c1')
    assert 'no such table' in str(err.value)
    db.dispose()


def test_database_error_hides_password():
    db = db_api.Database('postgresql+psycopg2://vmha:Sup3rSecret@'
                         '127.0.0.1:1/vmha')
    try:
        with pytest.raises(exception.VmhaError) as err:
            db.list_hosts()
    except ImportError:
        pytest.skip('psycopg2 not installed')
    finally:
        db.dispose()
    assert 'Sup3rSecret' not in str(err.value)


# -- deadlines ----------------------------------------------------------------

def test_connect_args_bound_every_backend():
    assert db_api.connect_args('sqlite:////x/v.sqlite', 7.5) == {
        'timeout': 7.5}
    pg = db_api.connect_args('postgresql+psycopg2://u:p@h/db', 7.5)
    assert pg['connect_timeout'] == 8
    assert pg['options'] == '-c statement_timeout=7500'
    assert pg['keepalives'] == 1
    mysql = db_api.connect_args('mysql+pymysql://u:p@h/db', 7.5)
    assert mysql == dict.fromkeys(
        ('connect_timeout', 'read_timeout', 'write_timeout'), 8)
    # what the operator put in the URL wins
    assert 'connect_timeout' not in db_api.connect_args(
        'postgresql+psycopg2://u:p@h/db?connect_timeout=3')


def test_database_timeout_option_reaches_both_engines(conf, tmp_path):
    conf.set_override('timeout', 4.0, 'database')
    db = db_api.Database.from_conf(conf)
    assert db.timeout == 4.0
    assert db_api.taskflow_conf(db.url, db.timeout)['engine_args'] == {
        'connect_args': {'timeout': 4.0}}
    db.dispose()
