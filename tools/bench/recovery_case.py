"""One recovery, measured: servers on hostA, hostA fails, vmha recovers.

Inside the lab lock: reset the lab, boot the servers on hostA, start one
vmha-agent per host and a vmha-monitor (real processes, Redis
heartbeats), then fail hostA as a power loss does: ``lab fail hostA --mode
bmc`` powers it off through its BMC (its nova-compute dies) and its agent is
SIGKILLed; or as a hung host does (case ``failure`` ``hung``): ``lab fail
hostA --mode stop`` SIGSTOPs its nova-compute and its agent is SIGSTOPped,
its BMC still says on. The failure instant is taken when both are stopped;
every other instant is the one vmha recorded in its database.
"""

import signal
import time

from vmha.db import api as db_api

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib
from tools.lab.access import monitors as lab_monitors
from tools.bench import cpu
from tools.bench import lablock
from tools.bench import phases
from tools.bench import plan
from tools.bench import vmhaconf

SOURCE = 'hostA'


def _overrides(case):
    options = {'recovery.quick_evacuate_level': case.level}
    if case.workers:
        options['evacuation.max_workers'] = case.workers
    return options


def _fail(agents, failure):
    """Fail hostA as ``failure`` says; return when."""
    hung = failure == plan.HUNG
    lablib.lab('fail', SOURCE, '--mode', 'stop' if hung else 'bmc')
    failed_at = time.time()
    agents.procs[SOURCE].signal(signal.SIGSTOP if hung else signal.SIGKILL)
    return failed_at


def _final(db, timeout, monitor, host=SOURCE):
    """The recovery of ``host`` once it is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        recs = [r for r in db.list_recoveries(host=host)
                if r.state in db_api.FINAL_STATES]
        if recs:
            return recs[0]
        if not monitor.alive():
            raise RuntimeError('vmha-monitor died during the recovery')
        time.sleep(0.5)
    raise RuntimeError('no final recovery of %s after %ss' % (host,
                                                             timeout))


def _result(db, rec, failed_at, count):
    marks = {name: phases.epoch(getattr(rec, name)) for name in phases.MARKS}
    rel = phases.relative_marks(failed_at, marks)
    evacs = db.list_evacuations(rec.id)
    done = [e for e in evacs if e.status == db_api.EVAC_DONE]
    ok = rec.state == db_api.COMPLETED and len(done) == count
    return {
        'ok': ok,
        'error': None if ok else '%s, %d of %d evacuated: %s' % (
            rec.state, len(done), count, rec.error or '; '.join(
                '%s: %s' % (e.instance_id, e.reason) for e in evacs
                if e.status != db_api.EVAC_DONE)),
        'recovery_id': rec.id, 'state': rec.state, 'failed_at': failed_at,
        'marks': rel, 'figures': phases.figures(rel),
        'evacuations': phases.evacuation_spans(
            failed_at, [(phases.epoch(e.issued_at),
                         phases.epoch(e.confirmed_at)) for e in evacs]),
    }


def run(case, workdir, lab_info, waits, after=None):
    """Measure ``case`` (plan.Case of kind recovery); return its result.

    ``after()``, if given, runs while the lab lock is still held (Nova's
    view of the recovered servers, before anyone resets the lab); the dict
    it returns is added to the result.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with lablock.held(waits):
        lablib.lab('reset')
        lablib.boot(case.count, SOURCE, prefix='bench')
        conf, config, db = vmhaconf.setup(workdir, lab_info,
                                          **_overrides(case))
        lablib.add_lab_hosts(db, lab_info)
        agents = agentlib.Agents(workdir, config, conf)
        monitor = None
        try:
            agents.start(*lablib.HOSTS)
            monitor = lab_monitors.MonitorProcess(config,
                                                  workdir / 'monitor.log')
            monitor.wait_for_log(lab_monitors.WATCHING)
            # a few polls: the monitor has seen every agent alive
            time.sleep(2 * vmhaconf.POLL_INTERVAL)
            before = cpu.snapshot()
            failed_at = _fail(agents, case.failure)
            rec = _final(db, 120 + 10 * case.count, monitor)
            used = cpu.usage(before, cpu.snapshot(), time.time() - failed_at)
        finally:
            if monitor:
                monitor.stop()
            agents.close()
        result = _result(db, rec, failed_at, case.count)
        result['cpu'] = used
        result['microversion'] = vmhaconf.microversion(
            workdir / 'monitor.log')
        db.dispose()
        if after:
            result.update(after())
    return result
