"""The lab lock, held for one case at a time.

The lab is shared with the functional tests, whose sessions hold the lab
lock (tools.lab.access.lab.LAB_LOCK) while they use it; the benchmark takes
the same lock around each case (reset, boot, fail, recover), not around the
whole run, so that a test suite can run between two cases.
"""

import contextlib

from tools.lab.access import lab as lablib


@contextlib.contextmanager
def held(waits, path=lablib.LAB_LOCK):
    """Hold the lock; append the seconds spent waiting for it to
    ``waits`` (a list), so the run can say how long it really took."""
    with lablib.locked(path) as waited:
        waits.append(waited)
        yield
