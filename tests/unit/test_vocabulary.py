"""The domain vocabulary (vmha.states, vmha.levels), its deprecated homes."""

import importlib
import sys
import warnings

import pytest

from vmha.conf import recovery as recovery_conf
from vmha.db import api as db_api
from vmha.db import models
from vmha import evacuation_plan
from vmha import exception
from vmha import flows
from vmha import levels
from vmha import states


def test_stored_values_do_not_change():
    """The values are in existing databases: a rename must keep them."""
    assert (states.PENDING, states.RUNNING, states.COMPLETED,
            states.COMPLETED_WITH_ERRORS, states.FAILED) == (
        'pending', 'running', 'completed', 'completed_with_errors', 'failed')
    assert (states.EVAC_PENDING, states.EVAC_IN_PROGRESS, states.EVAC_DONE,
            states.EVAC_FAILED, states.EVAC_SKIPPED, states.EVAC_WAITING,
            states.EVAC_HANDED_OVER) == (
        'pending', 'evacuating', 'evacuated', 'failed', 'skipped', 'waiting',
        'handed_over')
    assert (states.HOST_HEALTHY, states.HOST_RECOVERING,
            states.HOST_EVACUATED, states.HOST_FAILED) == (
        'healthy', 'recovering', 'evacuated', 'failed')
    assert models.Host.__table__.c.state.default.arg == 'healthy'


@pytest.mark.parametrize('name', [
    'PENDING', 'RUNNING', 'COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED',
    'FINAL_STATES', 'ACTIVE_STATES', 'EVAC_PENDING', 'EVAC_IN_PROGRESS',
    'EVAC_DONE', 'EVAC_FAILED', 'EVAC_SKIPPED', 'EVAC_WAITING',
    'EVAC_HANDED_OVER', 'PHASES'])
def test_db_api_still_exports_the_old_names(name):
    assert getattr(db_api, name) == getattr(states, name)


def test_phases_are_recovery_columns():
    columns = set(models.Recovery.__table__.c.keys())
    assert set(states.PHASES) <= columns


def test_every_level_is_built_by_its_named_builder():
    for number, level in levels.LEVELS.items():
        assert level.number == number
        builder = getattr(flows, level.builder)
        assert flows._BUILDERS[number] is builder
    assert flows.isolate_force_down_first.__name__ == levels.FASTEST.builder


def test_levels_say_once_what_each_does():
    assert levels.NUMBERS == (1, 2, 3)
    assert levels.DEFAULT is levels.FASTER
    assert [lvl.fences_first for lvl in levels.LEVELS.values()] == [
        False, True, True]
    for level in levels.LEVELS.values():
        assert flows.steps(level.number) == list(level.steps)
        assert level.steps[-1] == 'evacuate'


def test_the_option_describes_the_levels_from_the_table():
    opt = next(o for o in recovery_conf.OPTS
               if o.name == 'quick_evacuate_level')
    assert opt.default == levels.DEFAULT.number
    assert list(opt.type.choices.items()) == [
        (lvl.number, lvl.summary) for lvl in levels.LEVELS.values()]


@pytest.mark.parametrize('bad', [0, 4, None, '2', [2]])
def test_an_unknown_level_is_a_config_error(bad):
    with pytest.raises(exception.ConfigError, match='1, 2, 3'):
        levels.get(bad)


def test_flows_levels_constant_is_gone():
    """Dead since the builders moved to a table (issue 18)."""
    assert not hasattr(flows, 'LEVELS')


def test_policy_is_a_deprecated_alias_of_evacuation_plan():
    sys.modules.pop('vmha.policy', None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        policy = importlib.import_module('vmha.policy')
    assert policy is evacuation_plan
    assert any(issubclass(w.category, DeprecationWarning)
               and 'vmha.evacuation_plan' in str(w.message) for w in caught)
    from vmha import policy as again
    assert again.plan is evacuation_plan.plan
