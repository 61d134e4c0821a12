"""Detection when its own backends fail (issue 12): never a burst.

A coordination backend that refuses connections, or one that accepts them
and never answers (a dead load balancer, a stalled server), must make the
heartbeat signal *unknown* -- never "lost" -- within ``[monitor]
source_timeout``; hosts that Nova reports down are then judged on Nova's
word alone, and several of them at once trip the mass-failure guard.
SIGTERM stops vmha-agent and vmha-monitor within seconds while such a
backend hangs. Real sockets on 127.0.0.1, real tooz/Redis client, real
processes; Nova and the BMC are fakes (nothing here depends on them).
"""

import signal
import socket
import subprocess
import sys
import time

import pytest

from vmha.db import api as db_api
from vmha import events
from vmha import inventory
from vmha import monitor
from vmha import recovery
from tools.lab.access import agents as agentlib
from tests.unit.conftest import make_conf
from tests.unit import fakes

HOSTS = ['f%d' % n for n in range(1, 6)]


@pytest.fixture
def stalled_port():
    """A listener whose backlog accepts connections nobody ever answers."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


def _backend(kind, port):
    return {'refused': 'redis://127.0.0.1:1',
            'stalled': 'redis://127.0.0.1:%d' % port}[kind]


@pytest.mark.parametrize('kind', ['refused', 'stalled'])
def test_a_blind_coordination_backend_never_bursts_into_recoveries(
        kind, stalled_port, db_url):
    conf = make_conf(database__connection=db_url,
                     coordination__backend_url=_backend(kind, stalled_port),
                     monitor__source_timeout=1.0,
                     monitor__detection_sources=['nova', 'heartbeat'],
                     fencing__default_driver='noop',
                     notification__drivers=[])
    db = db_api.Database(db_url)
    compute = fakes.FakeCompute(hosts=HOSTS)
    for host in HOSTS:
        compute.services[host]['state'] = 'down'
        db.add_host(inventory.HostSpec(name=host, fencing_driver='noop',
                                       bmc_address='192.0.2.1'))
    fencing = fakes.FakeFencingDriver()
    dispatcher = fakes.RecordingDispatcher(record=db.add_event)
    rec = recovery.Recoverer(conf, compute=compute, db=db,
                             dispatcher=dispatcher, fencing_driver=fencing,
                             owner='test')
    mon = monitor.Monitor(conf, rec)
    try:
        started = time.monotonic()
        for _ in range(3):
            assert mon.check_once() == []
        print('%s backend: 3 polls in %.1fs' % (kind,
                                                time.monotonic() - started))
    finally:
        mon.close()
        rec.close()
    assert db.list_recoveries() == []
    assert fencing.calls == [] and not compute.calls_of('force_down')
    [alert] = dispatcher.of_type(events.MASS_FAILURE)
    assert alert.payload == {'down': 5, 'total': 5}
    db.dispose()


@pytest.mark.parametrize('program', ['vmha.cmd.agent', 'vmha.cmd.monitor'])
def test_sigterm_stops_promptly_while_the_backend_hangs(program, tmp_path,
                                                        stalled_port,
                                                        db_url):
    config = agentlib.write_config(tmp_path / 'vmha.conf', {
        'DEFAULT': {'log_file': tmp_path / 'vmha.log'},
        'database': {'connection': db_url},
        'coordination': {'backend_url': _backend('stalled', stalled_port)},
        'agent': {'host': 'h1'},
        'monitor': {'poll_interval': 0.5},
        'notification': {'drivers': ''},
        # Nova is unreachable too: a refused port, answered at once
        'nova': {'auth_type': 'password',
                 'auth_url': 'http://127.0.0.1:1/identity',
                 'username': 'u', 'password': 'p', 'project_name': 'p',
                 'user_domain_name': 'Default',
                 'project_domain_name': 'Default'}})
    proc = subprocess.Popen([sys.executable, '-m', program, '--config-file',
                             config], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(4)                  # well inside the hung backend call
        assert proc.poll() is None, 'exited early: %s' % proc.returncode
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    print('%s exited %d, %.2fs after SIGTERM' % (program, code, elapsed))
    assert code == 0
    assert elapsed < 5.0
