"""A cascade: the host receiving a recovery's evacuations fails too (issue 13).

Against the real-Nova lab with real agents and a real vmha-monitor process.
hostC is disabled, so hostA's servers can only be rebuilt on hostB, and
hostB's spawns are slowed (``$state_path/spawn_delay`` of the lab's fake
driver, see tools/lab/files/vmha_lab_fake.py), so that the rebuilds are
still under way on hostB when hostB is powered off. Then hostC is enabled.
Nova moves an evacuated instance's ``host`` only at the end of its rebuild,
so those servers still show hostA, task ``rebuild_spawning``, claimed by
hostB. vmha must see their target failed and evacuate them again, now to
hostC: every server ACTIVE on hostC within two minutes of the second
failure, evacuated at most once per host failure, no instance left, and
both recoveries ``completed``.
"""

import os
import signal
import time

import pytest

from vmha.db import api as db_api

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib

pytestmark = [lablib.requires_lab, pytest.mark.lab]

SERVERS = 3
SPAWN_DELAY = 40


@pytest.fixture
def slow_host_b(lab_info, nova):
    """hostB's compute runs the current lab driver (power-cycled) and
    spawns slowly; hostC is disabled. Both undone at the end."""
    lablib.lab('fail', 'hostB', '--mode', 'bmc')
    lablib.lab('restore', 'hostB')
    delay = os.path.join(lab_info['lab_dir'], 'state', 'hostB',
                         'spawn_delay')
    with open(delay, 'w') as f:
        f.write(str(SPAWN_DELAY))
    client = nova('2.53')
    client.services.disable_log_reason(lablib.service(nova, 'hostC').id,
                                       'vmha cascade test')
    try:
        yield client
    finally:
        os.unlink(delay)
        client.services.enable(lablib.service(nova, 'hostC').id)


def _final(db, host):
    recs = [r for r in db.list_recoveries(host=host)
            if r.state in db_api.FINAL_STATES]
    return recs[0] if recs else None


def test_the_receiving_host_fails_mid_recovery(start_cluster, slow_host_b,
                                               nova):
    client = slow_host_b
    ids = [s['id'] for s in lablib.boot(SERVERS, 'hostA')]
    # two of three lab hosts fail: above the default mass-failure share
    db, agents, proc = start_cluster(
        2, **{'monitor.max_failed_hosts_percent': 70})
    lablib.lab('fail', 'hostA', '--mode', 'bmc')
    agents.procs['hostA'].signal(signal.SIGKILL)
    # every rebuild claimed by hostB and still spawning there
    agentlib.wait_for(
        lambda: all(state[2] == 'rebuild_spawning'
                    for state in lablib.server_states(nova, ids).values()),
        90, interval=0.5, what='rebuilds spawning on hostB')
    client.services.enable(lablib.service(nova, 'hostC').id)
    second_failure = time.time()
    lablib.lab('fail', 'hostB', '--mode', 'bmc')
    agents.procs['hostB'].signal(signal.SIGKILL)

    def all_on_c():
        states = lablib.server_states(nova, ids)
        return all(state == ('hostC', 'active', None)
                   for state in states.values())

    agentlib.wait_for(all_on_c, 120, interval=1,
                      what='every server ACTIVE on hostC')
    print('cascade: every server ACTIVE on hostC %.1fs after hostB failed'
          % (time.time() - second_failure))
    first = agentlib.wait_for(lambda: _final(db, 'hostA'), 60,
                              what='recovery of hostA final')
    second = agentlib.wait_for(lambda: _final(db, 'hostB'), 60,
                               what='recovery of hostB final')
    assert first.state == db_api.COMPLETED, first.error
    assert second.state == db_api.COMPLETED, second.error
    rows = (db.list_evacuations(first.id)
            + db.list_evacuations(second.id))
    assert {e.instance_id for e in rows} == set(ids)
    assert {e.status for e in rows} <= {db_api.EVAC_DONE,
                                        db_api.EVAC_HANDED_OVER}
    # at most one evacuation per host failure, none lost
    counts = lablib.evacuation_counts(nova, ids)
    assert all(1 <= n <= 2 for n in counts.values()), counts
    assert proc.alive()
