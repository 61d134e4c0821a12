"""Every recoverable instance comes back, on the real-Nova lab (issue 13).

Instances Nova will not evacuate as they are (paused, suspended, rescued, a
task state stuck on the dead host) are reset and evacuated, and come back in
the state vmha.policy documents; each instance is locked while vmha
evacuates it and unlocked after, except one its owner had locked, which
stays locked. Every test checks what Nova reports: where each server is, in
which state, and how many evacuations (and locks) its action list shows.
"""

from vmha import api
from vmha import compute as compute_mod
from vmha.db import api as db_api
from vmha import exception

from tools.lab.access import lab as lablib
from tools.lab.access.lab import requires_lab

pytestmark = [requires_lab, lablib.pytest.mark.lab]

SOURCE = 'hostA'


def _ids(servers):
    return [s['id'] for s in servers]


def _event_types(db, report):
    return [e.event_type for e in db.list_events(recovery_id=report.id)]


def _check_back(nova, report, wanted):
    """Every server off SOURCE, settled, in ``wanted[id]``, evacuated once."""
    assert report.state == db_api.COMPLETED, report
    states = lablib.server_states(nova, list(wanted))
    for sid, (host, vm_state, task_state) in states.items():
        assert host != SOURCE and task_state is None, (sid, states[sid])
        assert vm_state == wanted[sid], (sid, states[sid], wanted[sid])
    assert lablib.evacuation_counts(nova, list(wanted)) == dict.fromkeys(
        wanted, 1)


def test_paused_suspended_rescued_come_back_running(clean_lab, nova,
                                                    vmha_setup):
    conf, db = vmha_setup
    servers = lablib.boot(5, SOURCE, stopped=1, prefix='odd')
    ids = _ids(servers)
    original = {sid: s[1] for sid, s in
                lablib.server_states(nova, ids).items()}
    active = [sid for sid in ids if original[sid] == 'active']
    [stopped] = [sid for sid in ids if original[sid] == 'stopped']
    paused, suspended, rescued, plain = active
    client = nova('2.53')
    client.servers.pause(paused)
    client.servers.suspend(suspended)
    client.servers.rescue(rescued)
    for sid, state in ((paused, 'paused'), (suspended, 'suspended'),
                       (rescued, 'rescued')):
        lablib.wait_vm_state(nova, sid, state)
    lablib.lab('fail', SOURCE, '--mode', 'kill')
    report = api.recover_host(conf, SOURCE, level=2)
    _check_back(nova, report, {paused: 'active', suspended: 'active',
                               rescued: 'active', plain: 'active',
                               stopped: 'stopped'})
    rows = {e['instance_id']: e for e in report.evacuations}
    for sid, was in ((paused, 'paused'), (suspended, 'suspended'),
                     (rescued, 'rescued')):
        assert rows[sid]['status'] == db_api.EVAC_DONE
        assert rows[sid]['original_vm_state'] == was
        assert rows[sid]['reason'].startswith(
            'reset from vm_state %s to active' % was), rows[sid]
    assert rows[plain]['reason'] is None
    assert _event_types(db, report).count('vmha.instance.reset') == 3


def test_stuck_task_state_is_reset_and_evacuated(clean_lab, nova,
                                                 vmha_setup):
    """A hung compute receives a reboot (task_state stays ``rebooting``),
    then its host is powered off and recovered."""
    conf, db = vmha_setup
    servers = lablib.boot(3, SOURCE, stopped=1, prefix='stuck')
    ids = _ids(servers)
    original = {sid: s[1] for sid, s in
                lablib.server_states(nova, ids).items()}
    rebooting = next(sid for sid in ids if original[sid] == 'active')
    lablib.lab('fail', SOURCE, '--mode', 'stop')
    nova('2.53').servers.reboot(rebooting)
    lablib.wait_for(lambda: lablib.server_states(nova, [rebooting])[
        rebooting][2] == 'rebooting', 30, what='task_state rebooting')
    lablib.lab('fail', SOURCE, '--mode', 'bmc')
    report = api.recover_host(conf, SOURCE, level=2)
    _check_back(nova, report, original)
    rows = {e['instance_id']: e for e in report.evacuations}
    assert 'with task_state rebooting' in rows[rebooting]['reason']
    [reset] = [e for e in db.list_events(recovery_id=report.id)
               if e.event_type == 'vmha.instance.reset']
    assert (reset.payload['instance_id'], reset.payload['task_state'],
            reset.payload['reset_to']) == (rebooting, 'rebooting', 'active')


def test_instances_locked_during_evacuation(clean_lab, nova, vmha_setup):
    conf, db = vmha_setup
    servers = lablib.boot(3, SOURCE, prefix='lock')
    ids = _ids(servers)
    owners, *others = ids
    client = nova('2.73')
    client.servers.lock(owners, reason='owner: do not touch')
    lablib.lab('fail', SOURCE, '--mode', 'kill')
    report = api.recover_host(conf, SOURCE, level=2)
    _check_back(nova, report, dict.fromkeys(ids, 'active'))
    # Nova's action list shows vmha's lock around the evacuation
    for sid in others:
        actions = lablib.instance_actions(nova, sid)
        assert actions.count('lock') == actions.count('unlock') == 1, actions
        assert (actions.index('lock') < actions.index('evacuate')
                < actions.index('unlock') == len(actions) - 1), actions
        server = client.servers.get(sid)
        assert server.locked is False, sid
    # the owner's lock was left as it was: locked, with its reason
    actions = lablib.instance_actions(nova, owners)
    assert actions.count('lock') == 1 and 'unlock' not in actions, actions
    server = client.servers.get(owners)
    assert (server.locked, server.locked_reason) == (
        True, 'owner: do not touch')


def test_unknown_fixed_target_host_is_named(clean_lab, nova, vmha_setup):
    """Nova's 404 for an unknown target host is not "instance not found"."""
    conf, db = vmha_setup
    [server] = lablib.boot(1, SOURCE, prefix='target')
    lablib.lab('fail', SOURCE, '--mode', 'kill')
    compute = compute_mod.ComputeAPI.from_conf(conf)
    compute.force_down(SOURCE)
    with lablib.pytest.raises(exception.TargetHostNotFound) as err:
        compute.evacuate(server['id'], target_host='no-such-host')
    assert 'target host no-such-host not found' in str(err.value)
    assert lablib.evacuation_counts(nova, [server['id']]) == {
        server['id']: 0}
