"""A real ``vmha-monitor`` process, as an operator starts it.

The benchmark measures the monitor an operator runs, so it is a separate
process (``python -m vmha.cmd.monitor``) reading a config file, never a
thread of the benchmark.
"""

import signal
import subprocess
import sys
import time


class MonitorProcess:

    def __init__(self, config, log_file):
        self.config = str(config)
        self.log_file = log_file
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=60):
        """Start it; return once it logs that it is watching."""
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'vmha.cmd.monitor', '--config-file',
             self.config], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while not self._watching():
            if self.proc.poll() is not None:
                raise RuntimeError('vmha-monitor exited: %s'
                                   % self.proc.stderr.read())
            if time.monotonic() > deadline:
                raise RuntimeError('vmha-monitor not watching after %ss'
                                   % timeout)
            time.sleep(0.1)
        return self

    def _watching(self):
        try:
            with open(self.log_file) as f:
                return 'vmha-monitor watching' in f.read()
        except FileNotFoundError:
            return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM (a planned stop), SIGKILL if it does not go."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
