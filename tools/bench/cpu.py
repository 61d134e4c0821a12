"""Where the machine's CPU went while a case was measured.

The lab runs Nova, its database and broker, and vmha on one small machine,
so a recovery's speed is bounded by CPU as much as by orchestration. Each
case snapshots the CPU time of every process before the failure and after
the last confirmation; the difference, per process group, says whether the
machine was saturated and who used it (vmha's own processes included).
"""

import psutil

from tools.bench import api_requests

#: group -> substrings of a command line that put a process in it
GROUPS = (
    ('vmha-monitor', ('vmha.cmd.monitor',)),
    ('vmha-agents', ('vmha.cmd.agent',)),
    # tools/lab/lab_masakari.py (lab up --with masakari)
    ('masakari', ('masakari-engine', 'masakari_api_wsgi')),
    ('nova-api', ('nova_api_wsgi',)),
    ('nova-conductor', ('nova-conductor',)),
    ('nova-scheduler', ('nova-scheduler',)),
    ('nova-compute', ('nova-compute',)),
    ('placement', ('placement.wsgi',)),
    ('keystone', ('keystone_wsgi', 'venv-keystone')),
    ('mariadb', ('mariadbd',)),
    ('rabbitmq', ('beam.smp',)),
)


def group_of(cmdline):
    """The group of a process's command line, or None (not accounted)."""
    text = ' '.join(cmdline)
    for name, needles in GROUPS:
        if any(needle in text for needle in needles):
            return name
    return None


def _busy(times):
    """Busy seconds, at the kernel's resolution (1/100 s): summing the
    fields in floating point otherwise lets a later reading come out a
    hair below an earlier one."""
    idle = times.idle + getattr(times, 'iowait', 0.0)
    return round(sum(times) - idle, 2)


def snapshot():
    """The machine's busy CPU seconds and {pid: (group, cpu seconds)}."""
    procs = {}
    for proc in psutil.process_iter(['cmdline', 'cpu_times']):
        group = group_of(proc.info['cmdline'] or ())
        times = proc.info['cpu_times']
        if group and times is not None:
            procs[proc.pid] = (group, times.user + times.system)
    return {'busy': _busy(psutil.cpu_times()), 'procs': procs,
            'nova_api_log': api_requests.mark()}


def usage(before, after, seconds):
    """CPU used between two snapshots, over ``seconds`` of wall time:
    the machine's busy share of all cores, and seconds per group (a process
    started in between counts from zero; one that ended is not counted)."""
    groups = {}
    for pid, (group, cpu) in after['procs'].items():
        start = before['procs'].get(pid, (group, 0.0))[1]
        groups[group] = groups.get(group, 0.0) + max(0.0, cpu - start)
    cores = psutil.cpu_count() or 1
    return {
        'seconds': round(seconds, 1),
        'cores': cores,
        'machine_busy_percent': round(
            100.0 * (after['busy'] - before['busy']) / (seconds * cores), 1),
        'groups': {name: round(value, 1) for name, value in sorted(
            groups.items(), key=lambda item: -item[1])},
        'nova_api_requests': api_requests.count(
            before.get('nova_api_log'), after.get('nova_api_log')),
    }
