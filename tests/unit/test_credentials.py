"""BMC credentials at rest (vmha.credentials, migration 0005), file modes."""

import json
import os
import stat

import pytest
import sqlalchemy as sa

from vmha import credentials
from vmha.db import api as db_api
from vmha.db import migration
from vmha import inventory
from tests.unit.test_cli import _error_line
from tests.unit.test_cli import cli  # noqa: F401  (the fixture)

SECRET = 'Sup3rSecret'
KG = 'K3yOfTheBMC'


def _spec(name='c1'):
    return inventory.HostSpec(name=name, fencing_driver='ipmi',
                              bmc_address='192.0.2.7', bmc_username='admin',
                              bmc_password=SECRET,
                              bmc_options={'kg': KG,
                                           'privilege_level': 'operator'})


def _raw_bytes(url):
    """Every byte of an SQLite database: the file, its WAL and shm."""
    path = sa.engine.make_url(url).database
    data = b''
    for suffix in migration.SQLITE_SUFFIXES:
        if os.path.exists(path + suffix):
            with open(path + suffix, 'rb') as f:
                data += f.read()
    return data


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_no_plaintext_credential_in_the_sqlite_file(db, db_url):
    db.add_host(_spec())
    db.update_host('c1', bmc_password=SECRET + '2')
    raw = _raw_bytes(db_url)
    assert raw                                  # the file was read
    for secret in (SECRET, KG, SECRET + '2'):
        assert secret.encode() not in raw
    assert b'fernet:' in raw
    spec = db.get_host('c1')                     # decrypted when read
    assert spec.bmc_password == SECRET + '2'
    assert spec.bmc_options == {'kg': KG, 'privilege_level': 'operator'}


def test_no_key_refuses_a_secret_and_stores_nothing(db_url):
    db = db_api.Database(db_url)
    with pytest.raises(credentials.CredentialKeyError) as err:
        db.add_host(_spec())
    assert '[inventory] credential_key_file' in str(err.value)
    assert SECRET not in str(err.value)
    assert db.find_host('c1') is None
    db.add_host(inventory.HostSpec(name='c2'))    # no secret: no key needed
    with pytest.raises(credentials.CredentialKeyError):
        db.update_host('c2', bmc_options={'api_token': 't0k3n'})
    assert db.get_host('c2').bmc_options == {}
    db.dispose()


def test_encrypted_row_without_the_key_names_the_option(db, db_url):
    db.add_host(_spec())
    blind = db_api.Database(db_url)
    with pytest.raises(credentials.CredentialKeyError) as err:
        blind.get_host('c1')
    assert 'bmc_password of host c1' in str(err.value)
    assert '[inventory] credential_key_file' in str(err.value)
    blind.dispose()


def test_key_file_must_be_owner_only(key_file):
    os.chmod(key_file, 0o644)
    with pytest.raises(credentials.CredentialKeyError) as err:
        credentials.Keyring.from_file(key_file)
    assert 'readable by other users' in str(err.value)


@pytest.mark.parametrize('content', ['', '# only a comment\n', 'short\n'])
def test_bad_key_file(tmp_path, content):
    path = tmp_path / 'key'
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(credentials.CredentialKeyError) as err:
        credentials.Keyring.from_file(str(path))
    assert '[inventory] credential_key_file' in str(err.value)


def test_rotation_reencrypts_every_row(db, db_url, key_file):
    db.add_host(_spec('c1'))
    db.add_host(_spec('c2'))
    db.add_host(inventory.HostSpec(name='c3'))
    old_key = credentials.read_keys(key_file)[0]
    new_key = credentials.generate_key()
    credentials.write_key_file(key_file, [new_key, old_key])
    rotated = db_api.Database(db_url,
                              keyring=credentials.Keyring.from_file(key_file))
    assert rotated.rotate_credentials() == (2, 4)
    only_new = db_api.Database(db_url, keyring=credentials.Keyring([new_key]))
    assert only_new.get_host('c2').bmc_options['kg'] == KG
    only_old = db_api.Database(db_url, keyring=credentials.Keyring([old_key]))
    with pytest.raises(credentials.CredentialKeyError):
        only_old.get_host('c1')
    for database in (rotated, only_new, only_old):
        database.dispose()


def test_rotation_is_all_or_nothing(db, db_url, key_file):
    """A row no key decrypts fails the rotation before any row changes."""
    db.add_host(_spec('c1'))
    db.add_host(_spec('c2'))
    stranger = credentials.Keyring([credentials.generate_key()])
    with db.engine.begin() as conn:
        conn.execute(sa.text('UPDATE hosts SET bmc_password = :p WHERE '
                             "name = 'c2'"), {'p': stranger.encrypt('x')})
    before = _passwords(db)
    with pytest.raises(credentials.CredentialKeyError):
        db.rotate_credentials()
    assert _passwords(db) == before


def _passwords(db):
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.text(
            'SELECT name, bmc_password FROM hosts')).all())


def _plaintext_db_at_0004(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'old.sqlite')
    migration.upgrade(url, '0004')
    engine = db_api.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO hosts (name, bmc_password, bmc_options, "
            "maintenance, reserved, state, created_at) VALUES ('c1', :p, "
            ":o, 0, 0, 'healthy', '2026-01-01 00:00:00')"),
            {'p': SECRET, 'o': '{"kg": "%s", "privilege_level": "user"}'
             % KG})
    engine.dispose()
    return url


def test_migration_0005_encrypts_plaintext_rows(tmp_path, keyring):
    url = _plaintext_db_at_0004(tmp_path)
    migration.upgrade(url, keyring=keyring)
    assert migration.current_revision(url) == migration.head_revision()
    db = db_api.Database(url, keyring=keyring)
    with db.engine.connect() as conn:            # compact into the file
        conn.exec_driver_sql('PRAGMA wal_checkpoint(TRUNCATE)')
        conn.exec_driver_sql('VACUUM')
    assert SECRET.encode() not in _raw_bytes(url)
    assert KG.encode() not in _raw_bytes(url)
    spec = db.get_host('c1')
    assert (spec.bmc_password, spec.bmc_options) == (
        SECRET, {'kg': KG, 'privilege_level': 'user'})
    db.dispose()
    migration.downgrade(url, '0004', keyring=keyring)
    assert _passwords(db_api.Database(url)) == {'c1': SECRET}


def test_migration_0005_without_a_key_refuses_and_changes_nothing(tmp_path):
    url = _plaintext_db_at_0004(tmp_path)
    with pytest.raises(credentials.CredentialKeyError) as err:
        migration.upgrade(url)
    assert '[inventory] credential_key_file' in str(err.value)
    assert 'c1' in str(err.value) and SECRET not in str(err.value)
    assert migration.current_revision(url) == '0004'


def test_migration_0005_without_credentials_needs_no_key(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'empty.sqlite')
    migration.upgrade(url, '0004')
    migration.upgrade(url, '0005')
    assert migration.current_revision(url) == '0005'


def test_sqlite_files_are_owner_only(tmp_path):
    old_umask = os.umask(0o022)
    try:
        _check_new_sqlite_files(tmp_path)
    finally:
        os.umask(old_umask)


def _check_new_sqlite_files(tmp_path):
    """The file SQLite would create 0644 (umask 022), and the WAL and shm
    files that take its mode, are created 0600."""
    url = 'sqlite:///%s' % (tmp_path / 'new.sqlite')
    db = db_api.Database(url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE t (x INTEGER)')
        conn.exec_driver_sql('INSERT INTO t VALUES (1)')
    path = str(tmp_path / 'new.sqlite')
    assert os.path.exists(path + '-wal')
    for suffix in migration.SQLITE_SUFFIXES:
        if os.path.exists(path + suffix):
            assert _mode(path + suffix) == 0o600, suffix
    db.dispose()


def test_db_sync_tightens_an_existing_world_readable_file(tmp_path):
    path = tmp_path / 'old.sqlite'
    path.write_bytes(b'')
    path.chmod(0o644)
    migration.upgrade('sqlite:///%s' % path)
    assert _mode(path) == 0o600


def test_state_path_created_owner_only(tmp_path):
    state = tmp_path / 'state' / 'vmha'
    migration.ensure_state_path(str(state))
    assert _mode(state) == 0o700


def test_a_whole_recovery_leaves_no_plaintext_in_the_file(
        make_recoverer, db, db_url, host_spec, compute):
    """vmha's tables, taskflow's (flow and task state) and the event log:
    after a recovery of a host with a password and a kg key, no byte of
    either is in the SQLite file."""
    host_spec.bmc_options = {'kg': KG}
    db.add_host(host_spec)
    compute.add_instance('i1')
    report = make_recoverer().recover(host_spec.name, 2)
    assert report.state == db_api.COMPLETED
    with db.engine.connect() as conn:
        conn.exec_driver_sql('PRAGMA wal_checkpoint(TRUNCATE)')
    raw = _raw_bytes(db_url)
    assert host_spec.bmc_password.encode() not in raw
    assert KG.encode() not in raw
    assert b'vmha.host.fence' in raw               # the events are there


# -- through vmha-manage ------------------------------------------------------

@pytest.fixture
def manage(cli):  # noqa: F811  (the imported fixture)
    return cli


def test_rotation_through_the_cli(manage, db_url, key_file, tmp_path):
    assert manage('host', 'add', 'c1', '--bmc-password', SECRET,
                  '--bmc-option', 'kg=' + KG)[0] == 0
    old = credentials.read_keys(key_file)
    code, out, _ = manage('credentials', 'generate-key', '--prepend')
    assert code == 0 and 'rotate' in out
    keys = credentials.read_keys(key_file)
    assert keys[1:] == old and _mode(key_file) == 0o600
    code, out, err = manage('credentials', 'rotate', '--remove-old-keys',
                            '-f', 'json')
    assert code == 0, err
    assert json.loads(out) == {'hosts': 1, 'credentials': 2,
                               'keys_in_file': 1}
    assert credentials.read_keys(key_file) == keys[:1]
    code, out, _ = manage('host', 'show', 'c1', '-f', 'json')
    assert json.loads(out)['bmc_options'] == {'kg': '***'}
    assert SECRET.encode() not in _raw_bytes(db_url)


def test_generate_key_output_is_owner_only_and_never_overwrites(
        manage, tmp_path):
    path = tmp_path / 'new.key'
    assert manage('credentials', 'generate-key', '--output',
                  str(path))[0] == 0
    assert _mode(path) == 0o600
    assert len(credentials.read_keys(str(path))) == 1
    code, out, err = manage('credentials', 'generate-key', '--output',
                            str(path))
    assert (code, out) == (1, '')
    assert 'exists' in _error_line(err)


def test_host_add_without_a_key_file_is_one_line(manage, db_url):
    text = manage.config.read_text()
    manage.config.write_text(text.replace('credential_key_file', '#'))
    code, out, err = manage('host', 'add', 'c1', '--bmc-password', SECRET)
    assert (code, out) == (1, '')
    line = _error_line(err)
    assert '[inventory] credential_key_file' in line and SECRET not in line
    assert manage('host', 'list', '-f', 'value', '-c', 'name')[1] == ''
