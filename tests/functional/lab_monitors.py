"""vmha-monitor processes wired to the real-Nova lab and the real Redis.

Shared by the lab tests that run monitors as an operator would: a config
file per monitor (detection by agent heartbeats through Redis, and Nova),
``python -m vmha.cmd.monitor`` processes, and their logs.
"""

import datetime
import signal
import subprocess
import sys
import time

import pytest

from tests.functional import agents as agentlib
from tests.functional import lab as lablib

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


@pytest.fixture
def start_cluster(tmp_path, lab_info, vmha_setup, sqlite_url, clean_lab):
    """start(level, backend_url, **options) -> (db, agents, monitor
    process), with agents on every lab host and the monitor watching them;
    ``options``: {'group.option': value} for the monitor's config."""
    conf, db = vmha_setup
    monitors, agent_sets = [], []

    def start(level, backend_url=agentlib.REDIS_URL, **options):
        options.update({'recovery.quick_evacuate_level': level,
                        'coordination.backend_url': backend_url})
        config = monitor_config(
            tmp_path / 'vmha.conf', lab_info, sqlite_url,
            agentlib.unique('vmha-lab'), tmp_path / 'monitor.log',
            **options)
        conf(['--config-file', config], default_config_files=[])
        agents = agentlib.Agents(tmp_path, config, conf)
        agent_sets.append(agents)
        agents.start(*lablib.HOSTS)
        proc = MonitorProcess(config, tmp_path / 'monitor.log')
        monitors.append(proc)
        proc.wait_for_log(WATCHING)
        # a few polls with every agent alive before anything happens
        time.sleep(3 * POLL)
        return db, agents, proc

    yield start
    for proc in monitors:
        proc.stop()
    for agents in agent_sets:
        agents.close()
