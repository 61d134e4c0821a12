"""policy.plan: which instances are evacuated, in which order, and why not."""

import pytest

from vmha import compute
from vmha import policy
from tests.unit.conftest import make_conf


def inst(iid, vm_state='active', task_state=None, ha=None, name=None):
    metadata = {} if ha is None else {'HA_Enabled': ha}
    return compute.Instance(id=iid, name=name or iid,
                            status=vm_state.upper(), vm_state=vm_state,
                            task_state=task_state, host='hostA',
                            metadata=metadata)


def plan(instances, **overrides):
    conf = make_conf(**{'evacuation__' + k: v for k, v in overrides.items()})
    return {e['id']: e for e in policy.plan(instances, conf.evacuation)}, \
        [e['id'] for e in policy.plan(instances, conf.evacuation)]


def test_ha_enabled_first_then_others_then_skipped():
    entries, order = plan([
        inst('b-plain'), inst('p-paused', vm_state='paused', ha='True'),
        inst('z-ha', ha='True'), inst('a-plain'), inst('c-ha', ha='true'),
        inst('s-stopped', vm_state='stopped')])
    assert order == ['c-ha', 'z-ha', 'a-plain', 'b-plain', 's-stopped',
                     'p-paused']
    assert entries['z-ha']['ha_enabled'] is True
    assert entries['a-plain']['ha_enabled'] is False
    assert entries['a-plain']['action'] == policy.EVACUATE
    assert entries['p-paused']['action'] == policy.SKIP


def test_entries_are_json_ready():
    entries, _ = plan([inst('i1', ha='True', name='web-1')])
    assert entries['i1'] == {'id': 'i1', 'name': 'web-1',
                             'vm_state': 'active', 'ha_enabled': True,
                             'action': policy.EVACUATE, 'reason': None}


@pytest.mark.parametrize('value, enabled', [
    ('True', True), ('true', True), (' TRUE ', True), (True, True),
    ('False', False), ('yes', False), ('1', False), ('', False)])
def test_ha_enabled_metadata_values(value, enabled):
    assert policy.is_ha_enabled(inst('i', ha=value), 'HA_Enabled') is enabled


def test_ha_enabled_metadata_key_is_configurable():
    entries, _ = plan([inst('i1', ha='True')], ha_enabled_metadata_key='ha',
                      evacuate_all_instances=False)
    assert entries['i1']['action'] == policy.SKIP
    assert 'metadata ha' in entries['i1']['reason']


def test_evacuate_all_instances_false_skips_non_ha():
    entries, order = plan([inst('plain'), inst('ha', ha='True'),
                           inst('no', ha='False')],
                          evacuate_all_instances=False)
    assert order[0] == 'ha'
    assert entries['ha']['action'] == policy.EVACUATE
    for iid in ('plain', 'no'):
        assert entries[iid]['action'] == policy.SKIP
        reason = entries[iid]['reason']
        assert 'not HA-enabled' in reason
        assert 'HA_Enabled' in reason
        assert 'evacuate_all_instances' in reason


@pytest.mark.parametrize('skip_errors, action', [(True, policy.SKIP),
                                                 (False, policy.EVACUATE)])
def test_skip_error_instances(skip_errors, action):
    entries, _ = plan([inst('e1', vm_state='error', ha='True')],
                      skip_error_instances=skip_errors)
    assert entries['e1']['action'] == action
    if skip_errors:
        assert 'skip_error_instances' in entries['e1']['reason']
    else:
        assert entries['e1']['reason'] is None


@pytest.mark.parametrize('task_state', ['migrating', 'rebuilding',
                                        'resize_prep', 'deleting'])
def test_task_in_progress_is_skipped(task_state):
    entries, _ = plan([inst('t1', task_state=task_state, ha='True')])
    assert entries['t1']['action'] == policy.SKIP
    assert entries['t1']['reason'] == (
        'task in progress (task_state=%s)' % task_state)


@pytest.mark.parametrize('vm_state', ['paused', 'suspended', 'building',
                                      'shelved_offloaded', 'rescued',
                                      'resized', 'deleted'])
def test_non_evacuable_vm_state_is_skipped(vm_state):
    entries, _ = plan([inst('v1', vm_state=vm_state)])
    assert entries['v1']['action'] == policy.SKIP
    assert entries['v1']['reason'] == (
        'vm_state %s cannot be evacuated' % vm_state)


@pytest.mark.parametrize('vm_state', ['active', 'stopped', 'error'])
def test_evacuable_vm_states(vm_state):
    entries, _ = plan([inst('v1', vm_state=vm_state)])
    assert entries['v1']['action'] == policy.EVACUATE


def test_task_state_reason_wins_over_vm_state():
    entries, _ = plan([inst('v1', vm_state='paused', task_state='pausing')])
    assert 'task_state=pausing' in entries['v1']['reason']


def test_target_host_policy():
    conf = make_conf()
    assert policy.target_host(conf, 'hostA') is None
    conf = make_conf(evacuation__target_host_policy='fixed',
                     evacuation__target_hosts={'hostA': 'spare1'})
    assert policy.target_host(conf, 'hostA') == 'spare1'
    assert policy.target_host(conf, 'hostB') is None
