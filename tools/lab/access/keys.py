"""The credential key of the functional tests and the benchmark
(``[inventory] credential_key_file``).

Fixed, so that every process and configuration of a run agree (and two
runs writing the file write the same bytes); not a secret.
"""

import base64
import os
import tempfile

TEST_KEY = base64.urlsafe_b64encode(
    b'vmha-functional-tests-not-secret').decode('ascii')
KEY_FILE = os.path.join(tempfile.gettempdir(),
                        'vmha-functional-credential.key')


def key_file():
    """KEY_FILE, written (owner-only) if missing."""
    from vmha import credentials

    if not os.path.exists(KEY_FILE):
        credentials.write_key_file(KEY_FILE, [TEST_KEY])
    return KEY_FILE


def keyring():
    """The Keyring of TEST_KEY, for a Database a test opens itself."""
    from vmha import credentials

    return credentials.Keyring([TEST_KEY], path=key_file())
