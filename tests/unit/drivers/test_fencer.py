"""The shared fencing sequence (vmha.fencing.Fencer) with scripted drivers."""

import threading
import time

import pytest

from vmha.drivers.fencing import base
from vmha import exception
from vmha import fencing
from vmha import inventory
from tests.unit import fakes

HOST = inventory.HostSpec(name='c1', bmc_address='192.0.2.5', bmc_port=623,
                          bmc_username='admin', bmc_password='S3cret!')


class Clock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def make(driver, count=5, interval=2.0, timeout=5):
    clock = Clock()
    return fencing.Fencer(driver, count, interval, timeout,
                          sleep=clock.sleep, clock=clock), clock


def test_already_off_reads_once_and_does_not_power_off():
    drv = fakes.FakeFencingDriver(states=['off'])
    fencer, clock = make(drv)
    result = fencer.fence(HOST)
    assert result.was_already_off is True
    assert result.polls == 1
    assert drv.calls == ['status']
    assert clock.sleeps == []


@pytest.mark.parametrize('k', [1, 2, 5])
def test_off_after_k_polls(k):
    # initial read, then k-1 "on" polls and the k-th reads "off"
    drv = fakes.FakeFencingDriver(states=['on'] + ['on'] * (k - 1) + ['off'],
                                  stays_on=True)
    fencer, clock = make(drv, count=5, interval=2.0)
    result = fencer.fence(HOST)
    assert result.was_already_off is False
    assert result.polls == k
    assert drv.calls == ['status', 'off'] + ['status'] * k
    assert clock.sleeps == [2.0] * (k - 1)
    assert result.elapsed == 2.0 * (k - 1)
    assert result.to_dict()['host'] == 'c1'


def test_never_off_is_unconfirmed_after_n_polls():
    drv = fakes.FakeFencingDriver(stays_on=True)
    fencer, clock = make(drv, count=4, interval=1.5)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(HOST)
    assert drv.calls == ['status', 'off'] + ['status'] * 4
    assert clock.sleeps == [1.5] * 3        # none after the last poll
    assert err.value.kwargs['polls'] == 4
    assert err.value.kwargs['state'] == 'on'
    message = str(err.value)
    assert 'c1' in message and '192.0.2.5:623' in message
    assert 'S3cret!' not in message


def test_unknown_states_are_not_off():
    drv = fakes.FakeFencingDriver(states=['on', 'unknown', 'bogus'])
    fencer, _ = make(drv, count=2)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(HOST)
    assert err.value.kwargs['state'] == base.POWER_UNKNOWN


@pytest.mark.parametrize('op', ['status', 'off'])
def test_hanging_call_times_out_within_deadline(op):
    release = threading.Event()

    class Hanging(fakes.FakeFencingDriver):
        def get_power_state(self, host):
            if op == 'status':
                release.wait(10)
            return 'on'

        def power_off(self, host):
            release.wait(10)

    fencer = fencing.Fencer(Hanging(), 3, 0, call_timeout=0.2)
    start = time.monotonic()
    try:
        with pytest.raises(exception.BMCTimeout) as err:
            fencer.fence(HOST)
    finally:
        release.set()
    assert time.monotonic() - start < 1.0
    assert ('power status' if op == 'status' else 'power off') in \
        str(err.value)
    assert err.value.kwargs['timeout'] == 0.2


def test_driver_errors_propagate_unchanged():
    error = exception.BMCAuthError(host='c1', bmc='192.0.2.5:623',
                                   reason='nope')
    drv = fakes.FakeFencingDriver(error=error)
    fencer, _ = make(drv)
    with pytest.raises(exception.BMCAuthError) as err:
        fencer.fence(HOST)
    assert err.value is error
    assert drv.calls == ['status']


def test_unexpected_driver_errors_become_fencing_errors():
    drv = fakes.FakeFencingDriver(error=KeyError('powerstate'))
    fencer, _ = make(drv)
    with pytest.raises(exception.FencingError) as err:
        fencer.fence(HOST)
    assert type(err.value) is exception.FencingError
    assert isinstance(err.value.__cause__, KeyError)
    message = str(err.value)
    assert 'c1' in message and '192.0.2.5:623' in message
    assert "power status: unexpected KeyError: 'powerstate'" in message


def test_power_off_error_stops_the_sequence():
    class Refusing(fakes.FakeFencingDriver):
        def power_off(self, host):
            self.calls.append('off')
            raise exception.FencingUnsupported(
                driver='fake', operation='power off', host=host.name,
                bmc=host.bmc_label, reason='read-only BMC')

    drv = Refusing()
    fencer, _ = make(drv)
    with pytest.raises(exception.FencingUnsupported):
        fencer.fence(HOST)
    assert drv.calls == ['status', 'off']


def test_from_conf_uses_fencing_options():
    from tests.unit.conftest import make_conf

    conf = make_conf(fencing__power_off_confirm_count=7,
                     fencing__power_off_confirm_interval=0.25,
                     fencing__bmc_timeout=3)
    fencer = fencing.Fencer.from_conf(conf, fakes.FakeFencingDriver())
    assert (fencer.confirm_count, fencer.confirm_interval,
            fencer.call_timeout) == (7, 0.25, 3)
