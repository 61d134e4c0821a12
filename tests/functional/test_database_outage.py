"""The database goes away for a few seconds: vmha waits, nothing is lost.

The real PostgreSQL sits behind a TCP proxy (peers/tcp_proxy.py) that the
tests cut, dropping every open connection as a failover would, and restore.
A cut shorter than ``[database] retry_timeout`` is retried transparently,
one whole transaction at a time; a longer one is a clear DatabaseError that
names the server, not the password, and leaves nothing half-written.
"""

import logging
import threading
import time

import pytest

from tests.functional import dbs
from tests.functional.peers import tcp_proxy
from tests.functional import peers
from tools.lab.access import keys
from tests.unit import fakes
from vmha.db import api as db_api
from vmha.db import migration
from vmha import exception
from vmha import inventory
from vmha import recovery

PROXY_PORT = 16280
PG_PORT = 5432
INSTANCES = ('i-1', 'i-2', 'i-3', 'i-4')


@pytest.fixture
def proxied_url():
    """A fresh PostgreSQL database, reached through a cuttable proxy."""
    proxy = tcp_proxy.TCPProxy(PROXY_PORT, PG_PORT).start()
    with dbs.scratch_database('postgresql') as url:
        migration.upgrade(url)
        yield url.replace(':%d/' % PG_PORT, ':%d/' % PROXY_PORT), proxy
    proxy.stop()


def spec(name='c1'):
    return inventory.HostSpec(name=name, fencing_driver='fake',
                              bmc_address='10.0.0.1', bmc_port=623,
                              bmc_username='admin', bmc_password='Bmc-S3cret')


def cut_for(proxy, seconds):
    """Cut the proxy now; restore it ``seconds`` later, in the background."""
    proxy.cut()
    timer = threading.Timer(seconds, proxy.restore)
    timer.start()
    return timer


def test_short_outage_is_retried(proxied_url, caplog):
    url, proxy = proxied_url
    db = db_api.Database(url, retry_timeout=15, retry_interval=0.2,
                         keyring=keys.keyring())
    db.add_host(spec('c0'))                 # a pooled connection exists
    timer = cut_for(proxy, 2.0)
    started = time.monotonic()
    db.add_host(spec('c1'))
    waited = time.monotonic() - started
    timer.join()
    assert 1.5 < waited < 15
    assert [h.name for h, _ in db.list_hosts()] == ['c0', 'c1']
    retried = [r.getMessage() for r in caplog.records
               if 'retrying in' in r.getMessage()]
    assert retried, 'no retry was logged'
    assert all('vmha:vmha' not in m and ':%d' % PROXY_PORT in m
               for m in retried)
    db.dispose()


def test_long_outage_is_a_clear_error_and_writes_nothing(proxied_url):
    url, proxy = proxied_url
    db = db_api.Database(url, retry_timeout=1.0, retry_interval=0.2,
                         keyring=keys.keyring())
    db.add_host(spec('c0'))
    timer = cut_for(proxy, 4.0)
    with pytest.raises(exception.DatabaseError) as err:
        db.add_host(spec('c1'))
    timer.join()
    message = str(err.value)
    assert '127.0.0.1:%d' % PROXY_PORT in message
    assert 'vmha:vmha@' not in message and 'Bmc-S3cret' not in message
    assert [h.name for h, _ in db.list_hosts()] == ['c0']
    db.dispose()


class OutageCompute(fakes.FakeCompute):
    """A Nova whose first evacuate request cuts vmha's database for
    ``seconds``: the outage hits the recovery mid-evacuation."""

    def __init__(self, proxy, seconds):
        super().__init__(hosts=('c1', 'hostB'), rebuild_polls=3)
        self.proxy = proxy
        self.seconds = seconds
        self.timer = None

    def evacuate(self, iid, target_host=None, on_shared_storage=False):
        super().evacuate(iid, target_host, on_shared_storage)
        with self.mutex:
            if self.timer is None:
                self.timer = cut_for(self.proxy, self.seconds)


def test_recovery_survives_an_outage_mid_evacuation(proxied_url):
    """vmha's records and taskflow's state both go through the outage
    (every write is retried): the recovery completes without a resume, each
    instance evacuated once and recorded once."""
    url, proxy = proxied_url
    conf = peers.make_conf(
        database__connection=url, database__retry_timeout=20,
        database__retry_interval=0.2, notification__drivers=[],
        evacuation__max_workers=2, evacuation__confirm_interval=0.2,
        evacuation__confirm_timeout=30,
        fencing__power_off_confirm_interval=0.1)
    db = db_api.Database.from_conf(conf)
    db.add_host(spec())
    compute = OutageCompute(proxy, seconds=3.0)
    for iid in INSTANCES:
        compute.add_instance(iid, host='c1')
    rec = recovery.Recoverer(conf, compute=compute, db=db,
                             dispatcher=fakes.RecordingDispatcher(
                                 record=db.add_event),
                             owner='functional',
                             fencing_driver=fakes.FakeFencingDriver())
    try:
        report = rec.recover('c1', level=2)
    finally:
        rec.close()
    compute.timer.join()
    assert report.state == db_api.COMPLETED, report.error
    evacuated = [c[1] for c in compute.calls_of('evacuate')]
    assert sorted(evacuated) == sorted(INSTANCES)        # once each
    assert {e['instance_id']: e['status'] for e in report.evacuations} == \
        dict.fromkeys(INSTANCES, db_api.EVAC_DONE)
    assert all(i['host'] == 'hostB' for i in compute.instances.values())
    db.dispose()


@pytest.fixture(autouse=True)
def _debug_logs(caplog):
    caplog.set_level(logging.INFO)


# -- a database server that accepts and never answers -------------------------

STALLED_PORT = 16286


@pytest.mark.parametrize('url', [
    'postgresql+psycopg2://vmha:Db-S3cret@127.0.0.1:%d/vmha' % STALLED_PORT,
    'mysql+pymysql://vmha:Db-S3cret@127.0.0.1:%d/vmha' % STALLED_PORT,
], ids=['postgresql', 'mysql'])
def test_stalled_server_is_a_bounded_clear_error(url):
    """[database] timeout bounds the connection attempt: the drivers would
    wait for the server's greeting for ever (PostgreSQL) or a long while."""
    server = tcp_proxy.StalledServer(STALLED_PORT).start()
    db = db_api.Database(url, retry_timeout=0, timeout=2)
    started = time.monotonic()
    try:
        with pytest.raises(exception.DatabaseError) as err:
            db.list_hosts()
        accepted = server.accepted
    finally:
        server.stop()
        db.dispose()
    assert accepted >= 1
    assert time.monotonic() - started < 30
    message = str(err.value)
    assert '127.0.0.1:%d' % STALLED_PORT in message
    assert 'Db-S3cret' not in message
    assert 'timeout' in message.lower() or 'timed out' in message.lower()
