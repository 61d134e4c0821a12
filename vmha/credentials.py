"""BMC credentials at rest: Fernet-encrypted with the operator's key file.

The inventory's secrets (``bmc_password`` and the secret ``bmc_options``:
the IPMI ``kg`` key, any key naming a password, secret or token, see
:func:`vmha.inventory.is_secret_option`) are written to the database as
``fernet:<token>`` and decrypted only when read back for a fencing driver.

The keys live in ``[inventory] credential_key_file``, one Fernet key per
line: the first encrypts, every one decrypts (MultiFernet), which is what
lets a rotation happen while several monitors share the database. The file
must be owner-only; vmha refuses a key file other users can read, as ssh
refuses such a private key.

Without a key file vmha refuses to store a secret rather than generate a
key of its own: monitors sharing one database need the same key, which only
the operator can distribute.
"""

import base64
import binascii
import os
import stat
import tempfile

from cryptography import fernet

from vmha import exception
from vmha import inventory

PREFIX = 'fernet:'
OPTION = '[inventory] credential_key_file'


class CredentialKeyError(exception.ConfigError):
    msg_fmt = '%(reason)s'


def generate_key():
    """A new Fernet key (text)."""
    return fernet.Fernet.generate_key().decode('ascii')


def is_sealed(value):
    return isinstance(value, str) and value.startswith(PREFIX)


def _check_owner_only(path):
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise CredentialKeyError(
            reason='%s: %s is readable by other users (mode %04o); '
                   'chmod 600 it' % (OPTION, path, mode))


def read_keys(path):
    """The keys of a key file, first (encrypting) key first."""
    try:
        _check_owner_only(path)
        with open(path) as f:
            lines = [line.strip() for line in f]
    except OSError as err:
        raise CredentialKeyError(reason='%s: cannot read %s: %s' % (
            OPTION, path, err.strerror)) from err
    keys = [line for line in lines if line and not line.startswith('#')]
    if not keys:
        raise CredentialKeyError(reason='%s: %s holds no key (create one '
                                 'with "vmha-manage credentials '
                                 'generate-key")' % (OPTION, path))
    for number, key in enumerate(keys, 1):
        try:
            if len(base64.urlsafe_b64decode(key.encode('ascii'))) != 32:
                raise ValueError
        except (ValueError, binascii.Error) as err:
            raise CredentialKeyError(
                reason='%s: key %d of %s is not a Fernet key (32 bytes, '
                       'url-safe base64)' % (OPTION, number, path)) from err
    return keys


def write_key_file(path, keys):
    """Write ``keys`` to ``path`` atomically, owner-only (0600).

    The new file is written beside the old one and renamed over it, so a
    reader sees either the old keys or the new ones, never half a file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.vmha-key-', dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(''.join(key + '\n' for key in keys))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Keyring:
    """Encrypt with the first key, decrypt with any."""

    def __init__(self, keys, path=None):
        self.keys = list(keys)
        self.path = path
        self._fernet = fernet.MultiFernet([fernet.Fernet(k.encode('ascii'))
                                           for k in self.keys])

    @classmethod
    def from_file(cls, path):
        return cls(read_keys(path), path=path)

    @classmethod
    def from_conf(cls, conf):
        """The configured keyring, or None when no key file is set."""
        path = conf.inventory.credential_key_file
        return cls.from_file(path) if path else None

    def encrypt(self, text):
        token = self._fernet.encrypt(text.encode('utf-8'))
        return PREFIX + token.decode('ascii')

    def decrypt(self, value, what):
        """``value`` in clear; ``what`` names it in an error
        (never the value)."""
        if not is_sealed(value):
            return value            # written before encryption (0005)
        try:
            return self._fernet.decrypt(
                value[len(PREFIX):].encode('ascii')).decode('utf-8')
        except fernet.InvalidToken as err:
            raise CredentialKeyError(
                reason='%s: no key in %s decrypts %s (a key missing from '
                       'the file, or a file from another deployment)'
                % (OPTION, self.path or 'the key file', what)) from err

    def reencrypt(self, value, what):
        """``value`` encrypted with the first key (rotation)."""
        return self.encrypt(self.decrypt(value, what))


def _secret_keys(options):
    return [key for key, value in (options or {}).items()
            if value not in (None, '') and inventory.is_secret_option(key)]


def _convert(host, password, options, function):
    """(password, options) with every secret passed through ``function``
    (value, what)."""
    if password not in (None, ''):
        password = function(password, 'bmc_password of host %s' % host)
    options = dict(options or {})
    for key in _secret_keys(options):
        options[key] = function(options[key], "bmc_options['%s'] of host %s"
                                % (key, host))
    return password, options


def _missing_key(host, what):
    raise CredentialKeyError(
        reason='host %s has %s: set %s to a key file (create one with '
               '"vmha-manage credentials generate-key --output PATH") so '
               'that it is stored encrypted; nothing was stored'
               % (host, what, OPTION))


def seal(keyring, host, password, options):
    """(password, options) as stored: every secret encrypted.

    Without a keyring a host with a secret is refused (CredentialKeyError
    naming the option), so that no secret is ever written in clear.
    """
    if keyring is None:
        if password not in (None, ''):
            _missing_key(host, 'a BMC password')
        secrets = _secret_keys(options)
        if secrets:
            _missing_key(host, 'secret bmc_options (%s)'
                         % ', '.join(sorted(secrets)))
        return password, dict(options or {})

    def encrypt(value, _what):
        return value if is_sealed(value) else keyring.encrypt(str(value))
    return _convert(host, password, options, encrypt)


def unseal(keyring, host, password, options):
    """(password, options) in clear, as the fencing drivers need them."""
    if keyring is None:
        def refuse(value, what):
            if is_sealed(value):
                raise CredentialKeyError(
                    reason='%s is encrypted and %s is not set' % (
                        what, OPTION))
            return value
        return _convert(host, password, options, refuse)
    return _convert(host, password, options, keyring.decrypt)


def reseal(keyring, host, password, options):
    """(password, options) encrypted with the keyring's first key: how a
    rotation rewrites a row (a value still in clear gets encrypted too)."""
    return _convert(host, password, options, keyring.reencrypt)
