"""A fake Nova (and BMCs) shared by several processes: one JSON file.

Enough of :class:`vmha.compute.ComputeAPI` and of a fencing driver for
recoveries, for tests that run several real vmha processes. Every call holds
an exclusive lock on the file, so the processes see one consistent cloud.
Nova's side of the story is kept in the file: every call that changes
something is logged with the calling process's pid, which is the evidence
that an instance was evacuated exactly once.

``delays`` ({call name: seconds}) make a call slow (it sleeps before
changing anything), so that a test can kill a process between two steps;
an evacuated instance lands on its target ``rebuild_seconds`` after the
request.
"""

import contextlib
import fcntl
import json
import os
import time

from vmha import compute
from vmha.drivers.fencing import base as fencing_base

BINARY = 'nova-compute'


def _instance(iid, host):
    return {'id': iid, 'name': 'vm-%s' % iid, 'host': host,
            'vm_state': 'active', 'task_state': None, 'land_at': None,
            'target': None}


def create(path, hosts, instances, delays=None, rebuild_seconds=0.5):
    """Write a cloud: ``instances`` is {host: count}."""
    state = {
        'services': {h: {'state': 'up', 'status': 'enabled',
                         'forced_down': False} for h in hosts},
        'power': dict.fromkeys(hosts, 'on'),
        'instances': {},
        'calls': [],
        'delays': delays or {},
        'rebuild_seconds': rebuild_seconds,
    }
    for host, count in instances.items():
        for n in range(count):
            iid = '%s-%02d' % (host, n)
            state['instances'][iid] = _instance(iid, host)
    FileNova(path).write(state)
    return FileNova(path)


class FileNova:
    """The cloud in ``path``; usable from any process."""

    #: a Nova before 2.73 (no lock reason: vmha does not lock) and 2.95
    locks_with_reason = False
    evacuates_to_stopped = False

    def __init__(self, path):
        self.path = str(path)

    # -- the file -----------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        with open(self.path + '.lock', 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(self.path) as f:
                    state = json.load(f)
                yield state
                self.write(state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def write(self, state):
        tmp = '%s.%d.tmp' % (self.path, os.getpid())
        with open(tmp, 'w') as f:
            json.dump(state, f)
        os.replace(tmp, self.path)

    def read(self):
        with self._locked() as state:
            return state

    def _change(self, name, *args):
        """Sleep the call's delay, then lock and log it; yield the state."""
        delay = self.read()['delays'].get(name, 0)
        if delay:
            time.sleep(delay)
        return self._logged(name, args)

    @contextlib.contextmanager
    def _logged(self, name, args):
        with self._locked() as state:
            state['calls'].append([name, *args, os.getpid(), time.time()])
            yield state

    # -- test helpers -------------------------------------------------------

    def fail_host(self, host):
        """The host hangs: Nova reports its service down, its BMC still
        reports it on (fencing has to power it off)."""
        with self._locked() as state:
            state['services'][host]['state'] = 'down'

    def calls(self, name=None):
        return [c for c in self.read()['calls'] if name in (None, c[0])]

    def evacuate_counts(self):
        counts = {}
        for call in self.calls('evacuate'):
            counts[call[1]] = counts.get(call[1], 0) + 1
        return counts

    # -- ComputeAPI ---------------------------------------------------------

    @staticmethod
    def _service(host, svc):
        return compute.Service(id='svc-' + host, host=host, binary=BINARY,
                               status=svc['status'], state=svc['state'],
                               forced_down=svc['forced_down'])

    @staticmethod
    def _land(inst):
        if inst['land_at'] is not None and time.time() >= inst['land_at']:
            inst.update(host=inst['target'], task_state=None, land_at=None)

    def _inst(self, inst):
        self._land(inst)
        return compute.Instance(
            id=inst['id'], name=inst['name'],
            status=inst['vm_state'].upper(), vm_state=inst['vm_state'],
            task_state=inst['task_state'], host=inst['host'])

    def list_services(self, binary=None):
        services = self.read()['services']
        return [self._service(h, s) for h, s in sorted(services.items())]

    def get_service(self, host):
        return self._service(host, self.read()['services'][host])

    def force_down(self, host, forced=True):
        with self._change('force_down', host, forced) as state:
            svc = state['services'][host]
            svc['forced_down'] = forced
            svc['state'] = 'down' if forced else svc['state']
            return self._service(host, svc)

    def wait_service_down(self, host, timeout, interval=1.0):
        deadline = time.monotonic() + timeout
        while not self.get_service(host).is_down:
            if time.monotonic() > deadline:
                raise AssertionError('service of %s not down' % host)
            time.sleep(interval)
        return self.get_service(host)

    def _set_status(self, name, host, status):
        with self._change(name, host) as state:
            state['services'][host]['status'] = status
            return self._service(host, state['services'][host])

    def disable(self, host, reason):
        return self._set_status('disable', host, 'disabled')

    def enable(self, host):
        return self._set_status('enable', host, 'enabled')

    def list_instances(self, host):
        with self._locked() as state:
            found = [self._inst(i) for i in state['instances'].values()]
        return [i for i in found if i.host == host]

    def get_instance(self, iid):
        with self._locked() as state:
            return self._inst(state['instances'][iid])

    def list_changed_instances(self, since):
        """Every instance: the file keeps no change times, so each listing
        shows them all (vmha.confirm then wakes what really changed)."""
        with self._locked() as state:
            return [self._inst(i) for i in state['instances'].values()]

    def evacuate(self, iid, target_host=None, on_shared_storage=False):
        with self._change('evacuate', iid) as state:
            inst = state['instances'][iid]
            target = target_host or next(
                h for h, s in sorted(state['services'].items())
                if s['state'] == 'up' and h != inst['host'])
            inst.update(task_state='rebuilding', target=target,
                        land_at=time.time() + state['rebuild_seconds'])
            state.setdefault('migrations', {}).setdefault(iid, []).append(
                {'source_compute': inst['host'], 'status': 'accepted',
                 'created_at': time.strftime('%Y-%m-%dT%H:%M:%S.000000',
                                             time.gmtime())})

    def _vm_state(self, name, iid, vm_state):
        with self._change(name, iid) as state:
            state['instances'][iid]['vm_state'] = vm_state

    def start(self, iid):
        self._vm_state('start', iid, 'active')

    def stop(self, iid):
        self._vm_state('stop', iid, 'stopped')

    def reset_state(self, iid, vm_state):
        self._vm_state('reset_state', iid, vm_state)

    def list_evacuations(self, iid):
        records = self.read().get('migrations', {}).get(iid, [])
        return [_Migration(**r) for r in records]


class _Migration:
    def __init__(self, source_compute, status, created_at):
        self.source_compute = source_compute
        self.status = status
        self.created_at = created_at


class FileBMC(fencing_base.FencingDriver):
    """A fencing driver whose hosts' power is in the FileNova file."""

    entry_point_name = 'file-bmc'

    def __init__(self, conf, nova):
        super().__init__(conf)
        self.nova = nova

    def get_power_state(self, host):
        return self.nova.read()['power'][host.name]

    def power_off(self, host):
        with self.nova._change('power_off', host.name) as state:
            state['power'][host.name] = 'off'

    def power_on(self, host):
        with self.nova._change('power_on', host.name) as state:
            state['power'][host.name] = 'on'
