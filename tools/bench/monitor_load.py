"""What watching many agents costs the monitor, and whether it still
detects a failure in time.

Swarm processes (tools.bench.swarm) keep ``members`` tooz members alive on
the real Redis in a group private to this run (up to PER_CONNECTION_MAX,
one connection per member; beyond, pipelined, several processes); real
vmha-agents on the lab's hosts join the same group, and a real
vmha-monitor, with the benchmark's detection settings and the lab's Nova
as its second source, watches them all. After a warm-up, the monitor's CPU
time and RSS and Redis's CPU time are sampled once a second for
``seconds``. Then hostA fails as in a recovery case (powered off through
its BMC, its agent killed) and the detection time is when the monitor
declared it (the recovery it started records that), so the same figure can
be compared between 10 and 10,000 members.
"""

import importlib.util
import math
import subprocess
import sys
import time

import psutil

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib
from tools.lab.access import monitors as lab_monitors
from tools.bench import lablock
from tools.bench import phases
from tools.bench import plan
from tools.bench import recovery_case
from tools.bench import stats
from tools.bench import vmhaconf

WARMUP = 10.0
#: above this many members the swarm pipelines (see tools.bench.swarm)
PER_CONNECTION_MAX = 1000
#: members per pipelined swarm process
PER_PROCESS = 2500


def swarm_slices(members):
    """[(first, count)] of the swarm processes for ``members`` members."""
    if members <= PER_CONNECTION_MAX:
        return [(1, members)]
    processes = math.ceil(members / PER_PROCESS)
    size = math.ceil(members / processes)
    return [(first, min(size, members - first + 1))
            for first in range(1, members + 1, size)]


def _swarm(config, members):
    """Start the swarm processes; return them once all joined."""
    prefix = agentlib.unique('bench-member')
    pipelined = ['--pipelined'] if members > PER_CONNECTION_MAX else []
    procs = [subprocess.Popen(
        [sys.executable, '-m', 'tools.bench.swarm', config, str(count),
         prefix, '--first', str(first)] + pipelined,
        stdout=subprocess.PIPE, text=True)
        for first, count in swarm_slices(members)]
    for proc in procs:
        line = proc.stdout.readline()
        if not line.startswith('joined'):
            for p in procs:
                p.kill()
            raise RuntimeError('the member swarm did not start: %r' % line)
    return procs


def _cpu(proc):
    times = proc.cpu_times()
    return times.user + times.system


def redis_process():
    """The machine's redis-server (psutil.Process), or None."""
    for proc in psutil.process_iter(['name']):
        if (proc.info['name'] or '').startswith('redis-server'):
            return proc
    return None


def sample(pid, seconds, others=()):
    """(CPU % of one core, [RSS MB each second], [CPU % of each of
    ``others``]) of process ``pid`` over ``seconds``."""
    proc = psutil.Process(pid)
    others = [psutil.Process(p) for p in others]
    rss = []
    cpu0, wall0 = _cpu(proc), time.monotonic()
    others0 = [_cpu(p) for p in others]
    while time.monotonic() - wall0 < seconds:
        rss.append(proc.memory_info().rss / 2 ** 20)
        time.sleep(1.0)
    wall = time.monotonic() - wall0
    cpu = (_cpu(proc) - cpu0) / wall * 100
    return (round(cpu, 2), rss, [round((_cpu(p) - c0) / wall * 100, 1)
                                 for p, c0 in zip(others, others0)])


def detect(db, agents, monitor):
    """Fail hostA, wait for its recovery; seconds to its declaration."""
    failed_at = recovery_case._fail(agents, plan.POWER_OFF)
    rec = recovery_case._final(db, 120, monitor)
    return phases.since(failed_at, phases.epoch(rec.started_at))


def run(case, workdir, lab_info, waits, seconds=60.0):
    """Measure the monitor's load at ``case.count`` members; return the
    result."""
    members = case.count
    workdir.mkdir(parents=True, exist_ok=True)
    with lablock.held(waits):
        lablib.lab('reset')
        conf, config, db = vmhaconf.setup(workdir, lab_info)
        lablib.add_lab_hosts(db, lab_info)
        agents = agentlib.Agents(workdir, config, conf)
        swarm, monitor, redis = [], None, redis_process()
        try:
            swarm = _swarm(config, members)
            agents.start(*lablib.HOSTS)
            monitor = lab_monitors.MonitorProcess(config,
                                                  workdir / 'monitor.log')
            monitor.wait_for_log(lab_monitors.WATCHING)
            time.sleep(WARMUP)
            cpu, rss, others = sample(
                monitor.pid, seconds,
                [p.pid for p in swarm] + ([redis.pid] if redis else []))
            alive = len(agents.members()) - len(lablib.HOSTS)
            detection = detect(db, agents, monitor)
            monitor_ok = monitor.alive()
        finally:
            if monitor:
                monitor.stop()
            for proc in swarm:
                proc.terminate()
            for proc in swarm:
                proc.wait(60)
            agents.close()
            db.dispose()
    ok = monitor_ok and alive == members
    return dict(vmhaconf.timings(), **{
        'ok': ok, 'error': None if ok else
        'monitor alive: %s, %d of %d members alive' % (monitor_ok, alive,
                                                       members),
        'members': members, 'members_alive': alive, 'seconds': seconds,
        'swarm_processes': len(swarm),
        # redis-py parses replies in C with hiredis (the `redis` extra)
        'hiredis': importlib.util.find_spec('hiredis') is not None,
        'pipelined': members > PER_CONNECTION_MAX,
        'cpu_percent': cpu, 'rss_mb_max': round(max(rss), 1),
        'rss_mb_median': stats.median(rss),
        'swarm_cpu_percent': round(sum(others[:len(swarm)]), 1),
        'redis_cpu_percent': others[-1] if redis else None,
        'detection': detection})
