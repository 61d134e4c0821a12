"""The lab lock, held for one case at a time.

The lab is shared with the functional tests, which serialise on
``flock /tmp/vmha-lab.lock``; the benchmark takes the same flock(2) lock
around each case (reset, boot, fail, recover), not around the whole run, so
that a test suite can run between two cases.
"""

import contextlib
import fcntl
import time

LOCK = '/tmp/vmha-lab.lock'


@contextlib.contextmanager
def held(waits, path=LOCK):
    """Hold the lock; append the seconds spent waiting for it to
    ``waits`` (a list), so the run can say how long it really took."""
    with open(path, 'a') as lock:
        asked = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)
        waits.append(time.monotonic() - asked)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
