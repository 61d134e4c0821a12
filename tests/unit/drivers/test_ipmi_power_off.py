"""The ipmi driver's power-down, on a scripted pyghmi Command.

The power-down is sent whatever the state reads (pyghmi's set_power would
skip it for a chassis that reads off); a BMC that refuses it for a chassis
that is off is fine, any other refusal fails.
"""

import pytest

from vmha.drivers.fencing import ipmi
from vmha import exception
from vmha import inventory
from tests.unit.conftest import make_conf

HOST = inventory.HostSpec(name='c1', fencing_driver='ipmi',
                          bmc_address='192.0.2.7', bmc_username='admin',
                          bmc_password='S3cret!')


class Command:
    """pyghmi's Command as far as _power_down uses it."""

    bmc = '192.0.2.7'

    def __init__(self, answer, state):
        self.answer = answer
        self.state = state
        self.calls = []

    def raw_command(self, netfn, command, data):
        self.calls.append(('raw', netfn, command, data))
        return self.answer

    def get_power(self):
        self.calls.append(('get_power',))
        return {'powerstate': self.state}

    def set_power(self, *args, **kwargs):
        raise AssertionError('set_power skips the command when off')


@pytest.fixture
def driver(monkeypatch):
    drv = ipmi.IPMIDriver(make_conf())
    commands = []
    monkeypatch.setattr(drv, '_command',
                        lambda host: ('key', commands[-1]))
    drv.use = commands.append
    return drv


@pytest.mark.parametrize('state', ['on', 'off'])
def test_power_down_is_sent_whatever_the_state(driver, state):
    cmd = Command({'command': 2, 'netfn': 1, 'data': []}, state)
    driver.use(cmd)
    driver.power_off(HOST)
    assert cmd.calls == [('raw', 0, 2, [0])]


def test_refusal_for_a_chassis_that_is_off_is_fine(driver):
    cmd = Command({'error': 'Command not supported in present state',
                   'code': 0xd5}, 'off')
    driver.use(cmd)
    driver.power_off(HOST)
    assert cmd.calls == [('raw', 0, 2, [0]), ('get_power',)]


def test_refusal_for_a_chassis_that_is_on_fails(driver):
    cmd = Command({'error': 'Insufficient privilege level', 'code': 0xd4},
                  'on')
    driver.use(cmd)
    with pytest.raises(exception.BMCAuthError) as err:
        driver.power_off(HOST)
    assert 'insufficient privilege' in str(err.value).lower()
    assert 'S3cret!' not in str(err.value)


def test_no_bmc_address_never_reaches_pyghmi():
    """pyghmi without an address uses the LOCAL /dev/ipmi0 (issue 12)."""
    drv = ipmi.IPMIDriver(make_conf())
    host = inventory.HostSpec(name='c2', bmc_username='admin',
                              bmc_password='x')
    for call in (drv.get_power_state, drv.power_off, drv.power_on):
        with pytest.raises(exception.HostNotFenceable) as err:
            call(host)
        assert 'no bmc_address' in str(err.value)
