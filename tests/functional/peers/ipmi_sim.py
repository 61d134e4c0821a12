"""OpenIPMI's ``ipmi_sim`` (Debian ``openipmi``) as a real IPMI 2.0 BMC.

The simulated chassis keeps its power state in ``power.state`` (``1`` on,
``0`` off) through a ``chassis_control`` script; with the file
``ignore_off`` present the script ignores ``set power 0`` (a BMC that accepts
power-off and does nothing). Every chassis call is appended to
``chassis_control.log``.
"""

import os
import socket
import time

import pytest

from tests.functional import peers
from vmha import inventory

USER = 'admin'
# distinctive, so that the tests can look for it in logs
PASSWORD = 'ipmi-S3cret.16230'
# ports of the BMCs used by the fencing tests
PORT = 16230
STUCK_PORT = 16231

CHASSIS_CONTROL = r'''#!/bin/sh
# ipmi_sim chassis_control hook: <device> get power | set power 0|1 [...]
DIR="$(cd "$(dirname "$0")" && pwd)"
STATE=$DIR/power.state
[ -f "$STATE" ] || echo 1 > "$STATE"
dev=$1; op=$2; shift 2
echo "$(date +%s.%N) $dev $op $*" >> "$DIR/chassis_control.log"
case $op in
  get) for p in "$@"; do
         case $p in
           power) echo "power:$(cat "$STATE")";;
           boot) echo "boot:default";;
           *) echo "Invalid parameter: $p"; exit 1;;
         esac
       done ;;
  set) while [ -n "$1" ]; do
         p=$1; v=$2; shift 2
         case $p in
           power)
             if [ "$v" = 0 ] && [ -f "$DIR/ignore_off" ]; then
               echo "$(date +%s.%N) ignoring power off" \
                 >> "$DIR/chassis_control.log"
             else
               echo "$v" > "$STATE"
             fi ;;
           reset|boot|identify) ;;
           *) echo "Invalid parameter: $p"; exit 1;;
         esac
       done ;;
  check) exit 1 ;;
  *) echo "Unknown operation: $op"; exit 1 ;;
esac
'''

LAN_CONF = '''name "%(name)s"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %(port)d
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%(dir)s/chassis_control.sh 0x20"
  user 2 true "%(user)s" "%(password)s" admin 10 md5
  user 3 true "viewer" "viewerpw" user 10 md5
'''

SIM_EMU = '''mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02
mc_enable 0x20
'''

# RMCP/ASF presence ping: answered by the BMC once it listens
_ASF_PING = bytes([6, 0, 0xff, 6, 0, 0, 0x11, 0xbe, 0x80, 0, 0, 0])


def host_spec(port=PORT, **fields):
    """An ``ipmi`` inventory entry for the BMC on ``port``."""
    values = dict(name='compute-ipmi', fencing_driver='ipmi',
                  bmc_address=peers.HOST, bmc_port=port, bmc_username=USER,
                  bmc_password=PASSWORD)
    values.update(fields)
    return inventory.HostSpec(**values)


class IpmiSim:
    """One simulated BMC; ``start()``/``stop()``, power via the state file."""

    def __init__(self, workdir, port, name='vmha-bmc', ignore_off=False):
        self.dir = str(workdir)
        self.port = port
        self.name = name
        self.process = None
        os.makedirs(os.path.join(self.dir, 'state'), exist_ok=True)
        peers.write(os.path.join(self.dir, 'chassis_control.sh'),
                    CHASSIS_CONTROL, 0o755)
        peers.write(os.path.join(self.dir, 'lan.conf'), LAN_CONF % dict(
            name=name, port=port, dir=self.dir, user=USER,
            password=PASSWORD))
        peers.write(os.path.join(self.dir, 'sim.emu'), SIM_EMU)
        self.set_ignore_off(ignore_off)
        self.power = 1

    # -- the simulated chassis ----------------------------------------------
    @property
    def power(self):
        with open(os.path.join(self.dir, 'power.state')) as f:
            return int(f.read().strip())

    @power.setter
    def power(self, value):
        peers.write(os.path.join(self.dir, 'power.state'), '%d\n' % value)

    def set_ignore_off(self, ignore):
        flag = os.path.join(self.dir, 'ignore_off')
        if ignore:
            peers.write(flag, '')
        elif os.path.exists(flag):
            os.unlink(flag)

    def chassis_calls(self):
        path = os.path.join(self.dir, 'chassis_control.log')
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split(None, 1)[1].strip() for line in f]

    # -- the process ----------------------------------------------------------
    def start(self, timeout=10.0):
        binary = peers.require_binary('ipmi_sim', 'openipmi')
        peers.check_port_free(self.port, socket.SOCK_DGRAM, 'ipmi_sim')
        log = os.path.join(self.dir, 'ipmi_sim.log')
        self.process = peers.Process(
            [binary, '-n', '-c', 'lan.conf', '-f', 'sim.emu', '-s', 'state'],
            log, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                pytest.fail('ipmi_sim exited (%s):\n%s' % (
                    self.process.proc.returncode, peers.tail(log)),
                    pytrace=False)
            if self.ping(0.2):
                return self
        self.stop()
        pytest.fail('ipmi_sim on udp/%d did not answer a presence ping '
                    'within %ss:\n%s' % (self.port, timeout,
                                         peers.tail(log)), pytrace=False)

    def ping(self, timeout=0.5):
        """True if the BMC answers an RMCP presence ping."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.settimeout(timeout)
            sock.sendto(_ASF_PING, (peers.HOST, self.port))
            sock.recvfrom(512)
            return True
        except OSError:
            return False
        finally:
            sock.close()

    def stop(self):
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture(scope='session')
def ipmi_bmc(tmp_path_factory):
    """A session-wide ipmi_sim BMC on 127.0.0.1:16230 (admin/secret)."""
    sim = IpmiSim(tmp_path_factory.mktemp('ipmi_sim'), PORT).start()
    yield sim
    sim.stop()


@pytest.fixture(scope='session')
def ipmi_bmc_stuck(tmp_path_factory):
    """A second BMC (127.0.0.1:16231) whose chassis ignores power-off."""
    sim = IpmiSim(tmp_path_factory.mktemp('ipmi_sim_stuck'), STUCK_PORT,
                  name='vmha-stuck', ignore_off=True).start()
    yield sim
    sim.stop()
