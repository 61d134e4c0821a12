#!/usr/bin/env python3
"""A stand-in hardware watchdog for one lab host (never a real one).

Behaves like /dev/watchdog for vmha's ``lab`` watchdog driver
(vmha/drivers/watchdog/lab.py), over a unix stream socket, one client at a
time (a second one gets ``busy``, as a second open of /dev/watchdog gets
EBUSY). Lines, each answered with one line:

  arm TIMEOUT PID   start counting: TIMEOUT seconds to the next pet;
                    PID is the agent (killed with the host) -> armed TIMEOUT
  pet               restart the countdown -> ok
  V                 magic close: stop counting -> disarmed
  status            -> armed REMAINING | disarmed

A client that disconnects without ``V`` leaves it counting (the agent
died). When the countdown ends it "resets" the host: powers it off through
its chassis control (tools/lab/files/chassis_control.sh HOST_ENV set power
0: its nova-compute is SIGKILLed), SIGKILLs the armed agent (a reset host
runs nothing), and disarms. The host stays off: ``lab reset`` powers it on.

Every state change is one JSON line in --log (``event``, ``at`` epoch
seconds), which the lab tests read.

Stdlib only; run with any python3:
  lab_watchdog.py --socket PATH --host-env HOST_ENV [--chassis-control SH]
                  [--log FILE]
"""

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class StandIn:

    def __init__(self, args):
        self.args = args
        self.deadline = None       # monotonic time it fires at
        self.timeout = None
        self.pid = None
        self.client = None
        self.buffer = b''

    def log(self, event, **fields):
        fields.update(event=event, at=time.time())
        with open(self.args.log, 'a') as f:
            f.write(json.dumps(fields) + '\n')

    def serve(self, server):
        self.log('listening', socket=self.args.socket)
        while True:
            wait = None
            if self.deadline is not None:
                wait = max(0.0, self.deadline - time.monotonic())
            readable = [server] + ([self.client] if self.client else [])
            ready, _, _ = select.select(readable, [], [], wait)
            if self.deadline is not None and \
                    time.monotonic() >= self.deadline:
                self.fire()
            for sock in ready:
                if sock is server:
                    self.accept(server)
                else:
                    self.read()

    def accept(self, server):
        conn, _ = server.accept()
        if self.client is not None:
            conn.sendall(b'busy\n')
            conn.close()
            return
        self.client, self.buffer = conn, b''

    def read(self):
        try:
            data = self.client.recv(4096)
        except OSError:
            data = b''
        if not data:
            self.client.close()
            self.client = None
            if self.deadline is not None:
                self.log('closed-without-magic-close', pid=self.pid)
            return
        self.buffer += data
        while b'\n' in self.buffer:
            line, self.buffer = self.buffer.split(b'\n', 1)
            reply = self.command(line.decode().split())
            try:
                self.client.sendall(reply.encode() + b'\n')
            except OSError:
                pass

    def command(self, words):
        if words[:1] == ['arm'] and len(words) == 3:
            self.timeout, self.pid = int(words[1]), int(words[2])
            self.deadline = time.monotonic() + self.timeout
            self.log('armed', timeout=self.timeout, pid=self.pid)
            return 'armed %d' % self.timeout
        if words == ['pet'] and self.deadline is not None:
            self.deadline = time.monotonic() + self.timeout
            return 'ok'
        if words == ['V']:
            if self.deadline is not None:
                self.log('disarmed', pid=self.pid)
            self.deadline = None
            return 'disarmed'
        if words == ['status']:
            if self.deadline is None:
                return 'disarmed'
            return 'armed %.3f' % (self.deadline - time.monotonic())
        return 'error %s' % ' '.join(words)

    def fire(self):
        """Reset the host: power it off, kill the agent, disarm."""
        self.log('fired', pid=self.pid, timeout=self.timeout)
        subprocess.run(['sh', self.args.chassis_control, self.args.host_env,
                        'set', 'power', '0'], check=False, timeout=30)
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
        self.log('host-powered-off', pid=self.pid)
        self.deadline = None
        if self.client is not None:
            self.client.close()
            self.client = None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--socket', required=True)
    parser.add_argument('--host-env', required=True)
    parser.add_argument('--chassis-control',
                        default=os.path.join(HERE, 'chassis_control.sh'))
    parser.add_argument('--log', default='/dev/stderr')
    args = parser.parse_args(argv)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(args.socket)
    server.listen(4)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        StandIn(args).serve(server)
    finally:
        server.close()
        os.unlink(args.socket)


if __name__ == '__main__':
    sys.exit(main())
