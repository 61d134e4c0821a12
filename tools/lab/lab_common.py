"""Shared pieces of the vmha lab: layout, settings, progress output, processes.

Only the standard library is used here: this module also runs under the
system python3 before the lab's virtualenvs exist (``lab install``).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTS = ('hostA', 'hostB', 'hostC')
ADDRESS = '127.0.0.1'
PORTS = {
    'keystone': 15000, 'placement': 15778, 'nova': 15774,
    'glance': 15292, 'neutron': 15696, 'mariadb': 13306,
    'rabbitmq': 35672, 'rabbitmq_dist': 35673, 'epmd': 35674,
}
BMC_PORTS = {host: 16301 + i for i, host in enumerate(HOSTS)}
BMC_USER = 'admin'
BMC_PASSWORD = 'labbmcpass'
ADMIN_PASSWORD = 'labadminpass'
SERVICE_PASSWORD = 'labservicepass'
DB_PASSWORD = 'labdbpass'
REGION = 'RegionOne'
IMAGE_ID = '7d3c6a2e-1b1e-4c1e-9a37-1f5e5a1c0001'
FLAVOR = 'lab.tiny'
# Nova timings for fast failure detection; VMHA_LAB_* env overrides them.
DEFAULT_SETTINGS = {'service_down_time': 15, 'report_interval': 3}


def admin_auth():
    """The lab's admin credentials, with keystoneauth's option names."""
    return {
        'auth_url': 'http://%s:%d/v3' % (ADDRESS, PORTS['keystone']),
        'username': 'admin', 'password': ADMIN_PASSWORD,
        'project_name': 'admin', 'user_domain_name': 'Default',
        'project_domain_name': 'Default', 'region_name': REGION,
    }


class LabError(Exception):
    """A lab command failed; the message is the one-line reason shown."""


class Layout:
    """Where everything lives under the lab dir (VMHA_LAB_DIR)."""

    def __init__(self, root=None):
        self.root = os.path.abspath(
            root or os.environ.get('VMHA_LAB_DIR') or '/var/tmp/vmha-lab')
        join = os.path.join
        self.venv_nova = join(self.root, 'venv-nova')
        self.venv_keystone = join(self.root, 'venv-keystone')
        self.etc = join(self.root, 'etc')
        self.data = join(self.root, 'data')
        self.logs = join(self.root, 'logs')
        self.run = join(self.root, 'run')
        self.state = join(self.root, 'state')
        self.mysql = join(self.root, 'mysql')
        self.rabbitmq = join(self.root, 'rabbitmq')
        self.bmc = join(self.root, 'bmc')
        self.settings = join(self.root, 'settings.json')
        self.info = join(self.root, 'lab.json')
        self.nova_conf_fragment = join(self.root, 'vmha-nova.conf')

    def nova_bin(self, name):
        return os.path.join(self.venv_nova, 'bin', name)

    def keystone_bin(self, name):
        return os.path.join(self.venv_keystone, 'bin', name)

    def pid_file(self, name):
        return os.path.join(self.run, name + '.pid')

    def log_file(self, name):
        return os.path.join(self.logs, name + '.log')

    def bmc_dir(self, host):
        return os.path.join(self.bmc, host)

    def make_dirs(self):
        for path in (self.etc, self.data, self.logs, self.run, self.state,
                     self.bmc):
            os.makedirs(path, exist_ok=True)


# ---------------------------------------------------------------- output

_T0 = time.monotonic()


def say(message):
    """Progress line on stderr (stdout carries results such as JSON)."""
    print('[%6.1fs] %s' % (time.monotonic() - _T0, message),
          file=sys.stderr, flush=True)


class Timings:
    """Elapsed time per phase, printed at the end of a long command."""

    def __init__(self):
        self.phases = []

    def phase(self, name):
        timings = self

        class _Phase:
            def __enter__(self):
                self.start = time.monotonic()

            def __exit__(self, *exc):
                timings.phases.append((name, time.monotonic() - self.start))

        return _Phase()

    def report(self):
        for name, seconds in self.phases:
            say('timing: %-14s %6.1fs' % (name, seconds))


# ---------------------------------------------------------------- helpers

def run(argv, timeout=600, env=None, input=None, check=True):
    """Run a command, capture its output; LabError with its last line."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                              input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError('%s: no answer within %ss' % (argv[0], timeout))
    except FileNotFoundError:
        raise LabError('%s: not installed (run: lab install)' % argv[0])
    if check and proc.returncode:
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise LabError('%s failed (%d): %s' % (
            ' '.join(argv[:3]), proc.returncode, lines[-1] if lines else ''))
    return proc


def wait_until(predicate, timeout, what, interval=0.5):
    """Poll ``predicate`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError('timed out after %ss waiting for %s'
                           % (timeout, what))
        time.sleep(interval)


def port_open(port):
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((ADDRESS, port), timeout=1):
            return True
    except OSError:
        return False


def write_if_changed(path, text, mode=0o644):
    """Write a file only when its content differs; True if it changed."""
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def load_settings(layout):
    """The lab's timings: stored ones, overridden by VMHA_LAB_* env vars."""
    settings = dict(DEFAULT_SETTINGS)
    try:
        with open(layout.settings) as f:
            settings.update(json.load(f))
    except FileNotFoundError:
        pass
    for key in DEFAULT_SETTINGS:
        value = os.environ.get('VMHA_LAB_' + key.upper())
        if value:
            settings[key] = int(value)
    return settings


# ---------------------------------------------------------------- processes
#
# A pid file holds "PID STARTTIME" (STARTTIME: field 22 of /proc/PID/stat),
# so a recycled pid is never mistaken for a lab process.  Every lab process
# leads its own session; its children (gunicorn workers, erlang helpers)
# share that session, which is how leftovers and memory are found.  (Not the
# environment: setproctitle overwrites /proc/PID/environ.)

def _stat(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b')') + 2:].decode().split()


def process_state(pid):
    """'R', 'S', 'T' (stopped), ... or None when gone or a zombie."""
    fields = _stat(pid)
    if not fields or fields[0] in ('Z', 'X'):
        return None
    return fields[0]


def _start_time(pid):
    fields = _stat(pid)
    return fields[19] if fields else None


def _session(pid):
    fields = _stat(pid)
    return int(fields[3]) if fields else None


def read_pid(layout, name):
    """(pid, start time) recorded for lab process ``name``, or (None, None)."""
    try:
        with open(layout.pid_file(name)) as f:
            words = f.read().split()
        return int(words[0]), (words[1] if len(words) > 1 else None)
    except (FileNotFoundError, ValueError, IndexError):
        return None, None


def live_pid(layout, name):
    """The pid of lab process ``name`` if it is running, else None."""
    pid, start = read_pid(layout, name)
    if pid and process_state(pid) and _start_time(pid) == start:
        return pid
    return None


def lab_env(extra=None):
    """Environment for lab processes: no inherited virtualenv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('VIRTUAL_ENV', 'PYTHONPATH', 'PYTHONHOME')}
    env.update(extra or {})
    return env


def spawn(layout, name, argv, env=None):
    """Start ``argv`` detached in its own session; record its pid."""
    with open(os.path.join(layout.logs, name + '.out'), 'ab') as out:
        proc = subprocess.Popen(
            argv, env=lab_env(env), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=layout.root)
    with open(layout.pid_file(name), 'w') as f:
        f.write('%d %s\n' % (proc.pid, _start_time(proc.pid)))
    return proc.pid


def signal_group(layout, name, sig):
    """Send ``sig`` to lab process ``name`` and its process group."""
    pid = live_pid(layout, name)
    if not pid:
        return None
    try:
        os.killpg(pid, sig)      # each lab process leads its own group
    except ProcessLookupError:
        return None
    return pid


def stop(layout, names, grace=10.0):
    """SIGTERM the named lab processes, SIGKILL what is left after grace."""
    pids = {}
    for name in names:
        pid = live_pid(layout, name)
        if pid:
            pids[name] = pid
            signal_group(layout, name, signal.SIGCONT)
            signal_group(layout, name, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(map(process_state,
                                                  pids.values())):
        time.sleep(0.1)
    for name, pid in pids.items():
        if process_state(pid):
            say('%s (pid %d) ignored SIGTERM: SIGKILL' % (name, pid))
            signal_group(layout, name, signal.SIGKILL)
        say('stopped %s (pid %d)' % (name, pid))
    for name in names:
        try:
            os.unlink(layout.pid_file(name))
        except FileNotFoundError:
            pass
    return pids


def sessions_processes(sessions):
    """Pids of live processes in any of ``sessions``."""
    pids = []
    for entry in os.listdir('/proc'):
        if entry.isdigit() and _session(int(entry)) in sessions:
            if process_state(int(entry)):
                pids.append(int(entry))
    return pids


def lab_sessions(layout):
    """Session ids of the live lab processes (from their pid files)."""
    if not os.path.isdir(layout.run):
        return set()
    names = [f[:-4] for f in os.listdir(layout.run) if f.endswith('.pid')]
    return {pid for pid in (live_pid(layout, n) for n in names) if pid}


def memory_mb(pids):
    """(RSS, PSS) in MB summed over ``pids``."""
    rss = pss = 0
    for pid in pids:
        try:
            with open('/proc/%d/smaps_rollup' % pid) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith('Rss:'):
                rss += int(line.split()[1])
            elif line.startswith('Pss:'):
                pss += int(line.split()[1])
    return rss / 1024.0, pss / 1024.0
