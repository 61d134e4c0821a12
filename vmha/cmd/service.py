"""Run a long-lived vmha process's loop so that SIGTERM always stops it.

The loop (the monitor's detection, the agent's heartbeats) runs in a daemon
thread; the main thread only waits for SIGTERM/SIGINT. A loop stuck in a
call to a backend that accepts and never answers therefore cannot delay the
exit: after the signal the loop gets ``grace`` seconds to finish (a clean
leave, a flushed notification), the clean-up as many, and the process exits.
"""

import logging
import os
import signal
import sys
import threading

from oslo_log import log as oslo_logging

from vmha import threads

LOG = oslo_logging.getLogger(__name__)

#: seconds the loop, then the clean-up, get after SIGTERM
GRACE = 1.5


def run(name, loop, cleanup=None, grace=GRACE):
    """Run ``loop(stop)`` until it returns or a signal sets ``stop``.

    Returns 0, or 1 when the loop raised (it is logged).
    """
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    failed = threading.Event()
    finished = threading.Event()

    def body():
        try:
            loop(stop)
        except Exception:
            LOG.exception('%s stopped on an error', name)
            failed.set()
        finally:
            finished.set()
            stop.set()

    threads.spawn(body, name=name)
    while not stop.wait(1.0):
        pass
    if not finished.wait(grace):
        LOG.warning('%s: still busy %.1fs after the stop signal; exiting '
                    'anyway (unfinished recoveries resume at next start)',
                    name, grace)
    if cleanup is not None:
        try:
            threads.call(cleanup, timeout=grace, name='%s-cleanup' % name)
        except threads.DeadlineExceeded:
            LOG.warning('%s: clean-up did not finish within %.1fs', name,
                        grace)
        except Exception:
            LOG.exception('%s: clean-up failed', name)
    code = 1 if failed.is_set() else 0
    _exit_past_busy_threads(name, code)
    return code


def _exit_past_busy_threads(name, code):
    """Exit now if threads that are not daemons are still busy (taskflow's
    and concurrent.futures' workers of a recovery under way): the
    interpreter would wait for them at exit. The recovery is persisted and
    resumes at the next start."""
    busy = [t.name for t in threading.enumerate()
            if t is not threading.current_thread() and not t.daemon
            and t.is_alive()]
    if not busy:
        return
    LOG.warning('%s: exiting while %d worker thread(s) are busy (%s); '
                'unfinished recoveries resume at the next start', name,
                len(busy), ', '.join(sorted(busy)[:5]))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
