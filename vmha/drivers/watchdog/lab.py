"""The ``lab`` watchdog driver: the functional lab's stand-in watchdog.

The stand-in (tools/lab/files/lab_watchdog.py) is one process per lab host
listening on a unix stream socket, ``[watchdog] device``. It behaves like
/dev/watchdog: connecting and sending ``arm TIMEOUT PID`` starts it, each
``pet`` restarts the countdown, ``V`` (the magic close) stops it, and a
connection that closes without ``V`` (the agent died) leaves it counting.
When it fires it powers the lab host off through its chassis control
(its nova-compute dies) and kills the armed agent: a reset host runs
nothing. Never a real watchdog: tests cannot reset the machine.
"""

import os
import socket

from vmha.drivers.watchdog import base

#: seconds one exchange with the stand-in may take
_TIMEOUT = 2.0


class LabWatchdog(base.WatchdogDriver):

    def __init__(self, conf):
        super().__init__(conf)
        self.address = conf.watchdog.device
        self._sock = None

    def get_properties(self):
        return {'device': 'the stand-in\'s unix socket'}

    def validate(self):
        if not os.path.exists(self.address):
            raise self.error('no stand-in watchdog listens there')

    def arm(self, timeout):
        try:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.settimeout(_TIMEOUT)
            self._sock.connect(self.address)
            reply = self._send('arm %d %d' % (timeout, os.getpid()))
        except OSError as err:
            self._close()
            raise self.error('arming failed: %s' % err) from err
        words = reply.split()
        if words[:1] != ['armed'] or len(words) != 2:
            self._close()
            raise self.error('unexpected reply %r' % reply)
        self.timeout = int(words[1])
        return self.timeout

    def _send(self, line):
        """Send one line, return the stand-in's one-line reply."""
        self._sock.sendall(line.encode() + b'\n')
        reply = b''
        while not reply.endswith(b'\n'):
            chunk = self._sock.recv(256)
            if not chunk:
                raise ConnectionError('the stand-in closed the connection')
            reply += chunk
        return reply.decode().strip()

    def pet(self):
        if self._sock is None:
            return
        try:
            self._send('pet')
        except OSError as err:
            raise self.error('pet failed: %s' % err) from err

    def disarm(self):
        if self._sock is None:
            return
        try:
            self._send('V')
        except OSError as err:
            raise self.error('magic close failed: %s' % err) from err
        finally:
            self._close()

    def _close(self):
        sock, self._sock = self._sock, None
        self.timeout = None
        if sock is not None:
            sock.close()
