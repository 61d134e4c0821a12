"""Net-SNMP's ``snmptrapd`` (Debian ``snmptrapd``) as a real SNMP receiver.

One receiver accepts SNMPv2c (community ``public``) and SNMPv3 authPriv
(user ``hauser``, SHA/AES; user ``hauser256``, SHA/AES-256 for traps and
SHA-512/AES-256 for informs) traps and informs and logs each notification on
one line of ``traps.log``; :meth:`SnmpTrapd.notifications` parses them.
For v3 *traps* snmptrapd must know the sender's engine id: the sender uses
``SENDER_ENGINE_ID``. Informs use snmptrapd's own engine id (discovered).

Ports (of the range reserved for the notification tests, 16260-16279):
16262 the shared receiver, 16264 a receiver a test stops, 16265 a receiver
that loads VMHA-MIB, 16266 the receiver of whole recoveries, 16263 nothing.

:func:`check_notification` says whether a logged notification carries a
vmha event as VMHA-MIB defines it.
"""

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from vmha.conf import notification_snmp as snmp_conf
from vmha.drivers.notification import snmp

HOST = '127.0.0.1'
PORT = 16262
DEAD_PORT = 16263
SECOND_PORT = 16264
MIB_PORT = 16265
RECOVERY_PORT = 16266
BASE = snmp_conf.DEFAULT_BASE_OID

COMMUNITY = 'public'
USER = 'hauser'
AUTH_KEY = 'authpass123'
PRIV_KEY = 'privpass123'
SENDER_ENGINE_ID = '0x80001f8880c0ffee0000000001'

#: a second v3 user: SHA-1 with AES-256 (the key needs extending)
USER_AES256 = 'hauser256'

CONF = '''authCommunity log %(community)s
createUser -e %(engine_id)s %(user)s SHA %(auth)s AES %(priv)s
createUser %(user)s SHA %(auth)s AES %(priv)s
authUser log %(user)s priv
createUser -e %(engine_id)s %(user256)s SHA %(auth)s AES-256 %(priv)s
createUser %(user256)s SHA-512 %(auth)s AES-256 %(priv)s
authUser log %(user256)s priv
format2 %%y-%%02.2m-%%02.2l %%02.2h:%%02.2j:%%02.2k %%b %%P | %%V\\t %%v\\n
[snmp] persistentDir %(persist)s
'''


def require_binary(name, package):
    """Path of ``name`` (PATH, /usr/sbin), else fail naming the package."""
    path = shutil.which(name, path=os.pathsep.join(
        [os.environ.get('PATH', ''), '/usr/sbin', '/sbin']))
    if path is None:
        pytest.fail('%s not found: install the Debian package "%s" '
                    '(bindep.txt; tools/install-deps.sh installs it)'
                    % (name, package), pytrace=False)
    return path


def udp_port_is_free(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((HOST, port))
    except OSError:
        return False
    finally:
        sock.close()
    return True


@dataclasses.dataclass
class Notification:
    """One notification as snmptrapd logged it."""

    line: str
    pdu: str              # TRAP2 or INFORM
    security: str         # e.g. "SNMP v2c, community public"
    trap_oid: str         # snmpTrapOID.0, without the leading dot
    varbinds: dict        # oid (no leading dot) -> (type, python value)

    def value(self, oid):
        return self.varbinds[oid.lstrip('.')][1]


_SNMP_TRAP_OID = '1.3.6.1.6.3.1.1.4.1.0'


def _unquote(text):
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return re.sub(r'\\(.)', r'\1', text)


def parse_value(text):
    """snmptrapd's rendering of a value -> (type, python value)."""
    text = text.strip()
    if text == '""':
        return 'STRING', ''
    kind, _, rest = text.partition(': ')
    if kind == 'STRING':
        return kind, _unquote(rest)
    if kind == 'Hex-STRING':
        return 'STRING', bytes.fromhex(rest.replace(' ', '')).decode('utf-8')
    if kind == 'INTEGER':
        return kind, int(rest)
    if kind == 'OID':
        return kind, rest.lstrip('.')
    return kind, rest


def parse_line(line):
    """A traps.log line -> Notification, or None for other lines."""
    head, sep, body = line.partition(' | ')
    if not sep:
        return None
    match = re.search(r'(TRAP2|INFORM), (SNMP v[^|]*)$', head.strip())
    if not match:
        return None
    varbinds = {}
    for item in body.rstrip('\n').split('\t'):
        oid, sep, value = item.strip().partition(' = ')
        if sep:
            varbinds[oid.lstrip('.')] = parse_value(value)
    trap_oid = varbinds.get(_SNMP_TRAP_OID, ('', ''))[1]
    return Notification(line=line, pdu=match.group(1),
                        security=match.group(2).strip(), trap_oid=trap_oid,
                        varbinds=varbinds)


class SnmpTrapd:
    """An snmptrapd we started on ``port``; stopped by its PID."""

    def __init__(self, workdir, port=PORT, mib_dir=None):
        """``mib_dir``: load VMHA-MIB from there and log names, not OIDs."""
        self.binary = require_binary('snmptrapd', 'snmptrapd')
        self.workdir = str(workdir)
        self.port = port
        self.log = os.path.join(self.workdir, 'traps.log')
        self.output = os.path.join(self.workdir, 'snmptrapd.out')
        self.conf = os.path.join(self.workdir, 'snmptrapd.conf')
        self.persist = os.path.join(self.workdir, 'persist')
        self.mib_dir = mib_dir
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=15.0):
        if not udp_port_is_free(self.port):
            pytest.fail('udp port %d on %s is taken: an snmptrapd left over '
                        'from an earlier run? (notification tests use '
                        '16260-16279)' % (self.port, HOST), pytrace=False)
        os.makedirs(self.persist, exist_ok=True)
        with open(self.conf, 'w') as f:
            f.write(CONF % {'community': COMMUNITY, 'user': USER,
                            'user256': USER_AES256,
                            'auth': AUTH_KEY, 'priv': PRIV_KEY,
                            'engine_id': SENDER_ENGINE_ID,
                            'persist': self.persist})
        env = dict(os.environ, SNMP_PERSISTENT_DIR=self.persist,
                   SNMPCONFPATH=self.workdir)
        # -C: no default config files; -m '': no MIB noise; -On: numeric
        mibs = (['-M', str(self.mib_dir), '-m', 'VMHA-MIB'] if self.mib_dir
                else ['-m', '', '-On'])
        argv = [self.binary, '-f', '-C', '-c', self.conf, *mibs,
                '-Lf', self.log, 'udp:%s:%d' % (HOST, self.port)]
        with open(self.output, 'ab') as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail('snmptrapd exited with %s:\n%s\n%s' % (
                    self.proc.returncode, self._read(self.output),
                    self._read(self.log)), pytrace=False)
            if 'NET-SNMP version' in self._read(self.log):
                if not udp_port_is_free(self.port):
                    return self
            time.sleep(0.05)
        self.stop()
        pytest.fail('snmptrapd did not start listening on udp %d in %ss:\n%s'
                    % (self.port, timeout, self._read(self.log)),
                    pytrace=False)

    def stop(self, timeout=5.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout)

    @staticmethod
    def _read(path):
        try:
            with open(path, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def notifications(self):
        return [n for n in map(parse_line,
                               self._read(self.log).splitlines(True))
                if n is not None]

    def wait_for(self, predicate, timeout=5.0):
        """The first logged notification matching ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            for notification in self.notifications():
                if predicate(notification):
                    return notification
            if time.monotonic() > deadline:
                pytest.fail('snmptrapd logged no matching notification in '
                            '%ss; its log:\n%s' % (
                                timeout, self._read(self.log)[-4000:]),
                            pytrace=False)
            time.sleep(0.05)


# --- VMHA-MIB notifications as snmptrapd logs them ---------------------------

def vb(name):
    """OID (no leading dot) of varbind ``name`` under the default base."""
    [varbind] = [v for v in snmp.VARBINDS if v.name == name]
    return snmp.varbind_oid(varbind, BASE)


def by_host(host):
    return lambda n: n.varbinds.get(vb('vmhaEventHost'), (None, None))[1] \
        == host


def check_notification(logged, event):
    """The logged notification carries ``event`` as VMHA-MIB says."""
    number, _ = snmp.NOTIFICATIONS[event.event_type]
    assert logged.trap_oid == '%s.0.%d' % (BASE, number)
    expected = snmp.event_values(event)
    for varbind in snmp.VARBINDS:
        kind, value = logged.varbinds[snmp.varbind_oid(varbind, BASE)]
        assert value == expected[varbind.name], varbind.name
        assert kind == ('INTEGER' if varbind.kind == 'int' else 'STRING')
    # the standard prefix: sysUpTime.0, then snmpTrapOID.0, then ours in order
    oids = list(logged.varbinds)
    assert oids[:2] == ['1.3.6.1.2.1.1.3.0', '1.3.6.1.6.3.1.1.4.1.0']
    assert oids[2:] == [snmp.varbind_oid(v, BASE) for v in snmp.VARBINDS]
