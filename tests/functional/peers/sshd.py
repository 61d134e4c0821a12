"""A second OpenSSH ``sshd`` (Debian ``openssh-server``) on a high port.

It has its own host key and serves simulated compute hosts: each host is a
client key whose ``authorized_keys`` line forces ``fake_host.sh MODE DIR``,
which reads ``$SSH_ORIGINAL_COMMAND`` and plays nova-compute's systemd unit
from ``DIR/nova-compute`` (``active`` or ``inactive``):

* ``... stop nova-compute ...`` (the stop command): marks it inactive, exit 0;
  in mode ``stop-fails`` prints an error and exits 1 (unit left active);
  in mode ``stays-on`` exits 0 but leaves the unit active;
* ``systemctl is-active ...`` (the check command): exit 0 if active, else 3;
* ``systemctl start nova-compute``: marks it active, exit 0;
* anything else: "command not found", exit 127.

Every command is appended to ``DIR/commands.log``.
"""

import getpass
import os
import subprocess

import pytest

from tests.functional import peers
from vmha import inventory

PORT = 16222

FAKE_HOST = r'''#!/bin/sh
# forced command of a simulated compute host: fake_host.sh MODE STATE_DIR
MODE=$1; DIR=$2
STATE=$DIR/nova-compute
[ -f "$STATE" ] || echo active > "$STATE"
echo "$SSH_ORIGINAL_COMMAND" >> "$DIR/commands.log"
case "$SSH_ORIGINAL_COMMAND" in
  *"stop nova-compute"*)
    case $MODE in
      stop-fails)
        echo "Failed to stop nova-compute.service: Access denied" >&2
        exit 1;;
      stays-on) exit 0;;
      *) echo inactive > "$STATE"; exit 0;;
    esac ;;
  *"systemctl is-active"*)
    [ "$(cat "$STATE")" = active ] && exit 0
    exit 3 ;;
  *"systemctl start nova-compute"*)
    echo active > "$STATE"; exit 0 ;;
  *)
    echo "sh: 1: ${SSH_ORIGINAL_COMMAND%% *}: not found" >&2; exit 127 ;;
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
