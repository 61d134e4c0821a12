"""tools/lab/lab_hosts: host names, BMC ports, the stored shape, the lock."""

import fcntl
import os
import sys
import types

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), 'tools', 'lab'))
import lab_common  # noqa: E402
import lab_hosts  # noqa: E402


def test_names_extend_the_default_three():
    assert lab_hosts.names(3) == lab_common.HOSTS
    assert lab_hosts.names(6) == lab_common.HOSTS + ('hostD', 'hostE',
                                                     'hostF')
    assert lab_hosts.names(26)[-1] == 'hostZ'


@pytest.mark.parametrize('count', [0, 2, 27])
def test_counts_outside_3_to_26_are_refused(count):
    with pytest.raises(lab_common.LabError):
        lab_hosts.names(count)


def test_bmc_ports_follow_the_first_three():
    assert {h: lab_hosts.bmc_port(h) for h in lab_common.HOSTS} == (
        lab_common.BMC_PORTS)
    assert lab_hosts.bmc_port('hostD') == lab_common.BMC_PORTS['hostC'] + 1
    ports = [lab_hosts.bmc_port(h) for h in lab_hosts.names(26)]
    assert len(set(ports)) == 26
    assert not set(ports) & set(lab_common.PORTS.values())


def test_bmc_guids_differ_and_keep_the_first_three():
    assert lab_hosts.bmc_guid('hostA') == '%032x' % 0xa1234567
    assert len({lab_hosts.bmc_guid(h) for h in lab_hosts.names(26)}) == 26


@pytest.mark.parametrize('name', ['hostAA', 'hosta', 'nodeA', 'host', ''])
def test_names_the_lab_never_uses_are_refused(name):
    with pytest.raises(lab_common.LabError):
        lab_hosts.index(name)


@pytest.fixture
def layout(tmp_path):
    return types.SimpleNamespace(root=str(tmp_path))


def test_the_stored_count_defaults_to_three(layout):
    assert lab_hosts.stored_count(layout) == 3
    assert lab_hosts.current(layout) == lab_common.HOSTS
    lab_hosts.store_count(layout, 6)
    assert lab_hosts.current(layout)[-1] == 'hostF'


def test_wanted_count_option_then_env_then_stored(layout):
    lab_hosts.store_count(layout, 5)
    assert lab_hosts.wanted_count(layout, None, {}) == 5
    assert lab_hosts.wanted_count(layout, None, {'VMHA_LAB_HOSTS': '6'}) == 6
    assert lab_hosts.wanted_count(layout, 3, {'VMHA_LAB_HOSTS': '6'}) == 3
    with pytest.raises(lab_common.LabError, match='VMHA_LAB_HOSTS'):
        lab_hosts.wanted_count(layout, None, {'VMHA_LAB_HOSTS': 'six'})


def test_growing_needs_the_lab_lock_held(tmp_path):
    path = str(tmp_path / 'lab.lock')
    lab_hosts.check_may_grow(3, path)      # the default shape: no lock
    with pytest.raises(lab_common.LabError, match='lab lock'):
        lab_hosts.check_may_grow(4, path)
    with open(path, 'a') as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        lab_hosts.check_may_grow(4, path)
    assert not lab_hosts.lock_held(path)   # asking did not take it
