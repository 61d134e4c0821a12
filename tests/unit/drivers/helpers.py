"""Helpers shared by the fencing driver and CLI unit tests."""

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives import serialization


def write_key(path, passphrase=None):
    """An Ed25519 private key in OpenSSH format at ``path`` (encrypted with
    ``passphrase`` if given); returns the path as a string."""
    encryption = (serialization.BestAvailableEncryption(passphrase)
                  if passphrase else serialization.NoEncryption())
    path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        encryption))
    return str(path)
