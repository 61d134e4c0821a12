"""Self-fencing by watchdog: drivers, the agent's petting rule, the proof.

The ``linux`` driver runs against a regular file standing in for
/dev/watchdog (and /dev/null, a character device on which the watchdog
ioctls fail); the ``lab`` driver against the lab's real stand-in process.
No test ever opens a real watchdog.
"""

import json
import os
import signal
import struct
import subprocess
import sys
import time

import pytest

from vmha import agent as agent_mod
from vmha.drivers.watchdog import lab as lab_driver
from vmha.drivers.watchdog import linux
from vmha.drivers.watchdog import none
from vmha import exception
from vmha import watchdog
from tests.unit.conftest import make_conf
from tests.unit import fakes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
STAND_IN = os.path.join(ROOT, 'tools', 'lab', 'files', 'lab_watchdog.py')


# -- the linux driver ---------------------------------------------------------

def test_ioctl_numbers_are_the_kernels():
    # <linux/watchdog.h>: _IOR('W', 5, int), _IOWR('W', 6, int), _IOR(.., 7)
    assert linux.WDIOC_KEEPALIVE == 0x80045705
    assert linux.WDIOC_SETTIMEOUT == 0xC0045706
    assert linux.WDIOC_GETTIMEOUT == 0x80045707


def _linux(path, ioctl=None, timeout=10):
    conf = make_conf(watchdog__driver='linux', watchdog__device=str(path),
                     watchdog__timeout=timeout)
    return linux.LinuxWatchdog(conf, ioctl=ioctl)


def test_linux_driver_on_a_stand_in_file_pets_and_magic_closes(tmp_path):
    device = tmp_path / 'watchdog'
    device.write_bytes(b'')
    calls = []
    drv = _linux(device, ioctl=lambda *a: calls.append(a))
    drv.validate()
    assert drv.arm(10) == 10 and drv.armed
    assert drv.is_device is False and calls == []    # no ioctl on a file
    drv.pet()
    drv.pet()
    drv.disarm()
    assert not drv.armed
    # arming pets once; pets never write "V"; the magic close does, last
    assert device.read_bytes() == linux.PET * 3 + linux.MAGIC_CLOSE
    drv.pet()                                          # disarmed: nothing
    assert device.read_bytes().endswith(linux.MAGIC_CLOSE)


def test_linux_driver_sets_and_reads_back_the_timeout_on_a_device():
    """/dev/null is a character device: the ioctls are made (here through a
    fake that rounds like some hardware does) and the timeout read back is
    the one reported."""
    calls = []

    def ioctl(fd, request, arg):
        calls.append((request, struct.unpack('i', arg)[0]))
        return struct.pack('i', 12)

    drv = _linux('/dev/null', ioctl=ioctl)
    assert drv.arm(10) == 12 and drv.timeout == 12 and drv.is_device
    assert calls == [(linux.WDIOC_SETTIMEOUT, 10),
                     (linux.WDIOC_GETTIMEOUT, 0)]
    drv.disarm()


def test_linux_driver_fails_cleanly_when_a_devices_ioctl_fails():
    """On a real device a failing ioctl is an error (never taken for the
    stand-in case), and the device is magic-closed so the host does not
    reset."""
    drv = _linux('/dev/null')      # the real fcntl.ioctl: ENOTTY
    with pytest.raises(exception.WatchdogError) as err:
        drv.arm(10)
    assert 'setting the timeout failed' in str(err.value)
    assert '/dev/null' in str(err.value) and not drv.armed


def test_linux_driver_refuses_a_missing_device(tmp_path):
    drv = _linux(tmp_path / 'nope')
    with pytest.raises(exception.WatchdogError, match='no such device'):
        drv.validate()
    with pytest.raises(exception.WatchdogError, match='cannot open'):
        drv.arm(10)


def test_none_driver_arms_nothing():
    drv = none.NoWatchdog(make_conf())
    assert drv.arm(10) is None and not drv.armed
    assert watchdog.report(drv, make_conf()) is None


# -- the lab driver against the lab's stand-in process ------------------------

@pytest.fixture
def stand_in(tmp_path):
    """The stand-in watchdog with a chassis control that records calls."""
    chassis = tmp_path / 'chassis.sh'
    chassis.write_text('#!/bin/sh\necho "$@" >> %s\n' % (tmp_path / 'calls'))
    sock, log = tmp_path / 'wd.sock', tmp_path / 'wd.log'
    proc = subprocess.Popen(
        [sys.executable, STAND_IN, '--socket', str(sock), '--host-env',
         '/dev/null', '--chassis-control', str(chassis), '--log', str(log)])
    fakes_wait(lambda: sock.exists())
    yield sock, log, tmp_path / 'calls'
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def fakes_wait(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.02)


def _events(log):
    return [json.loads(line)['event'] for line in log.read_text().split(
        '\n') if line]


def _lab(sock):
    return lab_driver.LabWatchdog(make_conf(watchdog__driver='lab',
                                            watchdog__device=str(sock)))


def test_lab_driver_disarmed_stand_in_never_fires(stand_in):
    sock, log, calls = stand_in
    drv = _lab(sock)
    drv.validate()
    assert drv.arm(1) == 1
    for _ in range(3):
        drv.pet()
    drv.disarm()
    time.sleep(1.5)
    assert _events(log) == ['listening', 'armed', 'disarmed']
    assert not calls.exists()


def test_lab_stand_in_resets_the_host_when_its_agent_dies(stand_in):
    """Closed without the magic close (the agent was killed): it keeps
    counting, powers the host off through its chassis control and kills
    the armed process."""
    sock, log, calls = stand_in
    victim = subprocess.Popen(['sleep', '60'])
    drv = _lab(sock)
    drv.arm(1)
    drv._sock.sendall(b'arm 1 %d\n' % victim.pid)    # the agent is victim
    drv._sock.recv(64)
    drv._sock.close()                                 # no "V"
    fakes_wait(lambda: 'host-powered-off' in _events(log))
    assert calls.read_text().split() == ['/dev/null', 'set', 'power', '0']
    assert victim.wait(5) == -signal.SIGKILL
    assert _events(log)[-3:] == ['closed-without-magic-close', 'fired',
                                 'host-powered-off']


# -- the agent ----------------------------------------------------------------

class FakeWatchdog:
    name = 'fake'

    def __init__(self, journal):
        self.timeout = None
        self.journal = journal

    @property
    def armed(self):
        return self.timeout is not None

    def validate(self):
        pass

    def arm(self, timeout):
        self.journal.append('arm')
        self.timeout = timeout
        return timeout

    def pet(self):
        self.journal.append('pet')

    def disarm(self):
        self.journal.append('disarm')
        self.timeout = None


class SlowMembership:
    """A Membership whose heartbeat takes ``took`` seconds of ``clock``."""

    group = 'vmha-agents'

    def __init__(self, clock, journal):
        self.clock = clock
        self.journal = journal
        self.took = 0.0
        self.error = None
        self.joined = None

    def heartbeat(self):
        self.clock.advance(self.took)
        if self.error:
            raise self.error
        self.journal.append('heartbeat')

    def is_member(self, host):
        return self.joined is not None

    def join(self, host, capabilities):
        self.joined = capabilities

    def leave(self, host):
        self.journal.append('leave')

    def close(self):
        pass


@pytest.fixture
def armed_agent():
    journal, clock = [], fakes.Clock()
    conf = make_conf(agent__host='c1', watchdog__driver='lab',
                     watchdog__timeout=10, watchdog__margin=1.0,
                     coordination__heartbeat_interval=1.0,
                     coordination__heartbeat_timeout=5.0)
    membership = SlowMembership(clock, journal)
    made = agent_mod.Agent(conf, connect=lambda conf, host: membership,
                           watchdog=FakeWatchdog(journal), clock=clock)
    return made, membership, journal


def test_agent_pets_only_after_a_heartbeat_that_reached_the_backend(
        armed_agent):
    agent, membership, journal = armed_agent
    agent.beat()
    assert journal == ['heartbeat', 'arm', 'pet']
    assert membership.joined['watchdog'] == {'driver': 'fake',
                                             'timeout': 10, 'margin': 1.0}
    membership.error = exception.CoordinationError(
        backend='redis://x', action='heartbeat', reason='refused')
    for _ in range(20):            # long past timeout - margin: never pets
        agent.beat()
    assert journal.count('pet') == 1
    membership.error = None
    agent.beat()                    # back: pets again
    assert journal[-2:] == ['heartbeat', 'pet'] and agent.pets == 2


def test_agent_does_not_pet_for_a_heartbeat_older_than_the_margin(
        armed_agent):
    """A heartbeat that took longer than the margin (slow backend, stalled
    agent) may have been written long before the pet: no pet."""
    agent, membership, journal = armed_agent
    membership.took = 1.5
    agent.beat()
    assert 'pet' not in journal and agent.beats == 1 and 'arm' in journal
    membership.took = 0.5
    agent.beat()
    assert journal[-1] == 'pet'


def test_agent_planned_stop_disarms_before_it_marks_the_stop(armed_agent):
    agent, membership, journal = armed_agent
    agent.beat()
    agent.leave()
    assert journal[-2:] == ['disarm', 'leave']
    agent.disarm()                  # the stop signal's cleanup: idempotent
    assert journal.count('disarm') == 1


def test_agent_arms_only_once_the_backend_answered(armed_agent):
    """A host that boots while the backend is unreachable is not reset in a
    loop: nothing is armed before a heartbeat succeeded."""
    agent, membership, journal = armed_agent
    membership.error = exception.CoordinationError(
        backend='redis://x', action='heartbeat', reason='refused')
    agent.beat()
    assert journal == [] and not agent.watchdog.armed
    membership.error = None
    agent.beat()
    agent.beat()
    assert journal == ['heartbeat', 'arm', 'pet', 'heartbeat', 'pet']


def test_unarmed_agent_reports_no_watchdog():
    conf = make_conf(agent__host='c1')
    made = agent_mod.Agent(conf, connect=lambda *a: None)
    assert isinstance(made.watchdog, none.NoWatchdog)
    assert made.capabilities['watchdog'] is None


@pytest.mark.parametrize('options, message', [
    ({'watchdog__timeout': 4, 'watchdog__margin': 2.0}, 'less than half'),
    ({'watchdog__timeout': 3, 'watchdog__margin': 0.5,
      'coordination__heartbeat_interval': 2.0,
      'coordination__heartbeat_timeout': 5.0}, 'at least twice'),
])
def test_watchdog_timing_a_healthy_agent_cannot_keep_is_refused(options,
                                                                message):
    conf = make_conf(agent__host='c1', watchdog__driver='linux', **options)
    with pytest.raises(exception.ConfigError, match=message):
        agent_mod.Agent(conf, connect=lambda *a: None,
                        watchdog=FakeWatchdog([]))


# -- the proof ----------------------------------------------------------------

REPORT = {'driver': 'linux', 'timeout': 10.0, 'margin': 1.0}


@pytest.mark.parametrize('caps, armed', [
    ({'watchdog': {'driver': 'linux', 'timeout': 10, 'margin': 1}},
     {'driver': 'linux', 'timeout': 10.0, 'margin': 1.0}),
    ({'watchdog': None}, None),
    ({}, None),                                   # an older agent
    (None, None),                                 # capabilities unread
    ({'watchdog': {'timeout': 'x', 'margin': 1}}, None),
    ({'watchdog': {'timeout': 0, 'margin': 1}}, None),
])
def test_only_a_well_formed_report_counts_as_armed(caps, armed):
    assert watchdog.armed_report(caps) == armed


def test_evidence_window_is_timeout_plus_both_margins():
    ev = watchdog.Evidence.from_report(REPORT, last_alive=1000.0,
                                       observed_at=1004.0, expiry=2.5,
                                       margin=2.0)
    assert ev.window == 13.0
    # never earlier than the last time it was seen alive
    assert ev.expires_at == 1000.0 + 1.5 + 13.0
    late = watchdog.Evidence.from_report(REPORT, last_alive=1000.0,
                                         observed_at=1010.0, expiry=2.5,
                                         margin=2.0)
    assert late.expires_at == 1010.0 - 2.5 + 13.0


@pytest.mark.parametrize('err, silent', [
    (exception.BMCUnreachable(host='h', bmc='b', reason='refused'), True),
    (exception.BMCTimeout(host='h', bmc='b', operation='power off',
                          timeout=2), True),
    (exception.NoPowerControl(host='h', bmc='b', driver='watchdog'), True),
    (exception.PowerOffUnconfirmed(host='h', bmc='b', polls=3, elapsed=1.0,
                                   state='unknown', last_error=''), True),
    # a BMC that answers is never overridden
    (exception.PowerOffUnconfirmed(host='h', bmc='b', polls=3, elapsed=1.0,
                                   state='on', last_error=''), False),
    (exception.BMCAuthError(host='h', bmc='b', reason='bad password'), False),
    (exception.HostNotFenceable(host='h', reason='x'), False),
])
def test_only_a_silent_bmc_may_be_replaced_by_the_watchdog(err, silent):
    assert watchdog.bmc_cannot_confirm(err) is silent


@pytest.fixture
def watch_conf():
    # redis: expiry = heartbeat_timeout - heartbeat_interval = 2.5
    return make_conf(coordination__backend_url='redis://127.0.0.1:1',
                     coordination__heartbeat_interval=0.5,
                     coordination__heartbeat_timeout=3.0)


def _watch(conf, clock, membership, evidence):
    return watchdog.HeartbeatWatch(conf, 'c2', evidence,
                                   connect=lambda *a: membership,
                                   clock=clock)


def test_watch_proves_the_reset_at_the_deadline_and_not_before(watch_conf):
    clock = fakes.Clock(2000.0)
    agents = fakes.FakeMembership(['c1'])
    ev = watchdog.Evidence(expires_at=1990.0 + 13.0, window=13.0)
    w = _watch(watch_conf, clock, agents, ev)
    w.observe()
    # its first look may follow an unobserved stretch: B = now - expiry
    assert w.deadline == 2000.0 - 2.5 + 13.0
    while clock.now < w.deadline:
        assert w.proven() is None
        clock.advance(w.interval)
        w.observe()
    assert w.wait() == clock.now >= 2010.5


def test_watch_gives_up_when_it_cannot_observe(watch_conf):
    clock = fakes.Clock(2000.0)
    agents = fakes.FakeMembership(['c1'])
    agents.error = exception.CoordinationError(backend='b', action='a',
                                               reason='r')
    w = _watch(watch_conf, clock, agents,
               watchdog.Evidence(expires_at=2000.0, window=1.0))
    w.observe()
    ticks = iter(range(100))
    w._clock = lambda: clock.now + 10 * next(ticks)
    with pytest.raises(exception.WatchdogUnproven, match='could not'):
        w.wait(sleep=0.001)


def test_a_gap_in_the_observations_moves_the_deadline(watch_conf):
    clock = fakes.Clock(2000.0)
    agents = fakes.FakeMembership(['c1'])
    w = _watch(watch_conf, clock, agents,
               watchdog.Evidence(expires_at=2000.0, window=13.0))
    w.observe()
    first = w.deadline
    clock.advance(1.0)
    w.observe()
    assert w.deadline == first               # closer than expiry: covered
    clock.advance(4.0)                       # a gap longer than expiry
    agents.error = exception.CoordinationError(backend='b', action='a',
                                               reason='r')
    w.observe()                              # a failed look is no look
    assert w.deadline == first
    agents.error = None
    w.observe()
    assert w.deadline == clock.now - 2.5 + 13.0 > first


def test_a_heartbeat_seen_again_voids_the_proof(watch_conf):
    clock = fakes.Clock(2000.0)
    agents = fakes.FakeMembership(['c1'])
    w = _watch(watch_conf, clock, agents,
               watchdog.Evidence(expires_at=2000.0, window=13.0))
    w.observe()
    agents.current.add('c2')
    clock.advance(0.5)
    w.observe()
    agents.current.discard('c2')
    clock.advance(60)
    w.observe()
    with pytest.raises(exception.WatchdogUnproven, match='in the group'):
        w.wait()


def test_watch_thread_observes_until_stopped(watch_conf):
    agents = fakes.FakeMembership(['c1'])
    w = _watch(watch_conf, time.time, agents,
               watchdog.Evidence(expires_at=time.time(), window=0.3))
    w.interval = 0.05
    w.start()
    proven = w.wait()
    w.stop()
    w._thread.join(5)
    assert proven >= w.deadline and agents.closed


# -- FenceHost: which proof, and the refusal ----------------------------------

class FakeWatch:
    """A HeartbeatWatch whose outcome is scripted."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.deadline = 2000.0
        self.started = self.stopped = False

    def __call__(self, conf, host, evidence):
        self.evidence = evidence
        return self

    def start(self):
        self.started = True
        return self

    def stop(self):
        self.stopped = True

    def wait(self):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


EVIDENCE = watchdog.Evidence(expires_at=2000.0, window=13.0)
UNREACHABLE = exception.BMCUnreachable(host='hostA', bmc='192.0.2.10:623',
                                       reason='no route to host')


def _fence(make_ctx, drv, evidence, watch):
    from vmha.tasks import fencing as fencing_tasks
    ctx = make_ctx(fencing_driver=drv, watchdog=evidence,
                   heartbeat_watch=watch)
    return ctx, fencing_tasks.FenceHost(ctx)


def test_silent_bmc_armed_host_is_fenced_by_its_watchdog(make_ctx, db,
                                                         dispatcher):
    watch = FakeWatch(2001.0)
    ctx, task = _fence(make_ctx, fakes.FakeFencingDriver(
        off_error=UNREACHABLE), EVIDENCE, watch)
    result = task.execute()
    assert result['proof'] == watchdog.PROOF_WATCHDOG
    assert watch.started and watch.stopped and watch.evidence == EVIDENCE
    rec = db.get_recovery(ctx.recovery_id)
    assert (rec.fence_proof, rec.fence_confirmed) == (
        watchdog.PROOF_WATCHDOG, True)
    assert rec.fenced_at is not None
    assert rec.watchdog_expires_at == watchdog.to_utc(2000.0)
    [event] = dispatcher.of_type('vmha.host.fence.end')
    assert event.payload['proof'] == watchdog.PROOF_WATCHDOG
    assert 'no route to host' in event.payload['bmc_error']


def test_a_bmc_that_confirms_is_the_proof_even_when_armed(make_ctx, db):
    watch = FakeWatch(exception.WatchdogUnproven(host='hostA', bmc='-',
                                                 reason='never asked'))
    ctx, task = _fence(make_ctx, fakes.FakeFencingDriver(), EVIDENCE, watch)
    assert task.execute()['proof'] == watchdog.PROOF_BMC
    assert db.get_recovery(ctx.recovery_id).fence_proof == \
        watchdog.PROOF_BMC
    assert watch.stopped


@pytest.mark.parametrize('drv, evidence, outcome, error', [
    # no watchdog evidence: today's refusal
    (fakes.FakeFencingDriver(off_error=UNREACHABLE), None, 2001.0,
     exception.BMCUnreachable),
    # a BMC that answers "still on" is never overridden
    (fakes.FakeFencingDriver(stays_on=True), EVIDENCE, 2001.0,
     exception.PowerOffUnconfirmed),
    # the host's heartbeat came back while waiting
    (fakes.FakeFencingDriver(off_error=UNREACHABLE), EVIDENCE,
     exception.WatchdogUnproven(host='hostA', bmc='-',
                                reason='its agent is in the group again'),
     exception.WatchdogUnproven),
])
def test_no_proof_no_evacuation(make_ctx, db, dispatcher, drv, evidence,
                                outcome, error):
    watch = FakeWatch(outcome)
    ctx, task = _fence(make_ctx, drv, evidence, watch)
    with pytest.raises(error):
        task.execute()
    rec = db.get_recovery(ctx.recovery_id)
    assert rec.fence_confirmed is False and rec.fenced_at is None
    assert rec.fence_proof is None
    assert dispatcher.of_type('vmha.host.fence.error')


def test_watchdog_fencing_driver_has_no_bmc(make_ctx):
    from vmha.drivers.fencing import watchdog as wd_fencing
    drv = wd_fencing.WatchdogOnlyDriver(make_conf())
    ctx, task = _fence(make_ctx, drv, EVIDENCE, FakeWatch(2001.0))
    assert task.execute()['proof'] == watchdog.PROOF_WATCHDOG


def test_a_host_without_bmc_or_evidence_is_never_fenced(make_ctx):
    from vmha.drivers.fencing import watchdog as wd_fencing
    drv = wd_fencing.WatchdogOnlyDriver(make_conf())
    ctx, task = _fence(make_ctx, drv, None, FakeWatch(2001.0))
    with pytest.raises(exception.NoPowerControl):
        task.execute()


# -- the monitor: who gets the evidence ---------------------------------------

ARMED = {'watchdog': {'driver': 'linux', 'timeout': 10, 'margin': 1.0}}


@pytest.fixture
def armed_watch(conf, db, dispatcher):
    from vmha.detection import heartbeat
    from vmha.detection import nova
    from vmha import monitor
    from tests.unit.test_monitor import StubRecoverer

    clock = fakes.Clock()
    compute = fakes.FakeCompute(hosts=['c1', 'c2', 'c3', 'c4'])
    agents = fakes.FakeMembership(['c1', 'c2', 'c3', 'c4'],
                                  caps={'c2': ARMED, 'c3': ARMED})
    stub = StubRecoverer(compute, db, dispatcher)
    sources = [nova.NovaSource(conf, compute=compute, clock=clock),
               heartbeat.HeartbeatSource(conf, membership=agents,
                                         clock=clock)]
    mon = monitor.Monitor(conf, stub, sources=sources, clock=clock)
    return mon, stub, agents, compute, clock


def _fail(mon, agents, compute, clock, *hosts):
    agents.current -= set(hosts)
    for host in hosts:
        compute.services[host]['frozen'] = True
    mon.check_once()
    clock.advance(max(mon.sources[0].stale_after, mon.sources[1].settle)
                  + 0.1)
    return mon.check_once()


def test_an_armed_lost_host_is_declared_with_the_evidence(armed_watch,
                                                          conf):
    from vmha import coordination
    mon, stub, agents, compute, clock = armed_watch
    mon.check_once()
    alive_at = clock.now
    assert _fail(mon, agents, compute, clock, 'c2', 'c1') == ['c1', 'c2']
    calls = {c['host']: c for c in stub.calls}
    assert calls['c1']['watchdog'] is None          # not armed: BMC only
    evidence = calls['c2']['watchdog']
    assert evidence.window == 10 + 1.0 + conf.watchdog.margin
    bound = max(alive_at, clock.now - coordination.expiry(conf))
    assert evidence.expires_at == bound + evidence.window


def test_an_armed_host_whose_heartbeats_arrive_is_never_declared(
        armed_watch):
    mon, stub, agents, compute, clock = armed_watch
    compute.services['c3']['frozen'] = True
    compute.services['c3']['state'] = 'down'
    for _ in range(5):
        mon.check_once()
        clock.advance(10)
    assert stub.calls == []


def test_a_required_watchdog_missing_is_notified_once(armed_watch, db,
                                                      dispatcher):
    from vmha import events
    from vmha import inventory
    mon, stub, agents, compute, clock = armed_watch
    db.add_host(inventory.HostSpec(name='c1', watchdog_required=True))
    db.add_host(inventory.HostSpec(name='c2', watchdog_required=True))
    for _ in range(3):
        mon.check_once()
        clock.advance(40)
    [event] = dispatcher.of_type(events.AGENT_WATCHDOG_MISSING)
    assert event.host == 'c1'
    assert db.get_host('c1').watchdog_required is True


def test_migration_0006_keeps_existing_rows(tmp_path):
    from vmha.db import api as db_api
    from vmha.db import migration
    url = 'sqlite:///%s' % (tmp_path / 'old.sqlite')
    migration.upgrade(url, '0004')
    old = db_api.Database(url)
    with old.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO hosts (name, bmc_options, maintenance, state, "
            "reserved, created_at) VALUES ('hostA', '{}', 0, 'healthy', 0, "
            "'2026-01-01 00:00:00')")
        conn.exec_driver_sql(
            "INSERT INTO recoveries (id, host, level, state, dry_run, "
            "created_at) VALUES ('r1', 'hostA', 2, 'completed', 0, "
            "'2026-01-01 00:00:00')")
    old.dispose()
    migration.upgrade(url, '0006')
    db = db_api.Database(url)
    assert db.get_host('hostA').watchdog_required is False
    rec = db.get_recovery('r1')
    assert (rec.fence_proof, rec.watchdog_expires_at,
            rec.watchdog_window) == (None, None, None)
    db.dispose()
