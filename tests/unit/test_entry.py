"""One way to run a recovery: vmha.recovery.from_conf builds the one
Recoverer every caller uses (vmha.api, vmha-manage, vmha-monitor), and the
capacity retries work in the context it gives."""

from oslo_config import cfg
import pytest

from vmha import api
from vmha.cmd import manage
from vmha.db import api as db_api
from vmha import ownership
from vmha import recovery
from tests.unit.conftest import HOST
from tests.unit import fakes


def test_from_conf_registers_the_options_and_closes_as_a_context(
        db, dispatcher, monkeypatch):
    conf = cfg.ConfigOpts()            # an embedding service's, bare
    conf([], default_config_files=[])
    closed = []
    real_close = recovery.Recoverer.close

    def close(self):
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(recovery.Recoverer, 'close', close)
    compute = fakes.FakeCompute()
    with recovery.from_conf(conf, compute=compute, db=db,
                            dispatcher=dispatcher) as recoverer:
        assert isinstance(recoverer, recovery.Recoverer)
        assert recoverer.compute is compute
        assert 'recovery' in conf and 'monitor' in conf
    assert closed == [recoverer]


def test_the_api_goes_through_from_conf(conf, db, compute, driver,
                                        dispatcher, host_spec, monkeypatch):
    db.add_host(host_spec)
    built = []
    real = recovery.from_conf

    def counting(conf, **collaborators):
        built.append(collaborators)
        return real(conf, **collaborators)

    monkeypatch.setattr(recovery, 'from_conf', counting)
    plan = api.recover_host(conf, HOST, level=2, dry_run=True,
                            compute=compute, db=db, dispatcher=dispatcher,
                            fencing_driver=driver)
    assert plan.host == HOST
    assert api.resume_recoveries(conf, compute=compute, db=db,
                                 dispatcher=dispatcher) == []
    assert len(built) == 2 and built[0]['db'] is db


def _row(db, make_recoverer, **fields):
    rec = make_recoverer()
    rid = rec.record(HOST, 2)
    if fields:
        db.update_recovery(rid, **fields)
    return rec, db.get_recovery(rid)


def test_a_recoverys_context_guards_nova_and_the_bmc(make_recoverer, db):
    rec, row = _row(db, make_recoverer, host_stopped=True)
    lease = ownership.Lease(db, row.id, 'unit-test', 30)
    ctx = rec.context(row, lease)
    assert (ctx.recovery_id, ctx.level, ctx.host.name) == (row.id, 2, HOST)
    assert ctx.host_stopped is True
    assert isinstance(ctx.compute, ownership.Guarded)
    assert isinstance(ctx.fencer.driver, ownership.Guarded)
    assert ctx.pacer is rec.pacer and ctx.watcher is rec.watcher


def test_a_retry_context_cannot_fence_and_loads_no_driver(
        make_recoverer, db, monkeypatch):
    rec, row = _row(db, make_recoverer)
    lease = ownership.Lease(db, row.id, 'unit-test', 30)

    def no_driver(host):
        raise AssertionError('a retry loaded the fencing driver')

    monkeypatch.setattr(rec, '_driver', no_driver)
    ctx = rec.context(row, lease, fence=False)
    assert ctx.fencer is None and ctx.watchdog is None
    assert isinstance(ctx.compute, ownership.Guarded)


# -- vmha-manage: one Recoverer, one Database per run ------------------------

@pytest.fixture
def run(tmp_path, db_url, key_file, monkeypatch, capsys, restore_logging):
    config = tmp_path / 'vmha.conf'
    config.write_text(
        '[database]\nconnection = %s\n'
        '[inventory]\ncredential_key_file = %s\n'
        '[fencing]\ndefault_driver = noop\n'
        '[coordination]\nbackend_url = file://%s\n'
        '[notification]\ndrivers = \n' % (db_url, key_file,
                                           tmp_path / 'coordination'))

    def cli(*argv):
        monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
        code = manage.main(['--config-file', str(config)] + list(argv))
        out, err = capsys.readouterr()
        assert code == 0, err
        return out
    return cli


@pytest.fixture
def counted(monkeypatch, dispatcher):
    """Recoverers and Databases built by vmha-manage, and those closed."""
    counts = {'recoverers': [], 'closed': [], 'databases': [],
              'disposed': []}
    compute = fakes.FakeCompute(hosts=('hostA', 'hostB'))
    real = recovery.Recoverer

    class Counting(real):
        def __init__(self, conf):
            super().__init__(conf, compute=compute, dispatcher=dispatcher,
                             fencing_driver=fakes.FakeFencingDriver())
            counts['recoverers'].append(self)

        def close(self):
            counts['closed'].append(self)
            super().close()

    real_from_conf = db_api.Database.from_conf.__func__
    real_dispose = db_api.Database.dispose

    def from_conf(cls, conf):
        database = real_from_conf(cls, conf)
        counts['databases'].append(database)
        return database

    def dispose(self):
        counts['disposed'].append(self)
        return real_dispose(self)

    monkeypatch.setattr(recovery, 'Recoverer', Counting)
    monkeypatch.setattr(db_api.Database, 'from_conf', classmethod(from_conf))
    monkeypatch.setattr(db_api.Database, 'dispose', dispose)
    return counts


def test_vmha_manage_builds_one_recoverer_and_closes_it(run, counted):
    run('host', 'add', 'hostA')
    assert counted['recoverers'] == []
    assert len(counted['databases']) == 1
    # disposed when the command ended (startup's schema check disposes
    # its own connection too)
    assert counted['databases'][0] in counted['disposed']
    out = run('evacuate', 'hostA', '--dry-run')
    assert out.startswith('DRY RUN')
    [recoverer] = counted['recoverers']
    assert counted['closed'] == [recoverer]
    # the recoverer's database served the command: no second one
    assert len(counted['databases']) == 2
    run('recovery', 'resume')
    assert len(counted['recoverers']) == 2
    assert counted['closed'] == counted['recoverers']
