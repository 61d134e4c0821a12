"""vmha-agent processes and a monitor thread, for the detection tests and
the benchmark.

Agents run as real ``vmha-agent`` processes (``python -m vmha.cmd.agent``)
against the real Redis on 127.0.0.1:6379; each test uses its own group and
host names, so tests never see each other's members.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis

from vmha import coordination

REDIS_URL = 'redis://127.0.0.1:6379?timeout=5'


def wait_for(predicate, timeout, interval=0.05, what='condition'):
    """Poll ``predicate`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail('timed out after %ss waiting for %s' % (timeout, what))


def unique(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


def write_config(path, sections):
    """Write ``{section: {option: value}}`` as an ini file; return path."""
    with open(path, 'w') as f:
        for section, options in sections.items():
            f.write('[%s]\n' % section)
            for key, value in options.items():
                f.write('%s = %s\n' % (key, value))
            f.write('\n')
    return str(path)


class AgentProcess:
    """One vmha-agent subprocess for ``host``."""

    def __init__(self, tmp_path, config, host, options=None):
        """``options``: {section: {option: value}} for this agent only
        (a watchdog, a coordination backend of its own)."""
        self.host = host
        sections = {'agent': {'host': host},
                    'DEFAULT': {'log_file': tmp_path / ('agent-%s.log'
                                                        % host)}}
        for section, values in (options or {}).items():
            sections.setdefault(section, {}).update(values)
        self.host_config = write_config(
            tmp_path / ('agent-%s.conf' % host), sections)
        self.config = config
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'vmha.cmd.agent', '--config-file',
             self.config, '--config-file', self.host_config],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        return self

    def signal(self, signum):
        os.kill(self.proc.pid, signum)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.send_signal(signal.SIGCONT)
            self.proc.wait(10)


class Agents:
    """Start agents, see the group as the monitor does, clean up Redis."""

    def __init__(self, tmp_path, config, conf, host_options=None):
        self.tmp_path = tmp_path
        self.config = config
        self.conf = conf
        #: {host: {section: {option: value}}} for single agents
        self.host_options = host_options or {}
        self.procs = {}
        self.membership = coordination.Membership.connect(
            conf, unique('test-observer'))

    def start(self, *hosts, timeout=60):
        for host in hosts:
            self.procs[host] = AgentProcess(
                self.tmp_path, self.config, host,
                self.host_options.get(host)).start()
        self.wait_members(lambda members: set(hosts) <= members, timeout)

    def members(self):
        return self.membership.members() or set()

    def wait_members(self, predicate, timeout=30, what='group membership'):
        return wait_for(lambda: predicate(self.members()), timeout,
                        what=what)

    def close(self):
        for proc in self.procs.values():
            proc.stop()
        self.membership.close()
        client = redis.Redis(host='127.0.0.1', port=6379)
        group = self.conf.coordination.group_name
        for key in client.scan_iter('*%s*' % group):
            client.delete(key)
        for member in client.smembers('_tooz_groups'):
            if group.encode() in member:
                client.srem('_tooz_groups', member)
        client.close()


class MonitorThread:
    """Monitor.run in a thread, stopped by close()."""

    def __init__(self, monitor):
        self.monitor = monitor
        self.stop = threading.Event()
        self.thread = threading.Thread(target=monitor.run, args=(self.stop,),
                                       daemon=True, name='test-monitor')

    def start(self):
        self.thread.start()
        wait_for(lambda: self.monitor.checks >= 1, 30, what='first check')
        return self

    def wait_checks(self, until, timeout=60):
        """Wait until the monitor finished a check that began after the
        clock time ``until``."""
        start = self.monitor.checks
        wait_for(lambda: time.time() > until, timeout, what='time')
        passed = self.monitor.checks
        wait_for(lambda: self.monitor.checks > max(start, passed) + 1,
                 timeout, what='monitor checks')

    def close(self):
        self.stop.set()
        self.thread.join(30)
        self.monitor.close()
