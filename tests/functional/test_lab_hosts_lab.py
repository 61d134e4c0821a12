"""The lab grown to four hosts (``lab up --hosts 4``) and back to three.

The extra host must be a real one: a nova-compute Nova schedules to, behind
an ipmi_sim BMC whose power-off kills it, in the inventory ``lab info``
gives vmha. Back at three hosts, nothing of it may remain in Nova (service,
compute node) or among the lab's processes.
"""

import json

import pytest

from tools.lab.access import lab as lablib

pytestmark = [lablib.requires_lab, pytest.mark.lab]

EXTRA = 'hostD'


def _status():
    return json.loads(lablib.lab('status', '--json'))


def _schedule_to_extra(nova):
    """Boot two unpinned servers with hostA-hostC disabled: the scheduler
    has only the extra host left."""
    client = nova('2.53')
    [pinned] = lablib.boot(1, EXTRA)      # also creates the lab's flavor
    assert pinned['host'] == EXTRA
    for host in lablib.HOSTS:
        client.services.disable_log_reason(lablib.service(nova, host).id,
                                           'lab test: only %s' % EXTRA)
    flavor = client.flavors.find(name='lab.tiny')
    image = json.loads(lablib.lab('info'))['image_id']
    ids = [client.servers.create('extra-%d' % i, image, flavor,
                                 nics='none').id for i in range(2)]
    lablib.wait_for(lambda: all(s == ('ACTIVE', EXTRA) for s in (
        (srv.status, getattr(srv, 'OS-EXT-SRV-ATTR:host'))
        for srv in map(client.servers.get, ids))), 120,
        what='two servers ACTIVE on %s' % EXTRA)
    return ids


def test_lab_runs_a_fourth_host_and_shrinks_back(lab_info, nova):
    lablib.lab('reset')
    with lablib.more_hosts(4) as info:
        assert sorted(info['hosts']) == ['hostA', 'hostB', 'hostC', EXTRA]
        bmc = info['hosts'][EXTRA]['bmc']
        assert bmc['port'] == lab_info['hosts']['hostC']['bmc']['port'] + 1
        status = _status()
        assert status['bmc'][EXTRA] == 'on'
        assert status['computes'][EXTRA]['state'] == 'up'
        _schedule_to_extra(nova)
        lablib.lab('fail', EXTRA, '--mode', 'bmc', '--wait-down')
        status = _status()
        assert status['bmc'][EXTRA] == 'off'
        assert status['processes']['nova-compute-' + EXTRA]['state'] == (
            'dead')
        assert status['computes'][EXTRA]['state'] == 'down'
        lablib.lab('reset')      # powers it on again, deletes the servers
        assert _status()['computes'][EXTRA]['state'] == 'up'
    status = _status()
    assert status['hosts'] == list(lablib.HOSTS)
    assert 'nova-compute-' + EXTRA not in status['processes']
    assert 'bmc-' + EXTRA not in status['processes']
    assert EXTRA not in status['computes']     # service deleted in Nova
    hypervisors = {h.hypervisor_hostname
                   for h in nova('2.53').hypervisors.list()}
    assert hypervisors == set(lablib.HOSTS)
    assert sorted(json.loads(lablib.lab('info'))['hosts']) == list(
        lablib.HOSTS)
