"""sushy-tools' ``sushy-emulator`` (PyPI ``sushy-tools``) as a Redfish BMC.

Fake systems driver (no libvirt), HTTP basic auth from an htpasswd file with
bcrypt entries, state in a fresh temporary directory. The fake driver applies
a power change 1-11 s after the request (like real hardware, and randomly):
each test uses its own system so that it starts from a known state without
waiting, and confirm loops cover 12 s.

``IgnoringProxy`` stands in front of an emulator and answers ``ForceOff``
with 204 without passing it on: a BMC that accepts power-off and ignores it.
``make_tls_files`` makes a private CA and a server certificate for 127.0.0.1,
for an emulator on HTTPS.
"""

import datetime
import http.server
import ipaddress
import json
import os
import threading

import bcrypt
import pytest
import requests

from tests.functional import peers
from vmha import inventory

USER = 'admin'
PASSWORD = 'redfish-secret'
PORT = 16240
TLS_PORT = 16241
PROXY_PORT = 16242
STRICT_PROXY_PORT = 16243

# one system per test purpose, so that every test starts from a known state
SYSTEMS = {
    'status': ('11111111-0000-0000-0000-000000000001', 'On'),
    'fence': ('11111111-0000-0000-0000-000000000002', 'On'),
    'power-on': ('11111111-0000-0000-0000-000000000003', 'Off'),
    'already-off': ('11111111-0000-0000-0000-000000000004', 'Off'),
    'ignored': ('11111111-0000-0000-0000-000000000005', 'On'),
    'auth': ('11111111-0000-0000-0000-000000000006', 'On'),
    'recovery': ('11111111-0000-0000-0000-000000000007', 'On'),
}
TLS_SYSTEM = ('22222222-0000-0000-0000-000000000001', 'On')

CONFIG = '''
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = %(port)d
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_STATE_DIR = %(state)r
SUSHY_EMULATOR_AUTH_FILE = %(htpasswd)r
SUSHY_EMULATOR_FAKE_SYSTEMS = %(systems)s
'''
TLS_CONFIG = '''
SUSHY_EMULATOR_SSL_CERT = %(cert)r
SUSHY_EMULATOR_SSL_KEY = %(key)r
'''


def fake_systems(systems):
    return [{'uuid': uuid, 'name': 'compute-%s' % name,
             'power_state': state, 'external_notifier': False,
             'nics': [{'mac': '52:54:00:00:00:%02x' % i, 'ip': '127.0.0.1'}]}
            for i, (name, (uuid, state)) in enumerate(sorted(
                systems.items()), start=1)]


def host_spec(url, system_id=None, **fields):
    """A ``redfish`` inventory entry for ``system_id`` of the BMC at
    ``url``."""
    values = dict(name='compute-redfish', fencing_driver='redfish',
                  bmc_address=url, bmc_username=USER, bmc_password=PASSWORD,
                  bmc_options={'system_id': system_id} if system_id else {})
    values.update(fields)
    return inventory.HostSpec(**values)


class SushyEmulator:
    """One sushy-emulator process; ``url`` is its base URL."""

    def __init__(self, workdir, port, systems, tls=None):
        self.dir = str(workdir)
        self.port = port
        self.systems = systems
        self.tls = tls
        self.scheme = 'https' if tls else 'http'
        self.url = '%s://127.0.0.1:%d' % (self.scheme, port)
        self.process = None
        htpasswd = os.path.join(self.dir, 'htpasswd')
        peers.write(htpasswd, '%s:%s\n' % (USER, bcrypt.hashpw(
            PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()))
        config = CONFIG % dict(
            port=port, state=os.path.join(self.dir, 'state'),
            htpasswd=htpasswd, systems=repr(fake_systems(systems)))
        if tls:
            config += TLS_CONFIG % dict(cert=tls['cert'], key=tls['key'])
        self.config = peers.write(os.path.join(self.dir, 'emulator.conf'),
                                  config)

    def start(self, timeout=30.0):
        binary = peers.require_binary('sushy-emulator', 'sushy-tools',
                                      kind='PyPI')
        peers.check_port_free(self.port, what='sushy-emulator')
        log = os.path.join(self.dir, 'emulator.log')
        self.process = peers.Process([binary, '--config', self.config], log,
                                    cwd=self.dir)
        peers.wait_for_tcp(self.port, self.process.proc, timeout, log)
        # the root answers without credentials once the app is up
        resp = requests.get(self.url + '/redfish/v1/', timeout=5,
                            verify=self.tls['ca'] if self.tls else True)
        assert resp.status_code == 200, resp.text
        return self

    def stop(self):
        if self.process is not None:
            self.process.stop()
            self.process = None

    def power_state(self, system_uuid):
        """The system's PowerState, read straight from the emulator."""
        resp = requests.get(
            '%s/redfish/v1/Systems/%s' % (self.url, system_uuid),
            auth=(USER, PASSWORD), timeout=5,
            verify=self.tls['ca'] if self.tls else True)
        resp.raise_for_status()
        return resp.json()['PowerState']


#: iDRAC's answer to ForceOff of a system that is off
ALREADY_OFF = {'error': {
    'code': 'Base.1.8.GeneralError',
    'message': 'A general error has occurred.',
    '@Message.ExtendedInfo': [{
        'MessageId': 'IDRAC.2.8.PSU501', 'Severity': 'Warning',
        'Message': 'Server is already powered OFF.'}]}}


class IgnoringProxy:
    """HTTP proxy to ``upstream`` that swallows ForceOff (answers 204).

    With ``refuse_when_off`` it passes ForceOff on, except for a system
    that reads Off, which gets iDRAC's HTTP 409 "already powered OFF".
    Runs in a thread of the test process; ``swallowed`` lists the ForceOff
    paths it did not pass on.
    """

    def __init__(self, port, upstream, refuse_when_off=False):
        self.port = port
        self.upstream = upstream
        self.url = 'http://127.0.0.1:%d' % port
        self.swallowed = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # one request per connection: no keep-alive state to get wrong
            protocol_version = 'HTTP/1.0'

            def log_message(self, *args):
                pass

            def _reply(self, status, payload=b''):
                self.send_response(status)
                self.send_header('Connection', 'close')
                if payload:
                    self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ('host', 'content-length')}
                if (self.command == 'POST' and body
                        and 'ComputerSystem.Reset' in self.path
                        and json.loads(body).get('ResetType') == 'ForceOff'):
                    if not refuse_when_off:
                        proxy.swallowed.append(self.path)
                        return self._reply(204)
                    system = requests.get(
                        proxy.upstream + self.path.split('/Actions/')[0],
                        headers=headers, timeout=10).json()
                    if system['PowerState'] == 'Off':
                        proxy.swallowed.append(self.path)
                        return self._reply(
                            409, json.dumps(ALREADY_OFF).encode())
                resp = requests.request(
                    self.command, proxy.upstream + self.path, data=body,
                    headers=headers, timeout=10, allow_redirects=False)
                payload = resp.content
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ('content-length', 'connection',
                                         'transfer-encoding', 'server',
                                         'date', 'content-encoding'):
                        self.send_header(k, v)
                self.send_header('Connection', 'close')
                self.send_header('Content-Length', str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        peers.check_port_free(port, what='redfish proxy')
        self.server = http.server.ThreadingHTTPServer(
            (peers.HOST, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       name='ignoring-proxy', daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def make_tls_files(directory):
    """A CA and a server certificate for 127.0.0.1; return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            'vmha test CA')])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                       critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(
            ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    '127.0.0.1')]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(str(directory), name + '.pem')
             for name in ('ca', 'cert', 'key')}
    peers.write(paths['ca'], ca_cert.public_bytes(
        serialization.Encoding.PEM).decode())
    peers.write(paths['cert'], cert.public_bytes(
        serialization.Encoding.PEM).decode())
    peers.write(paths['key'], key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode(), 0o600)
    return paths


@pytest.fixture(scope='session')
def redfish_bmc(tmp_path_factory):
    """sushy-emulator on http://127.0.0.1:16240 with SYSTEMS."""
    emulator = SushyEmulator(tmp_path_factory.mktemp('sushy'), PORT,
                             SYSTEMS).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope='session')
def redfish_tls_bmc(tmp_path_factory):
    """sushy-emulator on https://127.0.0.1:16241 (private CA), one system.

    ``.tls['ca']`` is the CA bundle that verifies it.
    """
    workdir = tmp_path_factory.mktemp('sushy_tls')
    emulator = SushyEmulator(workdir, TLS_PORT, {'tls': TLS_SYSTEM},
                             tls=make_tls_files(workdir)).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope='session')
def redfish_strict_bmc(redfish_bmc):
    """http://127.0.0.1:16243: redfish_bmc behind a proxy that refuses
    ForceOff of a system that is off, as iDRAC does (HTTP 409)."""
    proxy = IgnoringProxy(STRICT_PROXY_PORT, redfish_bmc.url,
                          refuse_when_off=True).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope='session')
def redfish_ignoring_bmc(redfish_bmc):
    """http://127.0.0.1:16242: redfish_bmc behind a proxy that swallows
    ForceOff."""
    proxy = IgnoringProxy(PROXY_PORT, redfish_bmc.url).start()
    yield proxy
    proxy.stop()
