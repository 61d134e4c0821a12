"""Real protocol peers for the fencing tests, run on 127.0.0.1.

Each peer (``ipmi_sim``, ``sushy-emulator``, ``sshd``) is started by a
fixture in a temporary directory on a port of the range reserved for the
fencing tests (16220-16259) and stopped by PID at teardown. A missing peer
binary fails the test with the name of the package that provides it
(``tools/install-deps.sh`` installs the Debian ones from bindep.txt).

Ports: 16222-16224 sshd, 16230-16234 ipmi_sim, 16240-16249 sushy-emulator
and its proxies, 16250-16259 deliberately closed ports.

The notification tests' peers are ``snmptrapd`` (16260-16279) and the
machine's RabbitMQ on 5672 with a vhost per test module (``rabbitmq``). The
database outage tests put a cuttable TCP proxy (``tcp_proxy``, 16280-16289)
in front of the machine's PostgreSQL (16280), the Nova tests one in front of
the lab's nova-api (16281).
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from tools.lab.access import keys

HOST = '127.0.0.1'
#: a port nothing listens on (the "unreachable BMC" cases)
CLOSED_PORT = 16251


def require_binary(name, package, kind='Debian'):
    """Path of ``name`` (PATH, the venv's bin, /usr/sbin), else fail."""
    venv_bin = os.path.dirname(sys.executable)
    path = shutil.which(name, path=os.pathsep.join(
        [venv_bin, os.environ.get('PATH', ''), '/usr/sbin', '/sbin']))
    if path is None:
        pytest.fail('%s not found: install the %s package %s (bindep.txt / '
                    'requirements; tools/install-deps.sh installs them)'
                    % (name, kind, package), pytrace=False)
    return path


def port_is_free(port, kind=socket.SOCK_STREAM):
    with contextlib.closing(socket.socket(socket.AF_INET, kind)) as sock:
        if kind == socket.SOCK_STREAM:
            # as servers do: connections in TIME_WAIT do not block a bind
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def check_port_free(port, kind=socket.SOCK_STREAM, what='peer'):
    if not port_is_free(port, kind):
        pytest.fail('port %s/%d on %s is taken: a %s left over from an '
                    'earlier run? (fencing tests use 16220-16259)'
                    % ('udp' if kind == socket.SOCK_DGRAM else 'tcp', port,
                       HOST, what), pytrace=False)


def wait_for_tcp(port, proc, timeout=20.0, log=None):
    """Wait until ``port`` accepts connections; fail if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail('peer exited with %s before listening on %d:\n%s'
                        % (proc.returncode, port, tail(log)), pytrace=False)
        with contextlib.closing(socket.socket()) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail('peer not listening on %d after %ss:\n%s'
                % (port, timeout, tail(log)), pytrace=False)


def tail(path, size=3000):
    if not path or not os.path.exists(path):
        return ''
    with open(path, errors='replace') as f:
        return f.read()[-size:]


class Process:
    """A peer process we started; stopped by its PID only."""

    def __init__(self, argv, log, cwd=None, env=None):
        self.argv = argv
        self.log = log
        self._logf = open(log, 'ab')
        self.proc = subprocess.Popen(
            argv, stdout=self._logf, stderr=subprocess.STDOUT, cwd=cwd,
            env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=5.0):
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self._logf.close()


def write(path, text, mode=0o644):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def make_conf(**overrides):
    """A fresh ConfigOpts with vmha's options; ``group__name=value``."""
    from tests.unit import conftest

    overrides.setdefault('inventory__credential_key_file', keys.key_file())
    return conftest.make_conf(**overrides)


def load_conf(tmp_path, text):
    """A fresh ConfigOpts with vmha's options, read from ``text`` written to
    a new file in ``tmp_path``."""
    from tests.unit import conftest

    path = write(os.path.join(str(tmp_path), 'vmha-%s.conf'
                              % uuid.uuid4().hex[:8]), text)
    return conftest.make_conf(config_file=path)


def fencing_driver(name, cls):
    """A ``driver`` fixture: fencing driver ``name`` loaded as vmha loads
    it (once per configuration, from the test module's ``conf`` fixture),
    checked to be a ``cls``, closed after the test."""
    from vmha.drivers import loader

    @pytest.fixture
    def driver(conf):
        drv = loader.get(loader.FENCING_NAMESPACE, name, conf)
        assert isinstance(drv, cls)
        yield drv
        drv.close()
    return driver
