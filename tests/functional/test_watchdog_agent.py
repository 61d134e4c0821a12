"""vmha-agent processes with the ``linux`` watchdog driver on a stand-in
file (never a real watchdog), heartbeating through the real Redis.

The file records what the device would have been sent: one pet per
heartbeat that reached Redis, and the magic close ``V`` on a planned stop
only.
"""

import signal
import time

from vmha.drivers.watchdog import linux

from tools.lab.access import agents as agentlib
from tests.unit.conftest import make_conf


def _start(tmp_path, device):
    group = agentlib.unique('vmha-wd-agent')
    config = agentlib.write_config(tmp_path / 'vmha.conf', {
        'coordination': {'backend_url': agentlib.REDIS_URL,
                         'group_name': group, 'heartbeat_interval': 0.2,
                         'heartbeat_timeout': 2.0},
        'watchdog': {'driver': 'linux', 'device': device, 'timeout': 5,
                     'margin': 0.5}})
    conf = make_conf(coordination__backend_url=agentlib.REDIS_URL,
                     coordination__group_name=group)
    agents = agentlib.Agents(tmp_path, config, conf)
    agents.start('wd-host')
    return agents


def _pets(device):
    return device.read_bytes().count(linux.PET)


def test_agent_pets_while_it_heartbeats_and_disarms_on_sigterm(tmp_path):
    device = tmp_path / 'watchdog'
    device.write_bytes(b'')
    agents = _start(tmp_path, device)
    try:
        agentlib.wait_for(lambda: _pets(device) >= 5, 10, what='pets')
        assert linux.MAGIC_CLOSE not in device.read_bytes()
        proc = agents.procs['wd-host']
        proc.signal(signal.SIGTERM)
        proc.proc.wait(30)
        assert device.read_bytes().endswith(linux.MAGIC_CLOSE)
        assert agents.members() == set()
    finally:
        agents.close()


def test_a_killed_agent_leaves_the_watchdog_armed(tmp_path):
    device = tmp_path / 'watchdog'
    device.write_bytes(b'')
    agents = _start(tmp_path, device)
    try:
        agentlib.wait_for(lambda: _pets(device) >= 2, 10, what='pets')
        agents.procs['wd-host'].signal(signal.SIGKILL)
        agents.procs['wd-host'].proc.wait(10)
        written = device.read_bytes()
        time.sleep(0.5)
        assert device.read_bytes() == written          # no more pets
        assert linux.MAGIC_CLOSE not in written        # still armed
    finally:
        agents.close()


def test_capabilities_in_one_read_agree_with_tooz_per_member_reads(tmp_path):
    """On Redis the monitor reads every member's watchdog report in one
    read of the group's hash (Membership._every_capability); it must give
    what tooz's own per-member read gives, for armed and unarmed members."""
    from vmha import coordination
    group = agentlib.unique('vmha-wd-caps')
    conf = make_conf(coordination__backend_url=agentlib.REDIS_URL,
                     coordination__group_name=group)
    armed = {'watchdog': {'driver': 'lab', 'timeout': 5.0, 'margin': 0.5}}
    members = {}
    for host, caps in (('caps-a', armed), ('caps-b', {}),
                       ('caps-c', armed)):
        members[host] = coordination.Membership.connect(conf, host)
        members[host].join(host, caps)
    monitor = coordination.Membership.connect(conf, 'caps-monitor')
    try:
        hosts = monitor.members()
        assert hosts == {'caps-a', 'caps-b', 'caps-c'}
        fast = monitor.capabilities(hosts)
        assert fast == {'caps-a': armed, 'caps-b': {}, 'caps-c': armed}
        monitor._every_capability = lambda: None       # tooz's own reads
        assert monitor.capabilities(hosts) == fast
    finally:
        for membership in (*members.values(), monitor):
            membership.close()
