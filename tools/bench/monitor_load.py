"""What watching many agents costs the monitor: CPU of one core and RSS.

A swarm process (tools.bench.swarm) keeps ``members`` tooz members alive on
the real Redis in a group private to this run; a real vmha-monitor, with
the benchmark's detection settings and the lab's Nova as its second source,
watches them. After a warm-up, the monitor process's CPU time and RSS are
sampled once a second for ``seconds``. The lab lock is held although the
lab barely notices: the swarm's CPU would disturb the timing of a test
running meanwhile.
"""

import subprocess
import sys
import time

import psutil

from tests.functional import agents as agentlib
from tests.functional import lab_monitors
from tools.bench import lablock
from tools.bench import stats
from tools.bench import vmhaconf

WARMUP = 10.0


def _swarm(config, members):
    proc = subprocess.Popen(
        [sys.executable, '-m', 'tools.bench.swarm', config, str(members),
         agentlib.unique('bench-member')], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith('joined'):
        proc.kill()
        raise RuntimeError('the member swarm did not start: %r' % line)
    return proc


def _cpu(proc):
    times = proc.cpu_times()
    return times.user + times.system


def sample(pid, seconds):
    """(CPU % of one core, [RSS MB each second]) of ``pid``."""
    proc = psutil.Process(pid)
    rss = []
    cpu0, wall0 = _cpu(proc), time.monotonic()
    while time.monotonic() - wall0 < seconds:
        rss.append(proc.memory_info().rss / 2 ** 20)
        time.sleep(1.0)
    cpu = (_cpu(proc) - cpu0) / (time.monotonic() - wall0) * 100
    return round(cpu, 2), rss


def run(case, workdir, lab_info, waits, members=1000, seconds=60.0):
    """Measure the monitor's load; return the result."""
    workdir.mkdir(parents=True, exist_ok=True)
    with lablock.held(waits):
        conf, config, db = vmhaconf.setup(workdir, lab_info)
        observer = agentlib.Agents(workdir, config, conf)
        swarm = monitor = None
        try:
            swarm = _swarm(config, members)
            monitor = lab_monitors.MonitorProcess(config,
                                                  workdir / 'monitor.log')
            monitor.wait_for_log(lab_monitors.WATCHING)
            time.sleep(WARMUP)
            swarm_cpu0 = _cpu(psutil.Process(swarm.pid))
            cpu, rss = sample(monitor.pid, seconds)
            swarm_cpu = (_cpu(psutil.Process(swarm.pid)) - swarm_cpu0) / (
                seconds) * 100
            alive = len(observer.members())
            monitor_ok = monitor.alive()
        finally:
            if monitor:
                monitor.stop()
            if swarm:
                swarm.terminate()
                swarm.wait(60)
            observer.close()
            db.dispose()
    return dict(vmhaconf.timings(), **{
        'ok': monitor_ok and alive == members, 'error': None if (
            monitor_ok and alive == members) else
        'monitor alive: %s, %d of %d members alive' % (monitor_ok, alive,
                                                       members),
        'members': members, 'members_alive': alive, 'seconds': seconds,
        'cpu_percent': cpu, 'rss_mb_max': round(max(rss), 1),
        'rss_mb_median': stats.median(rss),
        'swarm_cpu_percent': round(swarm_cpu, 1)})
