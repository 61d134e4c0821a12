"""vmha's migrations and repository on real MariaDB and PostgreSQL servers."""

import pytest
import sqlalchemy as sa

from vmha.db import api as db_api
from vmha.db import migration
from vmha import events
from vmha import exception
from vmha import inventory

from tests.functional import dbs
from tools.lab.access import keys


@pytest.fixture(params=sorted(dbs.SERVERS))
def server_url(request):
    with dbs.scratch_database(request.param) as url:
        yield url


def test_migrations_create_every_table_and_are_idempotent(server_url):
    migration.upgrade(server_url)
    migration.upgrade(server_url)
    assert migration.current_revision(server_url) == \
        migration.head_revision() == '0007'
    engine = sa.create_engine(server_url)
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    columns = {c['name'] for c in inspector.get_columns('recoveries')}
    host_columns = {c['name'] for c in inspector.get_columns('hosts')}
    evac_columns = {c['name'] for c in inspector.get_columns('evacuations')}
    engine.dispose()
    assert {'active_host', 'lease_owner', 'lease_expires_at',
            'host_stopped'} <= columns
    assert {'agent', 'reserved', 'reserved_for'} <= host_columns
    assert {'waiting_since', 'retries', 'next_retry_at'} <= evac_columns
    assert {'hosts', 'recoveries', 'evacuations', 'events', 'outbox',
            'vmha_alembic_version', 'logbooks', 'flowdetails',
            'atomdetails'} <= tables


def test_migration_0005_encrypts_plaintext_rows(server_url):
    """On PostgreSQL and MariaDB: rows of an older schema with a plaintext
    password and kg key come out encrypted (the column became TEXT), and
    read back in clear with the key."""
    migration.upgrade(server_url, '0004')
    engine = sa.create_engine(server_url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO hosts (name, bmc_password, bmc_options, "
            "maintenance, reserved, state, created_at) VALUES ('c1', "
            ":p, :o, false, false, 'healthy', '2026-01-01 00:00:00')"),
            {'p': 'Bmc-S3cret', 'o': '{"kg": "K3y"}'})
    with pytest.raises(Exception, match='credential_key_file'):
        migration.upgrade(server_url)           # no key: refused
    migration.upgrade(server_url, keyring=keys.keyring())
    with engine.connect() as conn:
        password, options = conn.execute(sa.text(
            "SELECT bmc_password, bmc_options FROM hosts")).one()
    engine.dispose()
    assert password.startswith('fernet:') and 'S3cret' not in password
    assert 'K3y' not in str(options)
    db = db_api.Database(server_url, keyring=keys.keyring())
    spec = db.get_host('c1')
    assert (spec.bmc_password, spec.bmc_options) == ('Bmc-S3cret',
                                                     {'kg': 'K3y'})
    spec.bmc_password = 'x' * 255               # longer than String(255)
    db.update_host('c1', bmc_password=spec.bmc_password)
    assert db.get_host('c1').bmc_password == 'x' * 255
    assert db.rotate_credentials() == (1, 2)
    db.dispose()


def test_repository_round_trip(server_url):
    migration.upgrade(server_url)
    db = db_api.Database(server_url, keyring=keys.keyring())
    db.add_host(inventory.HostSpec(name='c1', fencing_driver='ipmi',
                                   bmc_address='10.0.0.1', bmc_port=623,
                                   bmc_username='admin',
                                   bmc_password='pw',
                                   bmc_options={'k': 'v'}))
    with pytest.raises(exception.Conflict):
        db.add_host(inventory.HostSpec(name='c1'))
    assert db.get_host('c1').bmc_options == {'k': 'v'}
    db.create_recovery('r1', 'c1', 2)
    with pytest.raises(exception.RecoveryInProgress):
        db.create_recovery('r2', 'c1', 2)
    db.mark_phase('r1', 'fenced_at')
    first = db.get_recovery('r1').fenced_at
    db.mark_phase('r1', 'fenced_at')
    assert db.get_recovery('r1').fenced_at == first
    db.save_evacuation('r1', 'i1', source_host='c1', instance_name='vm')
    db.count_evacuate_call('r1', 'i1')
    assert db.get_evacuation('r1', 'i1').evacuate_calls == 1
    db.add_event(events.Event(events.HOST_FENCED, host='c1',
                              recovery_id='r1', payload={'polls': 2}))
    [event] = db.list_events(recovery_id='r1')
    assert event.payload['polls'] == 2 and event.priority == 'INFO'
    db.dispose()


def test_capacity_queries(server_url):
    """0003 on a schema with rows (defaults filled in), the reserved-host
    claim and the waiting-evacuation query on the real server."""
    migration.upgrade(server_url, '0002')
    engine = sa.create_engine(server_url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO hosts (name, bmc_options, maintenance, state, "
            "created_at) VALUES ('old', '{}', false, 'healthy', "
            "CURRENT_TIMESTAMP)"))
    engine.dispose()
    migration.upgrade(server_url)
    db = db_api.Database(server_url)
    assert db.get_host('old').reserved is False
    db.add_host(inventory.HostSpec(name='spare', reserved=True))
    db.create_recovery('r1', 'c1', 2)
    db.create_recovery('r2', 'c2', 2)
    assert db.claim_reserved_host('r1') == 'spare'
    assert db.claim_reserved_host('r2') is None
    assert db.reserved_hosts_of('r1') == ['spare']
    now = db_api.utcnow()
    db.save_evacuation('r1', 'i1', source_host='c1',
                       status=db_api.EVAC_WAITING, waiting_since=now,
                       next_retry_at=now)
    assert db.waiting_evacuations() == []          # r1 still running
    db.update_recovery('r1', state=db_api.COMPLETED_WITH_ERRORS)
    [row] = db.waiting_evacuations(due=now)
    assert (row.instance_id, row.retries) == ('i1', 0)
    db.dispose()


def test_unreachable_server_gives_a_clear_error():
    db = db_api.Database('postgresql+psycopg2://vmha:vmha@127.0.0.1:1/x')
    with pytest.raises(exception.DatabaseError) as err:
        db.list_hosts()
    assert '127.0.0.1' in str(err.value)
    assert 'vmha:vmha' not in str(err.value)
