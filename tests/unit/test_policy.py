"""policy.plan: which instances are evacuated, in which order, and why not."""

import json

import pytest

from vmha import compute
from vmha import exception
from vmha import policy
from tests.unit.conftest import make_conf


def inst(iid, vm_state='active', task_state=None, ha=None, name=None,
         priority=None):
    metadata = {} if ha is None else {'HA_Enabled': ha}
    if priority is not None:
        metadata['HA_Priority'] = priority
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
        inst('s-stopped', vm_state='stopped'),
        inst('x-gone', vm_state='soft-delete', ha='True')])
    assert order == ['c-ha', 'p-paused', 'z-ha', 'a-plain', 'b-plain',
                     's-stopped', 'x-gone']
    assert entries['z-ha']['ha_enabled'] is True
    assert entries['a-plain']['ha_enabled'] is False
    assert entries['a-plain']['action'] == policy.EVACUATE
    assert entries['p-paused']['action'] == policy.EVACUATE
    assert entries['x-gone']['action'] == policy.SKIP


def test_ha_enabled_first_then_priority_then_name():
    entries, order = plan([
        inst('a-low', priority='1'), inst('b-none'),
        inst('c-high', priority='1000'), inst('d-ha', ha='True'),
        inst('e-ha-mid', ha='True', priority=' 500 ')])
    assert order == ['e-ha-mid', 'd-ha', 'c-high', 'a-low', 'b-none']
    assert entries['e-ha-mid']['priority'] == 500
    assert entries['b-none']['priority'] is None


@pytest.mark.parametrize('value', ['0', '1001', 'high', '-5', '2.5', ''])
def test_invalid_priority_is_ignored_with_a_warning(value, caplog):
    entries, order = plan([inst('a', priority=value), inst('b',
                                                           priority='2')])
    assert entries['a']['priority'] is None
    assert order == ['b', 'a']
    assert 'HA_Priority' in caplog.text and 'ignored' in caplog.text


def test_priority_key_is_configurable():
    instance = compute.Instance(id='i', name='i', status='ACTIVE',
                                vm_state='active', task_state=None,
                                host='hostA', metadata={'prio': '7'})
    entries, _ = plan([instance], priority_metadata_key='prio')
    assert entries['i']['priority'] == 7


def test_entries_are_json_ready():
    entries, _ = plan([inst('i1', ha='True', name='web-1')])
    assert entries['i1'] == {'id': 'i1', 'name': 'web-1',
                             'vm_state': 'active', 'task_state': None,
                             'ha_enabled': True, 'priority': None,
                             'action': policy.EVACUATE,
                             'reason': None, 'reset_to': None,
                             'restore': 'active'}
    assert json.loads(json.dumps(entries['i1'])) == entries['i1']


@pytest.mark.parametrize('value, enabled', [
    ('True', True), ('true', True), (' TRUE ', True), (True, True),
    ('False', False), ('yes', True), ('1', True), ('', False)])
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


# -- instances Nova would refuse: reset, then evacuated -----------------------
# (these replace tests that asserted such instances were "skipped", which left
# them on the dead host in a recovery called "completed")

@pytest.mark.parametrize('vm_state, task_state, reset_to, restore', [
    ('paused', None, 'active', 'active'),
    ('suspended', None, 'active', 'active'),
    ('rescued', None, 'active', 'active'),
    ('resized', None, 'active', 'active'),
    ('shelved', None, 'active', 'stopped'),
    ('active', 'rebooting', 'active', 'active'),
    ('active', 'migrating', 'active', 'active'),
    ('active', 'rebuilding', 'active', 'active'),
    ('active', 'resize_prep', 'active', 'active'),
    ('stopped', 'powering-on', 'active', 'stopped'),
    ('error', 'rebuilding', 'error', 'error'),
    ('paused', 'unpausing', 'active', 'active'),
])
def test_instances_nova_refuses_are_reset_then_evacuated(
        vm_state, task_state, reset_to, restore):
    entries, _ = plan([inst('v1', vm_state=vm_state, task_state=task_state,
                            ha='True')])
    entry = entries['v1']
    assert entry['action'] == policy.EVACUATE
    assert (entry['reset_to'], entry['restore']) == (reset_to, restore)
    assert entry['reason'].startswith('reset from vm_state %s' % vm_state)
    assert 'comes back %s' % restore in entry['reason']
    assert (('task_state %s' % task_state) in entry['reason']) is bool(
        task_state)


@pytest.mark.parametrize('vm_state', ['active', 'stopped', 'error'])
def test_evacuable_vm_states(vm_state):
    entries, _ = plan([inst('v1', vm_state=vm_state)])
    assert entries['v1']['action'] == policy.EVACUATE
    assert entries['v1']['reset_to'] is None
    assert entries['v1']['restore'] == vm_state
    assert entries['v1']['reason'] is None


@pytest.mark.parametrize('vm_state, words', [
    ('building', 'was being built when the host failed'),
    ('shelved_offloaded', 'vm_state shelved_offloaded cannot be evacuated'),
])
def test_what_cannot_be_evacuated_is_left_as_an_error(vm_state, words):
    entries, order = plan([inst('v1', vm_state=vm_state),
                           inst('v2', ha='True')])
    assert entries['v1']['action'] == policy.LEAVE
    assert words in entries['v1']['reason']
    assert order == ['v2', 'v1']


@pytest.mark.parametrize('vm_state, task_state', [
    ('soft-delete', None), ('deleted', None), ('active', 'deleting'),
    ('stopped', 'soft-deleting')])
def test_instances_being_deleted_are_skipped(vm_state, task_state):
    entries, _ = plan([inst('d1', vm_state=vm_state, task_state=task_state,
                            ha='True')])
    assert entries['d1']['action'] == policy.SKIP
    assert 'being deleted by its owner' in entries['d1']['reason']
    assert entries['d1']['reset_to'] is None


def test_policy_exclusion_wins_over_a_reset():
    entries, _ = plan([inst('p1', vm_state='paused')],
                      evacuate_all_instances=False)
    assert entries['p1']['action'] == policy.SKIP
    assert entries['p1']['reset_to'] is None
    assert 'evacuate_all_instances' in entries['p1']['reason']


def test_target_host_policy():
    conf = make_conf()
    assert policy.target_host(conf, 'hostA') is None
    conf = make_conf(evacuation__target_host_policy='fixed',
                     evacuation__target_hosts={'hostA': 'spare1'})
    assert policy.target_host(conf, 'hostA') == 'spare1'
    assert policy.target_host(conf, 'hostB') is None


@pytest.mark.parametrize('api_version, refused', [
    ('2.28', True), ('2.1', True), ('2.29', False), ('2.95', False),
    ('auto', False)])
def test_fixed_target_below_2_29_is_a_config_error(api_version, refused):
    conf = make_conf(evacuation__target_host_policy='fixed',
                     evacuation__target_hosts={'hostA': 'spare1'},
                     nova__api_version=api_version)
    if refused:
        with pytest.raises(exception.ConfigError) as err:
            policy.check_target_policy(conf)
        assert 'target_host_policy = fixed' in str(err.value)
        assert '2.29' in str(err.value) and api_version in str(err.value)
    else:
        policy.check_target_policy(conf)


def test_scheduler_policy_has_no_microversion_floor():
    policy.check_target_policy(make_conf(nova__api_version='2.11'))
