"""A nova-api that accepts connections and never answers.

Behind a load balancer whose backends hang, or a nova-api stuck on its
database, every request connects and then waits. With ``[nova] timeout``
each request gives up after that many seconds (retried reads included), so
the recovery fails in bounded time with an error that names Nova and the
timeout, instead of hanging, and so does vmha-manage.

The stalled server is a real listening socket (peers/tcp_proxy.py); vmha's
own ComputeAPI, keystoneauth session and novaclient talk to it.
"""

import time

import pytest
from oslo_config import cfg

from tests.functional.peers import tcp_proxy
from tests.functional import peers
from tests.unit import fakes
from vmha.cmd import manage
from vmha.db import api as db_api
from vmha.db import migration
from vmha import inventory
from vmha import recovery

PORT = 16285
TIMEOUT = 2
RETRIES = 1
#: generous: one Nova call should take (RETRIES + 1) x TIMEOUT + a delay
BOUND = 60.0


@pytest.fixture
def stalled_nova():
    server = tcp_proxy.StalledServer(PORT).start()
    yield server
    server.stop()


def _nova_options():
    return dict(nova__auth_type='none',
                nova__endpoint_override='http://127.0.0.1:%d/v2.1' % PORT,
                nova__timeout=TIMEOUT, nova__connect_retries=RETRIES,
                nova__connect_retry_delay=0.1)


def test_recovery_fails_within_its_deadline(stalled_nova, sqlite_url):
    migration.upgrade(sqlite_url)
    conf = peers.make_conf(database__connection=sqlite_url,
                           notification__drivers=[], **_nova_options())
    db = db_api.Database(sqlite_url)
    db.add_host(inventory.HostSpec(name='c1'))   # vmha recovers no other
    rec = recovery.Recoverer(conf, db=db, owner='functional',
                             fencing_driver=fakes.FakeFencingDriver())
    started = time.monotonic()
    try:
        report = rec.recover('c1', level=2)
    finally:
        rec.close()
    elapsed = time.monotonic() - started
    assert report.state == db_api.FAILED
    assert 'Nova' in report.error and '[nova] timeout' in report.error, \
        report.error
    assert stalled_nova.accepted >= RETRIES + 1      # it did retry
    assert elapsed < BOUND
    assert db.get_recovery(report.id).lease_owner is None
    db.dispose()


def test_vmha_manage_evacuate_fails_within_its_deadline(
        stalled_nova, sqlite_url, tmp_path, monkeypatch, capsys):
    migration.upgrade(sqlite_url)
    config = tmp_path / 'vmha.conf'
    config.write_text(
        '[DEFAULT]\nlog_file = %s\n[database]\nconnection = %s\n'
        '[fencing]\ndefault_driver = noop\n[notification]\ndrivers =\n'
        '[nova]\n%s\n' % (tmp_path / 'vmha.log', sqlite_url, '\n'.join(
            '%s = %s' % (k.split('__')[1], v)
            for k, v in _nova_options().items())))
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    started = time.monotonic()
    code = manage.main(['--config-file', str(config), 'evacuate', 'c1'])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith('vmha-manage: error: Nova is unreachable')
    assert '[nova] timeout' in line
    assert elapsed < BOUND
