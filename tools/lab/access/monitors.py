"""vmha-monitor processes wired to the real-Nova lab and the real Redis.

Shared by the lab tests that run monitors as an operator would: a config
file per monitor (detection by agent heartbeats through Redis, and Nova),
``python -m vmha.cmd.monitor`` processes, and their logs.
"""

import datetime
import signal
import subprocess
import sys

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib

HB_TIMEOUT = 3.0
POLL = 1.0
GRACE = 1.0     # [monitor] nova_report_grace, as lab.write_config sets it


def detection_bound(lab_info):
    """The rule's worst case from a host's death to its declaration
    (vmha/detection/decision.py) with the lab's timings."""
    return max(HB_TIMEOUT, lab_info['report_interval'] + GRACE + POLL) + POLL


#: what vmha-monitor logs once it watches (its detection loop runs)
WATCHING = 'vmha-monitor watching'


def epoch(naive_utc):
    """Seconds since the epoch of a naive UTC datetime (vmha's records);
    None stays None (a phase a recovery skipped)."""
    if naive_utc is None:
        return None
    return naive_utc.replace(tzinfo=datetime.timezone.utc).timestamp()


def monitor_config(path, lab_info, db_url, group, log, **extra):
    """A monitor config: heartbeat + nova detection, logging to ``log``."""
    options = {
        'DEFAULT.log_file': log,
        'monitor.poll_interval': POLL,
        'monitor.detection_sources': 'nova,heartbeat',
        'coordination.backend_url': agentlib.REDIS_URL,
        'coordination.group_name': group,
        'coordination.heartbeat_interval': 0.5,
        'coordination.heartbeat_timeout': HB_TIMEOUT}
    options.update(extra)
    return lablib.write_config(path, lab_info, db_url, **options)


class MonitorProcess:
    """One vmha-monitor process and its log file."""

    def __init__(self, config, log):
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'vmha.cmd.monitor', '--config-file',
             str(config)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    @property
    def pid(self):
        return self.proc.pid

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def wait_for_log(self, text, timeout=60):
        """Wait until the log says ``text``; fail if the process died."""
        agentlib.wait_for(
            lambda: text in self.log_text() or self.proc.poll() is not None,
            timeout, what='"%s" in %s' % (text, self.log))
        assert self.proc.poll() is None, self.proc.stderr.read()

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        """SIGTERM (a planned stop), SIGKILL if it does not go."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
