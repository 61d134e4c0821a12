"""RedfishDriver.power_off when the BMC refuses ForceOff (scripted calls).

The power-off is always sent, also to systems that read Off; BMCs that
refuse it then (iDRAC 409, iLO 400) must not fail the fence, and nothing
else may pass for such a refusal.
"""

import pytest
import sushy
from sushy import exceptions as sushy_exc

from vmha.drivers.fencing import redfish
from vmha import exception
from vmha import inventory
from tests.unit.conftest import make_conf

HOST = inventory.HostSpec(name='c1', fencing_driver='redfish',
                          bmc_address='https://192.0.2.8',
                          bmc_username='admin', bmc_password='S3cret!')


class Response:
    def __init__(self, status_code):
        self.status_code = status_code

    def json(self):
        return {'error': {'code': 'Base.1.8.GeneralError',
                          'message': 'Server is already powered OFF.'}}


def scripted(monkeypatch, status, state):
    """A driver whose ForceOff fails with HTTP ``status`` and whose status
    read answers ``state`` (a string, or an exception to raise)."""
    driver = redfish.RedfishDriver(make_conf())
    calls = []

    def call(host, operation, func):
        calls.append(operation)
        if operation == 'power off':
            error = sushy_exc.HTTPError('POST', '/reset', Response(status))
            raise driver._translate(host, operation, error) from error
        if isinstance(state, Exception):
            raise state
        return state

    monkeypatch.setattr(driver, '_call', call)
    return driver, calls


@pytest.mark.parametrize('status', redfish.REFUSED_WHEN_OFF)
def test_refusal_for_a_system_that_reads_off_is_fine(monkeypatch, status):
    driver, calls = scripted(monkeypatch, status, sushy.PowerState.OFF)
    driver.power_off(HOST)
    assert calls == ['power off', 'power status']


@pytest.mark.parametrize('status, state', [
    (409, sushy.PowerState.ON),  # refused, and the system runs: an error
    (500, sushy.PowerState.OFF),  # not a refusal for its state
    (409, exception.BMCUnreachable(host='c1', bmc='x', reason='gone')),
])
def test_other_failures_fail_the_power_off(monkeypatch, status, state):
    driver, _ = scripted(monkeypatch, status, state)
    with pytest.raises(exception.FencingError) as err:
        driver.power_off(HOST)
    assert 'power off' in str(err.value)
    assert isinstance(err.value.__cause__, sushy_exc.HTTPError)
