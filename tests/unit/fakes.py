"""In-memory stand-ins for unit tests (the functional suite uses real Nova)."""

import dataclasses
import threading

from vmha import compute
from vmha import exception
from vmha.drivers.fencing import base as fencing_base


class FakeCompute:
    """Enough of vmha.compute.ComputeAPI to drive the flows.

    ``evacuate`` moves an instance after ``rebuild_polls`` reads of it
    (get_instance, or a list_changed_instances that shows it), to ``hostB``
    (or the requested host); ``end_stopped`` mimics 2.95+. The listing
    shows every instance (as if each had changed): the watcher wakes only
    the tasks whose instance differs from what they saw.
    """

    def __init__(self, hosts=('hostA', 'hostB'), rebuild_polls=1,
                 end_stopped=False, locks_with_reason=True):
        self.mutex = threading.Lock()
        self.locks_with_reason = locks_with_reason
        self.evacuates_to_stopped = end_stopped
        self.calls = []
        # 'frozen': nova-compute stopped writing its record (updated_at)
        self.services = {h: {'state': 'up', 'status': 'enabled',
                             'forced_down': False, 'frozen': False,
                             'reports': 0, 'disabled_reason': None}
                         for h in hosts}
        self.instances = {}
        self.rebuild_polls = rebuild_polls
        self.end_stopped = end_stopped
        self.fail_evacuate = {}      # instance id -> exception
        self.fail = {}               # method name -> exception
        self.never_lands = set()     # instance ids whose rebuild never ends
        self.migrations = {}         # instance id -> [FakeMigration]
        self._pending = {}

    # -- helpers for tests ---------------------------------------------------
    def add_instance(self, iid, host='hostA', vm_state='active',
                     task_state=None, metadata=None, locked=False,
                     locked_reason=None):
        self.instances[iid] = dict(id=iid, name='vm-%s' % iid, host=host,
                                   vm_state=vm_state, task_state=task_state,
                                   metadata=metadata or {}, locked=locked,
                                   locked_reason=locked_reason)

    def calls_of(self, name):
        return [c for c in self.calls if c[0] == name]

    def start_rebuild(self, iid, target='hostB', polls=1,
                      task_state='rebuilding'):
        """Mimic a rebuild Nova already runs (e.g. from an earlier request);
        ``task_state=None``: accepted, not started yet."""
        with self.mutex:
            self.instances[iid]['task_state'] = task_state
            self._pending[iid] = {'polls': polls, 'target': target}

    def _record(self, name, *args):
        with self.mutex:
            self.calls.append((name,) + args)
        if name in self.fail:
            raise self.fail[name]

    def _service(self, host):
        if host not in self.services:
            raise exception.ComputeServiceNotFound(host=host,
                                                   binary='nova-compute')
        s = self.services[host]
        return compute.Service(id='svc-' + host, host=host,
                               binary='nova-compute', status=s['status'],
                               state=s['state'], forced_down=s['forced_down'],
                               disabled_reason=s.get('disabled_reason'),
                               updated_at='report-%d' % s.get('reports', 0))

    def report(self):
        """Every live nova-compute writes its record once: not frozen,
        and Nova does not call it down on its own."""
        for s in self.services.values():
            if not s.get('frozen') and (s['state'] == 'up'
                                        or s['forced_down']):
                s['reports'] = s.get('reports', 0) + 1

    # -- ComputeAPI ----------------------------------------------------------
    def get_service(self, host):
        self._record('get_service', host)
        return self._service(host)

    def list_services(self, binary=None):
        self._record('list_services')
        self.report()
        return [self._service(h) for h in sorted(self.services)]

    def force_down(self, host, forced=True):
        self._record('force_down', host, forced)
        s = self.services[host]
        s['forced_down'] = forced
        s['state'] = 'down' if forced else 'up'
        return self._service(host)

    def wait_service_down(self, host, timeout, interval=1.0):
        self._record('wait_service_down', host)
        if self.services[host]['state'] != 'down':
            raise exception.ServiceNotDown(host=host, binary='nova-compute',
                                           timeout=timeout)
        return self._service(host)

    def disable(self, host, reason):
        self._record('disable', host, reason)
        self.services[host]['status'] = 'disabled'
        self.services[host]['disabled_reason'] = reason
        return self._service(host)

    def enable(self, host):
        self._record('enable', host)
        self.services[host]['status'] = 'enabled'
        return self._service(host)

    def list_instances(self, host):
        self._record('list_instances', host)
        return [self._inst(i) for i in self.instances.values()
                if i['host'] == host]

    def _inst(self, data):
        return compute.Instance(id=data['id'], name=data['name'],
                                status=data['vm_state'].upper(),
                                vm_state=data['vm_state'],
                                task_state=data['task_state'],
                                host=data['host'],
                                metadata=dict(data['metadata']),
                                locked=(data.get('locked', False)
                                        if self.locks_with_reason else None),
                                locked_reason=data.get('locked_reason'))

    def get_instance(self, iid):
        self._record('get_instance', iid)
        return self.observe(iid)

    def list_changed_instances(self, since):
        self._record('list_changed_instances', since)
        return [self.observe(iid) for iid in list(self.instances)]

    def observe(self, iid):
        """The instance as a read shows it (a rebuild progresses)."""
        with self.mutex:
            data = self.instances[iid]
            if iid in self._pending and iid not in self.never_lands:
                self._pending[iid]['polls'] -= 1
                if self._pending[iid]['polls'] <= 0:
                    target = self._pending.pop(iid)['target']
                    if target == data['host']:   # Nova gave up the rebuild
                        self.migrations.setdefault(iid, []).insert(
                            0, FakeMigration(source_compute=target,
                                             status='failed',
                                             created_at='2000-01-01T00:00:00'))
                    data['host'] = target
                    data['task_state'] = None
                    if self.end_stopped:
                        data['vm_state'] = 'stopped'
                    elif data['vm_state'] == 'error':
                        data['vm_state'] = 'active'
            return self._inst(data)

    def evacuate(self, iid, target_host=None, on_shared_storage=False):
        self._record('evacuate', iid, target_host)
        if iid in self.fail_evacuate:
            raise self.fail_evacuate[iid]
        if iid not in self.instances:               # HTTP 404
            raise exception.InstanceNotFound(instance=iid)
        data = self.instances[iid]
        if (data['vm_state'] not in compute.EVACUABLE_VM_STATES
                or data['task_state'] is not None):
            # what Nova's check_instance_state answers (HTTP 409)
            raise exception.EvacuateRefused(
                instance=iid, reason="HTTP 409 Cannot 'evacuate' instance "
                "%s while it is in vm_state %s, task_state %s" % (
                    iid, data['vm_state'], data['task_state']))
        with self.mutex:
            self.instances[iid]['task_state'] = 'rebuilding'
            self._pending[iid] = {'polls': self.rebuild_polls,
                                  'target': target_host or 'hostB'}
        return '2.95' if self.end_stopped else '2.94'

    def start(self, iid):
        self._record('start', iid)
        self.instances[iid]['vm_state'] = 'active'

    def stop(self, iid):
        self._record('stop', iid)
        self.instances[iid]['vm_state'] = 'stopped'

    def reset_state(self, iid, state):
        self._record('reset_state', iid, state)
        self.instances[iid]['vm_state'] = state
        self.instances[iid]['task_state'] = None

    def lock(self, iid, reason):
        self._record('lock', iid, reason)
        self.instances[iid].update(locked=True, locked_reason=reason)

    def unlock(self, iid):
        self._record('unlock', iid)
        self.instances[iid].update(locked=False, locked_reason=None)

    def list_evacuations(self, iid):
        self._record('list_evacuations', iid)
        return list(self.migrations.get(iid, ()))

    def list_host_evacuations(self, host):
        self._record('list_host_evacuations', host)
        return [m for migrations in self.migrations.values()
                for m in migrations if m.source_compute == host]


@dataclasses.dataclass
class FakeMigration:
    """The fields of a Nova migration record vmha reads."""

    source_compute: str
    status: str
    created_at: str              # Nova's format: 2024-01-31T12:00:00.000000
    dest_compute: str = None
    migration_type: str = 'evacuation'
    instance_uuid: str = None


class FakeFencingDriver(fencing_base.FencingDriver):
    """Scripted power states: ``states`` is consumed by get_power_state
    (an exception in it is raised by that read).

    Without ``states``: reads ``on`` until power_off, then ``off`` (never,
    with ``stays_on``); ``error`` is raised by every status read,
    ``off_error`` by power_off.
    """

    entry_point_name = 'fake'

    def __init__(self, conf=None, states=None, stays_on=False, error=None,
                 journal=None, off_error=None):
        """``journal``: optional shared list (e.g. FakeCompute.calls) that
        also gets ``('fence.status'|'fence.off'|'fence.on', host)`` tuples, to
        assert the order of BMC and Nova calls together."""
        super().__init__(conf)
        self.state = 'on'
        self.stays_on = stays_on
        self.error = error
        self.off_error = off_error
        self.calls = []
        self.journal = journal
        self.states = list(states or ())

    def _log(self, op, host):
        self.calls.append(op)
        if self.journal is not None:
            self.journal.append(('fence.' + op, host.name))

    def get_power_state(self, host):
        self._log('status', host)
        if self.error:
            raise self.error
        if self.states:
            state = self.states.pop(0)
            if isinstance(state, BaseException):
                raise state
            self.state = state
        return self.state

    def power_off(self, host):
        self._log('off', host)
        if self.off_error:
            raise self.off_error
        if not self.stays_on:
            self.state = 'off'

    def power_on(self, host):
        self._log('on', host)
        self.state = 'on'


class ListNotifier:
    def __init__(self, conf=None):
        self.events = []

    def notify(self, event):
        self.events.append(event)

    def close(self):
        pass


class BlockingNotifier(ListNotifier):
    """A driver whose receiver does not answer: each send waits until
    ``release`` is set (at most 10 s), then records the event."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def notify(self, event):
        self.release.wait(10)
        super().notify(event)


def close_dispatchers(dispatchers):
    """Close real Dispatchers a test made, releasing their blocked drivers
    first so that closing does not wait for them."""
    for dispatcher in dispatchers:
        for driver in dispatcher.drivers.values():
            if isinstance(driver, BlockingNotifier):
                driver.release.set()
        dispatcher.close(timeout=5)


class RecordingDispatcher:
    """Synchronous stand-in for vmha.notifier.Dispatcher.

    Keeps every event in ``events`` (and passes it to ``record``, e.g.
    Database.add_event), so tests can assert events without waiting.
    """

    def __init__(self, record=None):
        self.record = record
        self.events = []
        self.flushes = 0

    def emit(self, event):
        if self.record is not None:
            self.record(event)
        self.events.append(event)

    def types(self):
        return [e.event_type for e in self.events]

    def of_type(self, event_type):
        return [e for e in self.events if e.event_type == event_type]

    def flush(self, timeout=30.0):
        self.flushes += 1
        return True

    def redeliver(self):
        return 0

    def close(self, timeout=30.0):
        pass


class Clock:
    """A settable clock: ``clock()`` returns ``clock.now``. ``sleep`` is
    its time.sleep: it advances the clock at once and records the seconds
    in ``sleeps``, so a wait loop runs without waiting."""

    def __init__(self, now=1_000_000.0):
        self.now = now
        self.sleeps = []

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.advance(seconds)


class FakeMembership:
    """vmha.coordination.Membership over sets: ``members`` (None: the group
    vanished) and ``left`` (hosts whose agent stopped on purpose)."""

    group = 'vmha-agents'

    def __init__(self, members=(), left=(), caps=None):
        self.current = set(members)
        self.left_hosts = set(left)
        #: {host: capabilities} the agents joined with
        self.caps = dict(caps or {})
        self.error = None
        self.closed = False

    def capabilities(self, hosts):
        return {h: self.caps[h] for h in hosts if h in self.caps}

    def members(self):
        if self.error:
            raise self.error
        return None if self.current is None else set(self.current)

    def left(self):
        return set(self.left_hosts)

    def close(self):
        self.closed = True
