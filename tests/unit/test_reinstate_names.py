"""'reinstate' (a repaired host back to service) and its deprecated names:
``vmha-manage host recover``, ``vmha.repair``, ``vmha.host.recover.end``."""

import importlib
import json
import sys
import warnings

import pytest

from vmha.cmd import manage as manage_mod
from vmha.db import api as db_api
from vmha.drivers.notification import snmp
from vmha import events
from vmha import reinstate
from tests.unit.test_cli import cli  # noqa: F401  (the fixture)
from tests.unit.test_cli import repaired  # noqa: F401  (the fixture)
from tests.unit.test_cli import running_agent  # noqa: F401,F811


def test_reinstate_emits_the_event_then_its_deprecated_name():
    assert events.HOST_REINSTATED_TYPES == (events.HOST_REINSTATED,
                                            events.HOST_RECOVERED)
    assert events.HOST_REINSTATED == 'vmha.host.reinstate.end'
    assert events.HOST_RECOVERED == 'vmha.host.recover.end'
    assert events.DEPRECATED_TYPES == {
        events.HOST_RECOVERED: events.HOST_REINSTATED}


def test_each_event_keeps_its_own_trap_number():
    """An NMS matching .0.16 keeps receiving it; the new name is new."""
    assert snmp.NOTIFICATIONS[events.HOST_RECOVERED] == (
        16, 'vmhaHostRecovered')
    assert snmp.NOTIFICATIONS[events.HOST_REINSTATED] == (
        23, 'vmhaHostReinstated')
    numbers = [n for n, _ in snmp.NOTIFICATIONS.values()]
    assert len(numbers) == len(set(numbers))


def test_the_mib_marks_the_old_notification_deprecated():
    from tests.unit.notification.test_snmp import MIB
    mib = MIB.read_text()
    old = mib[mib.index('vmhaHostRecovered NOTIFICATION-TYPE'):]
    assert old.index('STATUS      deprecated') < old.index('::=')
    new = mib[mib.index('vmhaHostReinstated NOTIFICATION-TYPE'):]
    assert new.index('STATUS      current') < new.index('::=')


def test_host_reinstate_after_repair(cli, repaired,  # noqa: F811
                                     running_agent, db_url):  # noqa: F811
    code, out, err = cli('-f', 'json', 'host', 'reinstate', 'hostA')
    assert (code, err) == (0, '')
    assert json.loads(out)['state'] == 'healthy'
    db = db_api.Database(db_url)
    assert [(e.event_type, e.payload['force_down_unset'])
            for e in db.list_events(host='hostA')] == [
        ('vmha.host.reinstate.end', True), ('vmha.host.recover.end', True)]
    db.dispose()


def test_host_recover_still_works_and_warns(cli, repaired,  # noqa: F811
                                            running_agent,  # noqa: F811
                                            db_url):
    code, out, err = cli('-f', 'json', 'host', 'recover', 'hostA')
    assert code == 0
    assert err == ('vmha-manage: warning: "host recover" is deprecated, '
                   'use "host reinstate"\n')
    assert json.loads(out)['state'] == 'healthy'
    assert repaired.services['hostA']['status'] == 'enabled'


def test_host_recover_is_hidden_from_the_command_list():
    assert manage_mod.COMMANDS['host_recover'].deprecated
    assert not manage_mod.COMMANDS['host_reinstate'].deprecated
    assert issubclass(manage_mod.COMMANDS['host_recover'],
                      manage_mod.COMMANDS['host_reinstate'])


def test_repair_is_a_deprecated_alias_of_reinstate():
    sys.modules.pop('vmha.repair', None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        repair = importlib.import_module('vmha.repair')
    assert repair is reinstate
    assert any(issubclass(w.category, DeprecationWarning)
               and 'vmha.reinstate' in str(w.message) for w in caught)
    assert repair.HostRepair is reinstate.HostReinstatement
    assert repair.RepairReport is reinstate.ReinstatementReport


@pytest.mark.parametrize('name', ['host_reinstate', 'host_recover'])
def test_both_verbs_are_entry_points(name):
    import configparser
    import pathlib
    parser = configparser.ConfigParser()
    parser.read(pathlib.Path(__file__).resolve().parents[2] / 'setup.cfg')
    points = parser['entry_points']['vmha.manage']
    assert '%s = vmha.cmd.manage:%s' % (
        name, manage_mod.COMMANDS[name].__name__) in points
