"""Shared fixtures of the unit suite: config, SQLite database, fakes."""

import logging
import os
import shutil
import uuid

import futurist._thread
import pytest
from oslo_config import cfg

from vmha import conf as vmha_conf
from vmha.context import RecoveryContext
from vmha import credentials
from vmha.db import api as db_api
from vmha.db import migration
from vmha import fencing
from vmha import inventory
from vmha import recovery
from tests.unit import fakes

HOST = 'hostA'


@pytest.fixture(autouse=True)
def _fast_thread_pools(monkeypatch):
    """futurist workers idle-poll every second, so a taskflow parallel engine
    needs ~1s to shut down; poll faster to keep the suite quick."""
    monkeypatch.setattr(futurist._thread.ThreadWorker, 'MAX_IDLE_FOR', 0.01)


@pytest.fixture(scope='session')
def _migrated_template(tmp_path_factory):
    """One migrated SQLite file, copied for every test that needs a DB."""
    path = tmp_path_factory.mktemp('template') / 'vmha.sqlite'
    migration.upgrade('sqlite:///%s' % path)
    assert not path.with_name(path.name + '-wal').exists()
    return path


@pytest.fixture
def db_url(tmp_path, _migrated_template):
    """URL of a fresh, migrated SQLite database in tmp_path."""
    path = tmp_path / 'vmha.sqlite'
    shutil.copy(_migrated_template, path)
    return 'sqlite:///%s' % path


@pytest.fixture
def key_file(tmp_path):
    """An owner-only credential key file ([inventory] credential_key_file)."""
    path = str(tmp_path / 'credential.key')
    credentials.write_key_file(path, [credentials.generate_key()])
    return path


@pytest.fixture
def keyring(key_file):
    return credentials.Keyring.from_file(key_file)


def open_db(db_url):
    """A Database on ``db_url`` with the key of the ``key_file`` fixture
    when there is one (both live in the test's tmp_path)."""
    path = os.path.join(os.path.dirname(db_url[len('sqlite:///'):]),
                        'credential.key')
    return db_api.Database(db_url, keyring=credentials.Keyring.from_file(
        path) if os.path.exists(path) else None)


def make_conf(config_file=None, **overrides):
    """A fresh ConfigOpts with vmha's options, read from ``config_file``
    if given (never from /etc); ``group__name=value`` overrides.

    The one way the tests build a configuration (the functional tests'
    peers.make_conf adds their credential key to it).
    """
    conf = cfg.ConfigOpts()
    vmha_conf.register_opts(conf)
    conf(['--config-file', str(config_file)] if config_file else [],
         default_config_files=[])
    for key, value in overrides.items():
        group, _, name = key.rpartition('__')
        conf.set_override(name, value, group or None)
    return conf


@pytest.fixture
def conf(db_url, key_file):
    """Config tuned for fast unit runs (short polls, no real notifiers)."""
    return make_conf(
        database__connection=db_url,
        inventory__credential_key_file=key_file,
        fencing__default_driver='noop',
        fencing__power_off_confirm_count=3,
        fencing__power_off_confirm_interval=0,
        fencing__bmc_timeout=5,
        evacuation__confirm_interval=0.1,
        evacuation__confirm_timeout=5,
        recovery__wait_service_down_interval=0.1,
        recovery__wait_service_down_timeout=1,
        notification__drivers=[])


@pytest.fixture
def db(db_url, keyring):
    database = db_api.Database(db_url, keyring=keyring)
    yield database
    database.dispose()


@pytest.fixture
def compute():
    return fakes.FakeCompute()


@pytest.fixture
def driver(compute):
    """Fencing driver whose calls also land in ``compute.calls``."""
    return fakes.FakeFencingDriver(journal=compute.calls)


@pytest.fixture
def dispatcher(db):
    return fakes.RecordingDispatcher(record=db.add_event)


@pytest.fixture
def make_recoverer(conf, db, compute, driver, dispatcher, host_spec):
    """Build Recoverers over the shared fakes and database.

    The fakes' host (HOST) is put in the inventory (``host_spec``) unless
    the test put it there first: vmha recovers only inventory hosts.
    """
    made = []

    def make(**kwargs):
        if db.find_host(HOST) is None:
            db.add_host(host_spec)
        kwargs.setdefault('compute', compute)
        kwargs.setdefault('db', db)
        kwargs.setdefault('dispatcher', dispatcher)
        kwargs.setdefault('fencing_driver', driver)
        kwargs.setdefault('owner', 'unit-test')
        rec = recovery.Recoverer(kwargs.pop('conf', conf), **kwargs)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.close()


@pytest.fixture
def host_spec():
    return inventory.HostSpec(name=HOST, bmc_address='192.0.2.10',
                              bmc_port=623, bmc_username='admin',
                              bmc_password='Sup3rSecret')


@pytest.fixture
def make_ctx(conf, db, compute, driver, dispatcher, host_spec):
    """A RecoveryContext over a recovery row, for running tasks directly."""

    def make(level=2, fencing_driver=None, **ctx_fields):
        recovery_id = str(uuid.uuid4())
        db.create_recovery(recovery_id, HOST, level, owner='unit-test')
        db.update_recovery(recovery_id, state=db_api.RUNNING)
        fields = dict(
            conf=conf, compute=compute, db=db, dispatcher=dispatcher,
            fencer=fencing.Fencer.from_conf(conf, fencing_driver or driver),
            host=host_spec, recovery_id=recovery_id, level=level)
        fields.update(ctx_fields)
        return RecoveryContext(**fields)

    return make


def nova_calls(compute, ignore=('get_instance', 'list_changed_instances',
                                'get_service',
                                'list_evacuations', 'list_services')):
    """The calls that change or list things, in order (reads dropped)."""
    return [c for c in compute.calls if c[0] not in ignore]


@pytest.fixture
def restore_logging():
    """Undo what oslo_log.setup() does to the logging tree (CLI tests)."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    level = root.level
    levels = {name: lg.level for name, lg in
              logging.root.manager.loggerDict.items()
              if isinstance(lg, logging.Logger)}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, lg in logging.root.manager.loggerDict.items():
        if isinstance(lg, logging.Logger):
            lg.setLevel(levels.get(name, logging.NOTSET))
