"""The shared fencing sequence (vmha.fencing.Fencer) with scripted drivers."""

import os
import subprocess
import sys
import threading
import time

import pytest

from vmha.drivers.fencing import base
from vmha import exception
from vmha import fencing
from vmha import inventory
from tests.unit.conftest import make_conf
from tests.unit import fakes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))

HOST = inventory.HostSpec(name='c1', bmc_address='192.0.2.5', bmc_port=623,
                          bmc_username='admin', bmc_password='S3cret!')


def make(driver, count=5, interval=2.0, timeout=5):
    clock = fakes.Clock(100.0)
    return fencing.Fencer(driver, count, interval, timeout,
                          sleep=clock.sleep, clock=clock), clock


def test_first_off_reading_is_recorded_not_trusted():
    """Issue 12: a first "off" never skips the power-off (the old test
    asserted calls == ['status'] here)."""
    drv = fakes.FakeFencingDriver(states=['off'])
    fencer, clock = make(drv)
    result = fencer.fence(HOST)
    assert drv.calls == ['status', 'off', 'status']
    assert result.first_state == 'off'
    assert result.polls == 1
    assert clock.sleeps == []


def test_false_first_off_reading_still_fences_and_confirms():
    # reads "off" (stale BMC, SSH check of the wrong thing), is on
    drv = fakes.FakeFencingDriver(states=['off', 'on', 'off'],
                                  stays_on=True)
    fencer, clock = make(drv, count=5, interval=2.0)
    result = fencer.fence(HOST)
    assert drv.calls == ['status', 'off', 'status', 'status']
    assert (result.first_state, result.polls) == ('off', 2)
    assert clock.sleeps == [2.0]


def test_false_first_off_reading_of_a_host_that_stays_on_is_unconfirmed():
    drv = fakes.FakeFencingDriver(states=['off'] + ['on'] * 3,
                                  stays_on=True)
    fencer, _ = make(drv, count=3)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(HOST)
    assert drv.calls == ['status', 'off'] + ['status'] * 3
    assert err.value.kwargs['state'] == 'on'


@pytest.mark.parametrize('k', [1, 2, 5])
def test_off_after_k_polls(k):
    # initial read, then k-1 "on" polls and the k-th reads "off"
    drv = fakes.FakeFencingDriver(states=['on'] + ['on'] * (k - 1) + ['off'],
                                  stays_on=True)
    fencer, clock = make(drv, count=5, interval=2.0)
    result = fencer.fence(HOST)
    assert result.first_state == 'on'
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
    assert 'failed' not in message          # no poll failed


def test_unknown_states_are_not_off():
    drv = fakes.FakeFencingDriver(states=['on', 'unknown', 'bogus'])
    fencer, _ = make(drv, count=2)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(HOST)
    assert err.value.kwargs['state'] == base.POWER_UNKNOWN


def _timeout(op='power status'):
    return exception.BMCTimeout(host='c1', bmc='192.0.2.5:623',
                                operation=op, timeout=5)


@pytest.mark.parametrize('error', [
    _timeout(),
    exception.BMCUnreachable(host='c1', bmc='192.0.2.5:623',
                             reason='connection refused'),
    KeyError('powerstate'),                 # a driver bug
])
def test_failed_poll_is_retried_within_the_window(error):
    drv = fakes.FakeFencingDriver(states=['on', error, 'off'],
                                  stays_on=True)
    fencer, clock = make(drv, count=3, interval=2.0)
    result = fencer.fence(HOST)
    assert drv.calls == ['status', 'off', 'status', 'status']
    assert result.polls == 2
    assert clock.sleeps == [2.0]


def test_polls_failing_to_the_end_are_unconfirmed_with_the_last_error():
    states = ['on', 'on', _timeout(), 'on',
              exception.BMCUnreachable(host='c1', bmc='192.0.2.5:623',
                                       reason='no route to host')]
    drv = fakes.FakeFencingDriver(states=states, stays_on=True)
    fencer, clock = make(drv, count=4, interval=1.0)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(HOST)
    assert drv.calls == ['status', 'off'] + ['status'] * 4
    assert clock.sleeps == [1.0] * 3
    assert err.value.kwargs['state'] == base.POWER_UNKNOWN
    message = str(err.value)
    assert 'poll 4 failed' in message and 'no route to host' in message
    assert 'NOT evacuated' in message


def test_last_error_is_named_even_when_a_later_poll_answers():
    drv = fakes.FakeFencingDriver(states=['on', _timeout(), 'on'],
                                  stays_on=True)
    fencer, _ = make(drv, count=2)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(HOST)
    assert err.value.kwargs['state'] == 'on'
    assert 'poll 1 failed' in str(err.value)
    assert 'did not answer power status' in str(err.value)


@pytest.mark.parametrize('error', [
    exception.BMCAuthError(host='c1', bmc='192.0.2.5:623', reason='nope'),
    KeyError('powerstate'),
])
def test_failed_first_read_does_not_stop_the_power_off(error):
    drv = fakes.FakeFencingDriver(states=[error])
    fencer, _ = make(drv)
    result = fencer.fence(HOST)
    assert drv.calls == ['status', 'off', 'status']
    assert result.first_state == fencing.FIRST_READ_FAILED


def test_status_that_always_fails_is_unconfirmed_not_fenced():
    error = exception.BMCAuthError(host='c1', bmc='192.0.2.5:623',
                                   reason='nope')
    drv = fakes.FakeFencingDriver(error=error)
    fencer, _ = make(drv, count=3)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(HOST)
    assert drv.calls == ['status', 'off'] + ['status'] * 3
    assert 'refused the credentials: nope' in str(err.value)


@pytest.mark.parametrize('op', ['status', 'off'])
def test_hanging_call_times_out_within_deadline(op):
    """A hung status read is a failed poll (the fence goes on and ends
    unconfirmed); a hung power-off fails the fence at once."""
    release = threading.Event()

    class Hanging(fakes.FakeFencingDriver):
        def get_power_state(self, host):
            self.calls.append('status')
            if op == 'status':
                release.wait(60)
            return 'on'

        def power_off(self, host):
            self.calls.append('off')
            if op == 'off':
                release.wait(60)

    drv = Hanging()
    fencer = fencing.Fencer(drv, 2, 0, call_timeout=0.2)
    start = time.monotonic()
    try:
        expected = (exception.PowerOffUnconfirmed if op == 'status'
                    else exception.BMCTimeout)
        with pytest.raises(expected) as err:
            fencer.fence(HOST)
    finally:
        release.set()
    # generous: only shows that the 60 s hang was not waited for
    assert time.monotonic() - start < 30
    if op == 'status':
        assert drv.calls == ['status', 'off', 'status', 'status']
        assert 'did not answer power status within 0.2s' in str(err.value)
    else:
        assert drv.calls == ['status', 'off']
        assert 'power off' in str(err.value)
        assert err.value.kwargs['timeout'] == 0.2


def test_power_off_errors_propagate_unchanged():
    error = exception.BMCAuthError(host='c1', bmc='192.0.2.5:623',
                                   reason='nope')
    drv = fakes.FakeFencingDriver(off_error=error)
    fencer, _ = make(drv)
    with pytest.raises(exception.BMCAuthError) as err:
        fencer.fence(HOST)
    assert err.value is error
    assert drv.calls == ['status', 'off']


def test_unexpected_driver_errors_become_fencing_errors():
    drv = fakes.FakeFencingDriver(off_error=KeyError('chassis'))
    fencer, _ = make(drv)
    with pytest.raises(exception.FencingError) as err:
        fencer.fence(HOST)
    assert type(err.value) is exception.FencingError
    assert isinstance(err.value.__cause__, KeyError)
    message = str(err.value)
    assert 'c1' in message and '192.0.2.5:623' in message
    assert "power off: unexpected KeyError: 'chassis'" in message


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


class Needy(fakes.FakeFencingDriver):
    required_fields = ('bmc_address', 'bmc_username', 'bmc_password')


def test_host_without_the_driver_fields_is_never_called():
    host = inventory.HostSpec(name='c9', bmc_username='admin')
    drv = Needy()
    fencer, _ = make(drv)
    with pytest.raises(exception.HostNotFenceable) as err:
        fencer.fence(host)
    assert drv.calls == []
    assert str(err.value) == (
        'Host c9 cannot be fenced: its fencing driver fake needs '
        'bmc_address, bmc_password, which its inventory entry lacks; not '
        'recovering it.')


# -- check_fenceable ----------------------------------------------------------

def test_check_fenceable_refuses_a_host_missing_from_the_inventory():
    conf = make_conf(fencing__default_driver='noop')
    bare = inventory.HostSpec(name='stranger')
    for driver in (None, fakes.FakeFencingDriver()):
        with pytest.raises(exception.HostNotFenceable) as err:
            fencing.check_fenceable(conf, bare, False, driver)
        assert "not in vmha's inventory" in str(err.value)
        assert 'stranger' in str(err.value)
        assert '\n' not in str(err.value)


def test_check_fenceable_refuses_missing_bmc_details_of_the_default():
    conf = make_conf()                       # default_driver = ipmi
    with pytest.raises(exception.HostNotFenceable) as err:
        fencing.check_fenceable(conf, inventory.HostSpec(name='c2'), True)
    assert 'ipmi needs bmc_address, bmc_username, bmc_password' in \
        str(err.value)


def test_check_fenceable_allows_complete_entries_and_explicit_noop():
    fencing.check_fenceable(make_conf(), HOST, True)
    fencing.check_fenceable(
        make_conf(), inventory.HostSpec(name='c3', fencing_driver='noop'),
        True)
    fencing.check_fenceable(make_conf(fencing__default_driver='noop'),
                            inventory.HostSpec(name='c4'), True)
    fencing.check_fenceable(make_conf(), inventory.HostSpec(name='c5'),
                            True, fakes.FakeFencingDriver())


# -- the BMC threads ----------------------------------------------------------

def test_bmc_calls_run_in_daemon_threads():
    release = threading.Event()
    seen = []

    def hang(host):
        seen.append(threading.current_thread())
        release.wait(60)

    try:
        with pytest.raises(exception.BMCTimeout):
            fencing.call_with_deadline(hang, HOST, 0.05, 'power status')
        assert seen[0].daemon is True
        assert seen[0].name == 'vmha-bmc-c1'
        assert seen[0].is_alive()
    finally:
        release.set()


HANG_FOREVER = r"""
import threading
from vmha import exception, fencing, inventory

class Hung:
    name = 'hung'
    def get_power_state(self, host):
        threading.Event().wait()       # never returns
    power_off = get_power_state

host = inventory.HostSpec(name='c1', bmc_address='192.0.2.5')
try:
    fencing.Fencer(Hung(), 2, 0, call_timeout=0.2).fence(host)
except exception.BMCTimeout as err:
    print('gave up:', err, flush=True)
"""


def test_a_hung_bmc_never_keeps_the_process_from_exiting():
    """The worker threads of concurrent.futures are joined at exit: with
    them this child would never exit."""
    proc = subprocess.run(
        [sys.executable, '-c', HANG_FOREVER], capture_output=True,
        text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert 'gave up: BMC 192.0.2.5 of host c1 did not answer power off' \
        in proc.stdout


def test_from_conf_uses_fencing_options():
    conf = make_conf(fencing__power_off_confirm_count=7,
                     fencing__power_off_confirm_interval=0.25,
                     fencing__bmc_timeout=3)
    fencer = fencing.Fencer.from_conf(conf, fakes.FakeFencingDriver())
    assert (fencer.confirm_count, fencer.confirm_interval,
            fencer.call_timeout) == (7, 0.25, 3)
