"""The RabbitMQ on 127.0.0.1:5672 and the example notification consumer.

Uses the broker that tools/install-deps.sh installs and starts (Debian
``rabbitmq-server``, user guest/guest) through a vhost of its own, created
with ``rabbitmqctl`` and deleted afterwards, so that tests never see each
other's (or anyone's) messages. The consumer is
doc/examples/notification_listener.py, run as a process.
"""

import json
import os
import pathlib
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.functional.peers import snmptrapd

ROOT = pathlib.Path(__file__).resolve().parents[3]
LISTENER = ROOT / 'doc' / 'examples' / 'notification_listener.py'
BROKER = ('127.0.0.1', 5672)


def rabbitmqctl(*args, check=True):
    binary = snmptrapd.require_binary('rabbitmqctl', 'rabbitmq-server')
    result = subprocess.run([binary, '-q', *args], capture_output=True,
                            text=True, timeout=60)
    if check and result.returncode != 0:
        pytest.fail('rabbitmqctl %s failed (%s): %s' % (
            ' '.join(args), result.returncode, result.stderr.strip()),
            pytrace=False)
    return result


@pytest.fixture(scope='module')
def broker_url():
    """URL of a fresh vhost of the running RabbitMQ (deleted afterwards)."""
    with socket.socket() as sock:
        sock.settimeout(3)
        if sock.connect_ex(BROKER) != 0:
            pytest.fail('RabbitMQ is not listening on %s:%d: start it '
                        '(Debian package "rabbitmq-server"; '
                        'tools/install-deps.sh does both)' % BROKER,
                        pytrace=False)
    vhost = 'vmha-notify-%s' % uuid.uuid4().hex[:8]
    rabbitmqctl('add_vhost', vhost)
    try:
        rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*',
                    '.*')
        yield 'rabbit://guest:guest@%s:%d/%s' % (BROKER + (vhost,))
    finally:
        rabbitmqctl('delete_vhost', vhost, check=False)


def unique_topic():
    return 'vmha_test_%s' % uuid.uuid4().hex[:8]


@pytest.fixture
def topic():
    """A topic of its own for one test."""
    return unique_topic()


@pytest.fixture
def listener(broker_url, topic, tmp_path):
    """The example listener on ``topic`` of ``broker_url``."""
    consumer = Listener(broker_url, topic, tmp_path)
    yield consumer
    consumer.stop()


class Listener:
    """doc/examples/notification_listener.py running in a process."""

    def __init__(self, url, topic, workdir):
        self.lines = queue.Queue()
        self.stderr_path = os.path.join(str(workdir),
                                        'listener-%s.err' % topic)
        self._stderr = open(self.stderr_path, 'w')
        self.proc = subprocess.Popen(
            [sys.executable, str(LISTENER), '--transport-url', url,
             '--topic', topic], stdout=subprocess.PIPE, stderr=self._stderr,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while 'listening' not in self.stderr():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail('the example listener did not start:\n%s'
                            % self.stderr()[-3000:], pytrace=False)
            time.sleep(0.05)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def stderr(self):
        with open(self.stderr_path, errors='replace') as f:
            return f.read()

    def get(self, count, timeout=15.0):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            try:
                got.append(self.lines.get(
                    timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail('the listener printed %d of %d notifications '
                            'in %ss: %s\nstderr:\n%s' % (
                                len(got), count, timeout, got,
                                self.stderr()[-3000:]), pytrace=False)
        return got

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._stderr.close()
