"""A second OpenSSH ``sshd`` (Debian ``openssh-server``) on a high port.

It has its own host key and serves simulated compute hosts: each host is a
client key whose ``authorized_keys`` line forces ``fake_host.sh MODE DIR``,
which logs ``$SSH_ORIGINAL_COMMAND`` to ``DIR/commands.log`` and RUNS it
with ``sh -c``, as a real host would, with one thing simulated: a
``systemctl`` first on PATH that plays nova-compute's unit from
``DIR/nova-compute`` (``active``, ``failed`` or ``inactive``; no systemd runs
here). ``pgrep``, ``pkill`` and the guests are real: a guest is a process
whose command line reads like QEMU's (``Guest``), started by the test.

* ``systemctl kill ... nova-compute``: an active unit becomes ``failed``;
* ``systemctl stop nova-compute``: ``inactive``, exit 0; in mode
  ``stop-fails`` prints "Access denied" and exits 1 (unit left as it was);
* ``systemctl is-active ... nova-compute``: exit 0 if active, else 3;
* ``systemctl start nova-compute``: ``active``, exit 0.

In mode ``stays-on`` a command that stops nova-compute (the stop command)
exits 0 without running: a stop without effect.

pkill with the default pattern kills EVERY matching process of this machine
(the tests run as root): ``Guest.check_none_foreign`` skips a test rather
than kill a real QEMU guest that happens to run here.
"""

import getpass
import os
import shutil
import subprocess
import threading

import pytest

from tests.functional import peers
from vmha.conf import ssh_fencing as ssh_fencing_conf
from vmha import inventory

PORT = 16222

FAKE_HOST = r'''#!/bin/sh
# forced command of a simulated compute host: fake_host.sh MODE STATE_DIR
MODE=$1; DIR=$2
[ -f "$DIR/nova-compute" ] || echo active > "$DIR/nova-compute"
echo "$SSH_ORIGINAL_COMMAND" >> "$DIR/commands.log"
case "$MODE:$SSH_ORIGINAL_COMMAND" in
  stays-on:*"stop nova-compute"*) exit 0 ;;
esac
export FAKE_HOST_DIR="$DIR" FAKE_HOST_MODE="$MODE"
export PATH="$(dirname "$0")/bin:$PATH"
exec sh -c "$SSH_ORIGINAL_COMMAND"
'''

FAKE_SYSTEMCTL = r'''#!/bin/sh
# systemctl of a simulated host: only nova-compute's unit, in a file
STATE=$FAKE_HOST_DIR/nova-compute
case "$*" in
  "kill "*nova-compute)
    [ "$(cat "$STATE")" = active ] || {
      echo "Failed to kill unit nova-compute.service: No main PID" >&2
      exit 1; }
    echo failed > "$STATE" ;;
  "stop nova-compute")
    if [ "$FAKE_HOST_MODE" = stop-fails ]; then
      echo "Failed to stop nova-compute.service: Access denied" >&2
      exit 1
    fi
    echo inactive > "$STATE" ;;
  "is-active "*nova-compute)
    [ "$(cat "$STATE")" = active ] || exit 3 ;;
  "start nova-compute")
    echo active > "$STATE" ;;
  *)
    echo "fake systemctl: not simulated: $*" >&2; exit 1 ;;
esac
'''

SSHD_CONFIG = '''ListenAddress 127.0.0.1
Port %(port)d
HostKey %(dir)s/host_key
PidFile %(dir)s/sshd.pid
AuthorizedKeysFile %(dir)s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers %(user)s
UsePAM no
StrictModes no
LogLevel VERBOSE
'''


def keygen(path, comment='vmha-test'):
    """An unencrypted Ed25519 key pair at ``path`` (+ ``.pub``)."""
    binary = peers.require_binary('ssh-keygen', 'openssh-client')
    subprocess.run([binary, '-q', '-t', 'ed25519', '-N', '', '-C', comment,
                    '-f', path], check=True, stdin=subprocess.DEVNULL)
    with open(path + '.pub') as f:
        return f.read().strip()


class Guest:
    """A fake guest: ``sleep`` whose command line reads like QEMU's
    (``argv0 1000``: argv[0] set, the program is sleep), so that the
    default guest_process_pattern matches it, as pgrep -f sees it.

    A thread waits for it, so that once killed it is reaped at once (a
    zombie would still match pgrep by its name).
    """

    PATTERN = ssh_fencing_conf.DEFAULT_GUEST_PATTERN

    def __init__(self, argv0='/usr/bin/qemu-system-x86_64'):
        self.proc = subprocess.Popen(
            [argv0, '1000'], executable=shutil.which('sleep'),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self._reaper = threading.Thread(target=self.proc.wait, daemon=True)
        self._reaper.start()

    @classmethod
    def running(cls):
        """PIDs of the processes the default pattern matches now."""
        out = subprocess.run(['pgrep', '-f', cls.PATTERN],
                             capture_output=True, text=True).stdout
        return {int(pid) for pid in out.split()}

    @classmethod
    def check_none_foreign(cls, own=()):
        foreign = cls.running() - {g.proc.pid for g in own}
        if foreign:
            pytest.skip('processes %s of this machine match the default '
                        'guest pattern %r: the ssh fencing tests would '
                        'kill them' % (sorted(foreign), cls.PATTERN))

    def alive(self, timeout=5.0):
        """False once it is dead and reaped (waits up to ``timeout`` for
        the reaper after a kill)."""
        self._reaper.join(timeout if self.proc.returncode is None else 0)
        return self.proc.returncode is None

    def stop(self):
        if self.proc.returncode is None:
            self.proc.kill()
        self._reaper.join(10)


def start_guest(request, argv0='/usr/bin/qemu-system-x86_64'):
    """A Guest killed at the end of the test (if fencing left it)."""
    Guest.check_none_foreign()
    guest = Guest(argv0)
    request.addfinalizer(guest.stop)
    assert guest.proc.pid in Guest.running()
    return guest


class FakeHost:
    """A simulated compute host behind the shared sshd."""

    def __init__(self, name, mode, directory, key_file):
        self.name = name
        self.mode = mode
        self.dir = directory
        self.key_file = key_file

    @property
    def nova_compute(self):
        with open(os.path.join(self.dir, 'nova-compute')) as f:
            return f.read().strip()

    @nova_compute.setter
    def nova_compute(self, value):
        peers.write(os.path.join(self.dir, 'nova-compute'), value + '\n')

    def reset(self):
        """nova-compute active, command log emptied."""
        self.nova_compute = 'active'
        peers.write(os.path.join(self.dir, 'commands.log'), '')

    def commands(self):
        path = os.path.join(self.dir, 'commands.log')
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().splitlines()


def host_spec(sshd, fake, port=None, **options):
    """An ``ssh`` inventory entry for the simulated host ``fake``."""
    opts = {'key_file': fake.key_file}
    opts.update(options)
    return inventory.HostSpec(
        name='compute-%s' % fake.name, fencing_driver='ssh',
        bmc_address=peers.HOST, bmc_port=port or sshd.port,
        bmc_username=sshd.user, bmc_options=opts)


class Sshd:
    """sshd on 127.0.0.1:``port`` with ``hosts`` ({name: mode})."""

    def __init__(self, workdir, port, hosts):
        self.dir = str(workdir)
        self.port = port
        self.user = getpass.getuser()
        self.process = None
        self.hosts = {}
        script = peers.write(os.path.join(self.dir, 'fake_host.sh'),
                             FAKE_HOST, 0o755)
        os.makedirs(os.path.join(self.dir, 'bin'))
        peers.write(os.path.join(self.dir, 'bin', 'systemctl'),
                    FAKE_SYSTEMCTL, 0o755)
        host_pub = keygen(os.path.join(self.dir, 'host_key'), 'sshd-host')
        lines = []
        for name, mode in hosts.items():
            directory = os.path.join(self.dir, 'hosts', name)
            os.makedirs(directory)
            key_file = os.path.join(directory, 'id_ed25519')
            pub = keygen(key_file, name)
            lines.append('restrict,command="%s %s %s" %s'
                         % (script, mode, directory, pub))
            host = FakeHost(name, mode, directory, key_file)
            host.nova_compute = 'active'
            self.hosts[name] = host
        peers.write(os.path.join(self.dir, 'authorized_keys'),
                    '\n'.join(lines) + '\n', 0o600)
        # a key the server does not know
        self.stranger_key = os.path.join(self.dir, 'stranger_key')
        keygen(self.stranger_key, 'stranger')
        # known_hosts files: right key, none, another key
        key_type, key_b64 = host_pub.split()[:2]
        entry = '[127.0.0.1]:%d' % port
        self.known_hosts = peers.write(
            os.path.join(self.dir, 'known_hosts'),
            '%s %s %s\n' % (entry, key_type, key_b64))
        self.empty_known_hosts = peers.write(
            os.path.join(self.dir, 'known_hosts.empty'), '')
        other_pub = keygen(os.path.join(self.dir, 'other_host_key'),
                           'impostor')
        self.wrong_known_hosts = peers.write(
            os.path.join(self.dir, 'known_hosts.wrong'), '%s %s\n' % (
                entry, ' '.join(other_pub.split()[:2])))
        self.config = peers.write(
            os.path.join(self.dir, 'sshd_config'),
            SSHD_CONFIG % dict(port=port, dir=self.dir, user=self.user))

    def start(self, timeout=15.0):
        binary = peers.require_binary('sshd', 'openssh-server')
        peers.check_port_free(self.port, what='sshd')
        try:
            os.makedirs('/run/sshd', exist_ok=True)   # privilege separation
        except OSError as err:
            pytest.fail('sshd needs /run/sshd: %s' % err, pytrace=False)
        log = os.path.join(self.dir, 'sshd.log')
        self.process = peers.Process(
            [binary, '-D', '-f', self.config, '-E', log],
            os.path.join(self.dir, 'sshd.stdout'), cwd=self.dir)
        peers.wait_for_tcp(self.port, self.process.proc, timeout, log)
        return self

    def stop(self):
        if self.process is not None:
            self.process.stop()
            self.process = None

    def reset_hosts(self):
        """Every simulated host active, its command log emptied."""
        for host in self.hosts.values():
            host.reset()
        return self.hosts

    def log(self):
        return peers.tail(os.path.join(self.dir, 'sshd.log'), 20000)


@pytest.fixture(scope='session')
def sshd_peer(tmp_path_factory):
    """sshd on 127.0.0.1:16222 serving the simulated hosts ``ok``,
    ``ok2``, ``stop-fails`` and ``stays-on``."""
    server = Sshd(tmp_path_factory.mktemp('sshd'), PORT, {
        'ok': 'normal', 'ok2': 'normal', 'stop-fails': 'stop-fails',
        'stays-on': 'stays-on'}).start()
    yield server
    server.stop()
