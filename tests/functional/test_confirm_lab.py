"""Batched confirmation and paced, prioritised evacuations on real Nova
(issue 16).

* A recovery confirms its evacuations through the process's watcher: one
  ``GET /servers/detail?all_tenants=1&changes-since=...`` per round for
  all of them; the listing of the host that planned the recovery answers
  the check before each evacuate request (vmha.context.Listing), so no
  ``GET /servers/{id}`` at all. A counting ComputeAPI says which requests
  vmha sent to the lab's nova-api.
* Two hosts fail; their recoveries share one process and a limit of one
  evacuation in flight: Nova's own migration records (their ids grow with
  each evacuate request) show the order, HA-enabled first, then
  ``HA_Priority``, across both recoveries.
"""

import collections
import threading

import pytest

from vmha import api
from vmha import compute as compute_mod
from vmha.db import api as db_api
from vmha import recovery
from vmha import runner

from tools.lab.access import lab as lablib

pytestmark = [lablib.requires_lab, pytest.mark.lab]


class CountingCompute(compute_mod.ComputeAPI):
    """The real ComputeAPI, counting the requests that read instances."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counts = collections.Counter()
        self._mutex = threading.Lock()

    def _count(self, name):
        with self._mutex:
            self.counts[name] += 1

    def get_instance(self, instance_id):
        self._count('get_instance')
        return super().get_instance(instance_id)

    def list_changed_instances(self, since):
        self._count('list_changed_instances')
        return super().list_changed_instances(since)

    def list_instances(self, host):
        self._count('list_instances')
        return super().list_instances(host)


def test_a_recovery_confirms_through_listings(clean_lab, nova, vmha_setup):
    conf, db = vmha_setup
    servers = lablib.boot(6, 'hostA', stopped=1)
    ids = [s['id'] for s in servers]
    states = {sid: state[1] for sid, state in
              lablib.server_states(nova, ids).items()}
    lablib.lab('fail', 'hostA', '--mode', 'kill')
    counting = CountingCompute.from_conf(conf)
    report = api.recover_host(conf, 'hostA', level=2, compute=counting)
    assert report.state == db_api.COMPLETED, report
    lablib.assert_evacuated_once(nova, ids, 'hostA', vm_states=states)
    print('requests that read instances: %s' % dict(counting.counts))
    # the host listed once; no instance read on its own, no polling
    assert counting.counts['list_instances'] == 1
    assert counting.counts['get_instance'] == 0
    assert counting.counts['list_changed_instances'] >= 1


PRIORITIES = {  # name suffix -> metadata
    'hostA': {'ha': {'HA_Enabled': 'True'}, 'p500': {'HA_Priority': '500'},
              'plain': {}},
    'hostB': {'ha900': {'HA_Enabled': 'True', 'HA_Priority': '900'},
              'p1000': {'HA_Priority': '1000'},
              'bad': {'HA_Priority': 'urgent'}},   # ignored, with a warning
}


def _boot_with_metadata(nova):
    """{server id: 'hostA-ha', ...}: three servers on each failed host."""
    names = {}
    client = nova('2.53')
    for host, servers in PRIORITIES.items():
        booted = lablib.boot(len(servers), host, prefix='prio-' + host)
        for server, (suffix, metadata) in zip(booted, servers.items()):
            if metadata:
                client.servers.set_meta(server['id'], metadata)
            names[server['id']] = '%s-%s' % (host, suffix)
    return names


def _evacuation_order(nova, ids):
    """Instance ids in the order Nova recorded their evacuations."""
    client = nova('2.59')
    found = []
    for sid in ids:
        [migration] = client.migrations.list(instance_uuid=sid,
                                             migration_type='evacuation')
        found.append((migration.id, sid))
    return [sid for _, sid in sorted(found)]


def test_priority_order_across_two_recoveries(clean_lab, nova, vmha_setup):
    conf, db = vmha_setup
    conf.set_override('max_in_flight', 1, 'evacuation')
    conf.set_override('adaptive_in_flight', False, 'evacuation')
    names = _boot_with_metadata(nova)
    for host in PRIORITIES:
        lablib.lab('fail', host, '--mode', 'kill')
    recoverer = recovery.Recoverer(conf, db=db)
    pool = runner.InProcessRunner(recoverer, workers=2)
    # hold the one slot until both recoveries queue all six evacuations:
    # the order is then the pacer's alone, not who fenced first
    blocker = recoverer.pacer._take(())
    try:
        reports = [pool.start(host, 2) for host in PRIORITIES]
        lablib.wait_for(lambda: recoverer.pacer.waiting == len(names), 120,
                        interval=0.1, what='six evacuations queued')
    finally:
        recoverer.pacer._give_back(blocker, None)
    assert pool.wait(timeout=300)
    for report in reports:
        assert db.get_recovery(report.id).state == db_api.COMPLETED
    order = [names[sid] for sid in _evacuation_order(nova, list(names))]
    print('evacuation order: %s' % order)
    assert order[:4] == ['hostB-ha900', 'hostA-ha', 'hostB-p1000',
                         'hostA-p500']
    assert set(order[4:]) == {'hostA-plain', 'hostB-bad'}
    for sid in names:
        assert lablib.server_states(nova, [sid])[sid] == (
            'hostC', 'active', None)
    recoverer.close()
