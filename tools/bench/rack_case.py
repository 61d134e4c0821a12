"""A rack lost: 2 of 6 hosts fail at the same moment, 25 servers each.

Inside the lab lock the lab is grown to six hosts (``lab up --hosts 6``,
tools.lab.access.lab.more_hosts) and shrunk back to three before the lock
is released. hostA and hostB get 25 servers each; ``lab fail hostA hostB``
powers both off through their BMCs at once (one thread each), and the clock
starts when both computes are dead.

* ``rack`` (vmha, level 2): one vmha-agent per host and a vmha-monitor, as
  in a recovery case; both agents are SIGKILLed with their hosts. The
  figure is the failure -> last instance confirmed (both recoveries), from
  vmha's recorded instants.
* ``rack_baseline`` (bare Nova): both services forced down, the 50
  evacuate calls issued at once, one listing every 0.5 s until every server
  is ACTIVE elsewhere (tools.bench.baseline), counted from the same
  failure instant: a floor no detector can reach, since it knows of the
  failure the moment it happens.
"""

import signal
import time

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib
from tools.lab.access import monitors as lab_monitors
from tools.bench import baseline
from tools.bench import cpu
from tools.bench import lablock
from tools.bench import plan
from tools.bench import recovery_case
from tools.bench import vmhaconf

LAB_HOSTS = 6
FAILED = ('hostA', 'hostB')


def boot(count):
    """``count`` servers on each failed host; their ids."""
    return [s['id'] for host in FAILED
            for s in lablib.boot(count, host, prefix='rack-' + host)]


def fail():
    """Power the failed hosts off together; the instant both are dead."""
    lablib.lab('fail', *FAILED, '--mode', 'bmc')
    return time.time()


def combine(results):
    """One figure set for the rack from each host's recovery result: the
    rack is recovered when its last host is."""
    ok = all(r['ok'] for r in results)
    figures = {key: max((r['figures'][key] for r in results
                         if r['figures'].get(key) is not None),
                        default=None)
               for key in ('detection', 'first_evacuation',
                           'last_confirmed', 'rto')}
    return {
        'ok': ok,
        'error': None if ok else '; '.join(
            r['error'] for r in results if r['error']),
        'figures': figures,
        'hosts': {host: {'recovery_id': r['recovery_id'],
                         'figures': r['figures']}
                  for host, r in zip(FAILED, results)},
        'evacuations': sorted(span for r in results
                              for span in r['evacuations']),
    }


def _vmha(case, workdir, info):
    count = case.count * len(FAILED)
    boot(case.count)
    conf, config, db = vmhaconf.setup(
        workdir, info, **{'recovery.quick_evacuate_level': case.level})
    lablib.add_lab_hosts(db, info)
    agents = agentlib.Agents(workdir, config, conf)
    monitor = None
    try:
        agents.start(*sorted(info['hosts']))
        monitor = lab_monitors.MonitorProcess(config,
                                              workdir / 'monitor.log')
        monitor.wait_for_log(lab_monitors.WATCHING)
        time.sleep(2 * vmhaconf.POLL_INTERVAL)
        before = cpu.snapshot()
        failed_at = fail()
        for host in FAILED:
            agents.procs[host].signal(signal.SIGKILL)
        recs = [recovery_case._final(db, 120 + 10 * count, monitor, host)
                for host in FAILED]
        used = cpu.usage(before, cpu.snapshot(), time.time() - failed_at)
    finally:
        if monitor:
            monitor.stop()
        agents.close()
    result = combine([recovery_case._result(db, rec, failed_at, case.count)
                      for rec in recs])
    result.update(cpu=used, failed_at=failed_at,
                  microversion=vmhaconf.microversion(workdir / 'monitor.log'))
    db.dispose()
    return result


def _bare(case, workdir, info):
    ids = boot(case.count)
    client = baseline._client(workdir, info)
    before = cpu.snapshot()
    failed_at = fail()
    for host in FAILED:
        baseline._force_down(client, host)
    answered = baseline._evacuate_all(client, ids)
    confirmed = baseline._confirm(client, ids, 120 + 5 * len(ids), FAILED)
    used = cpu.usage(before, cpu.snapshot(), time.time() - failed_at)
    return {'ok': True, 'error': None, 'cpu': used,
            'microversion': client.api_version.get_string(),
            'seconds': round(max(confirmed.values()) - failed_at, 3),
            'calls_seconds': round(answered - failed_at, 3)}


def run(case, workdir, lab_info, waits):
    """Measure ``case`` (kind rack or rack_baseline); return its result."""
    workdir.mkdir(parents=True, exist_ok=True)
    with lablock.held(waits), lablib.more_hosts(LAB_HOSTS) as info:
        lablib.lab('reset')
        if case.kind == plan.RACK_BASELINE:
            return _bare(case, workdir, info)
        return _vmha(case, workdir, info)
