"""Private Redis and ZooKeeper servers for the jobboard tests, restartable.

Both on ports of the jobboard tests' range (16200-16219): redis-server on
16200 without persistence (a restart forgets every job and claim, the worst
case), ZooKeeper on 16201 with its own data directory (a restart keeps the
jobs; claims live as long as their client's session) and a 500 ms tick, so
that sessions of 1-10 s are allowed. Debian packages: ``redis-server``,
``zookeeper`` (tools/install-deps.sh installs both).
"""

import contextlib
import os
import socket
import time

import pytest

from tests.functional import peers

#: VMHA_TEST_REDIS_PORT / VMHA_TEST_ZOOKEEPER_PORT move them (two test
#: sessions on one machine)
REDIS_PORT = int(os.environ.get('VMHA_TEST_REDIS_PORT', 16200))
ZOOKEEPER_PORT = int(os.environ.get('VMHA_TEST_ZOOKEEPER_PORT', 16201))
ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar'
ZOOKEEPER_CONF_DIR = '/etc/zookeeper/conf'


class _Server:
    """A server process the tests start, stop and restart by PID."""

    port = None

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.process = None

    def argv(self):
        raise NotImplementedError

    def ready(self):
        raise NotImplementedError

    def start(self, timeout=30.0):
        peers.check_port_free(self.port, what=type(self).__name__)
        log = os.path.join(self.workdir, 'server.log')
        self.process = peers.Process(self.argv(), log, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.process.alive() or time.monotonic() > deadline:
                pytest.fail('%s did not start:\n%s' % (
                    type(self).__name__, peers.tail(log)), pytrace=False)
            time.sleep(0.1)

    def stop(self):
        self.process.stop(timeout=15)

    def restart(self):
        self.stop()
        self.start()


def _ask(port, command):
    """Send a one-line command, return the answer ('' if none)."""
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect((peers.HOST, port))
            sock.sendall(command)
            return sock.recv(64)
        except OSError:
            return b''


class RedisServer(_Server):
    port = REDIS_PORT
    url = 'redis://127.0.0.1:%d' % REDIS_PORT

    def argv(self):
        return [peers.require_binary('redis-server', 'redis-server'),
                '--port', str(self.port), '--bind', peers.HOST,
                '--save', '', '--appendonly', 'no', '--dir', self.workdir]

    def ready(self):
        return _ask(self.port, b'PING\r\n').startswith(b'+PONG')


class ZooKeeperServer(_Server):
    port = ZOOKEEPER_PORT
    url = 'zookeeper://127.0.0.1:%d' % ZOOKEEPER_PORT

    def argv(self):
        if not os.path.exists(ZOOKEEPER_JAR):
            pytest.fail('%s not found: install the Debian package zookeeper '
                        '(tools/install-deps.sh does)' % ZOOKEEPER_JAR,
                        pytrace=False)
        return [peers.require_binary('java', 'default-jre-headless'),
                '-cp', '%s:%s' % (ZOOKEEPER_CONF_DIR, ZOOKEEPER_JAR),
                '-Dzookeeper.admin.enableServer=false',
                '-Dzookeeper.4lw.commands.whitelist=ruok',
                '-Dzookeeper.root.logger=WARN,CONSOLE',
                'org.apache.zookeeper.server.ZooKeeperServerMain',
                str(self.port), os.path.join(self.workdir, 'data'), '500']

    def ready(self):
        return _ask(self.port, b'ruok') == b'imok'


def _serve(cls, tmp_path_factory):
    server = cls(tmp_path_factory.mktemp(cls.__name__.lower()))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def redis_server(tmp_path_factory):
    yield from _serve(RedisServer, tmp_path_factory)


@pytest.fixture(scope='session')
def zookeeper_server(tmp_path_factory):
    yield from _serve(ZooKeeperServer, tmp_path_factory)
