"""Calls with a deadline, in daemon threads.

A remote peer that accepts a connection and never answers (a stalled
nova-api, a coordination backend behind a dead load balancer, a BMC that
ignores a bad login) must not hold a caller past its deadline, nor keep the
process from exiting on SIGTERM. Python cannot kill a thread, so the call
runs in a daemon thread that is abandoned on timeout; the client libraries'
own socket timeouts end it eventually.
"""

import threading


class DeadlineExceeded(Exception):
    """The call did not return within its deadline."""


class Call:
    """One call of ``func(*args)`` in a daemon thread.

    ``result(timeout)`` returns its value, re-raises its exception, or raises
    DeadlineExceeded while it is still running (it keeps running: ask again
    later with :attr:`done`).
    """

    def __init__(self, func, *args, name='vmha-call'):
        self._func = func
        self._args = args
        self._done = threading.Event()
        self._value = None
        self._error = None
        self._thread = threading.Thread(target=self._run, name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self._value = self._func(*self._args)
        except BaseException as err:  # handed to the caller, never lost
            self._error = err
        finally:
            self._done.set()

    @property
    def done(self):
        return self._done.is_set()

    def result(self, timeout):
        if not self._done.wait(timeout):
            raise DeadlineExceeded()
        if self._error is not None:
            raise self._error
        return self._value


def call(func, *args, timeout, name='vmha-call'):
    """``func(*args)`` within ``timeout`` seconds, or DeadlineExceeded."""
    return Call(func, *args, name=name).result(timeout)


def spawn(target, name):
    """Start ``target()`` in a daemon thread (a loop that must never keep
    the process alive after the main thread decided to exit)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
