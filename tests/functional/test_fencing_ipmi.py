"""The ipmi fencing driver against OpenIPMI's ipmi_sim (real IPMI 2.0)."""

import time

import pytest

from tests.functional import peers
from tests.functional.peers import ipmi_sim
from vmha.drivers import loader
from vmha.drivers.fencing import ipmi
from vmha import exception
from vmha import fencing

PASSWORD = ipmi_sim.PASSWORD


spec = ipmi_sim.host_spec


@pytest.fixture
def conf():
    return peers.make_conf(fencing__power_off_confirm_count=5,
                           fencing__power_off_confirm_interval=0.2,
                           fencing__bmc_timeout=10)


driver = peers.fencing_driver('ipmi', ipmi.IPMIDriver)


@pytest.fixture
def bmc(ipmi_bmc):
    ipmi_bmc.power = 1
    return ipmi_bmc


def test_power_status_off_on(driver, bmc):
    host = spec()
    driver.validate(host)
    assert driver.get_power_state(host) == 'on'
    driver.power_off(host)
    assert bmc.power == 0
    assert driver.get_power_state(host) == 'off'
    driver.power_on(host)
    assert bmc.power == 1
    assert driver.get_power_state(host) == 'on'
    calls = bmc.chassis_calls()
    assert any(c.endswith('set power 0') for c in calls)
    assert any(c.endswith('set power 1') for c in calls)


def test_session_is_reused(driver, bmc):
    host = spec()
    start = time.monotonic()
    driver.get_power_state(host)
    first = time.monotonic() - start
    start = time.monotonic()
    for _ in range(10):
        assert driver.get_power_state(host) == 'on'
    ten = time.monotonic() - start
    print('ipmi: status %.3fs, 10 more on the open session %.3fs'
          % (first, ten))
    assert len(driver._sessions) == 1
    # every recovery of the process gets this same driver, and its session
    assert loader.get(loader.FENCING_NAMESPACE, 'ipmi', driver.conf) \
        is driver
    assert len(driver._sessions) == 1


def test_idle_session_is_replaced(driver, bmc, monkeypatch):
    """ipmi_sim drops idle sessions and pyghmi then waits ~20 s for the
    dead one: a session idle too long is replaced by a new login."""
    host = spec()
    assert driver.get_power_state(host) == 'on'
    [(first, _)] = driver._sessions.values()
    monkeypatch.setattr(ipmi, 'SESSION_IDLE_SECONDS', 0)
    assert driver.get_power_state(host) == 'on'
    [(second, _)] = driver._sessions.values()
    assert second is not first
    assert second.ipmi_session is not first.ipmi_session
    assert not first.ipmi_session.logged


def test_fence_confirms_off(conf, driver, bmc):
    fencer = fencing.Fencer.from_conf(conf, driver)
    start = time.monotonic()
    result = fencer.fence(spec())
    elapsed = time.monotonic() - start
    print('ipmi: fence on ipmi_sim confirmed in %.3fs (%d poll)'
          % (elapsed, result.polls))
    assert result.first_state == 'on'
    assert result.polls == 1
    assert result.driver == 'ipmi'
    assert bmc.power == 0
    # an off host is powered off again all the same (issue 12: a first
    # "off" is recorded, never trusted); the BMC takes it
    calls = len(bmc.chassis_calls())
    again = fencer.fence(spec())
    assert again.first_state == 'off'
    assert [c for c in bmc.chassis_calls()[calls:] if 'set power' in c]
    assert bmc.power == 0


def test_wrong_password_is_auth_error_at_once(driver, bmc):
    host = spec(bmc_password='not-the-password')
    start = time.monotonic()
    with pytest.raises(exception.BMCAuthError) as err:
        driver.get_power_state(host)
    assert time.monotonic() - start < 2
    message = str(err.value)
    assert 'compute-ipmi' in message and '127.0.0.1:16230' in message
    assert 'not-the-password' not in message and PASSWORD not in message
    # the right password still works afterwards
    assert driver.get_power_state(spec()) == 'on'


def test_unknown_user_is_auth_error(driver, bmc):
    with pytest.raises(exception.BMCAuthError) as err:
        driver.power_off(spec(bmc_username='intruder'))
    assert 'intruder' in str(err.value)
    assert bmc.power == 1


def test_unreachable_bmc_fails_within_deadline(conf, driver):
    host = spec(port=peers.CLOSED_PORT)
    fencer = fencing.Fencer(driver, confirm_count=3, confirm_interval=0.1,
                            call_timeout=1.5)
    start = time.monotonic()
    with pytest.raises(exception.BMCTimeout) as err:
        fencer.fence(host)
    elapsed = time.monotonic() - start
    # the status read, then the power-off (sent whatever the read did),
    # each cut at the 1.5 s deadline; pyghmi alone would take ~5 s each
    assert elapsed < 6
    assert 'did not answer power off within 1.5s' in str(err.value)
    assert '127.0.0.1:%d' % peers.CLOSED_PORT in str(err.value)
    # without a deadline, pyghmi gives up after ~5 s: mapped to unreachable
    start = time.monotonic()
    with pytest.raises(exception.BMCUnreachable):
        driver.get_power_state(host)
    print('ipmi: unreachable BMC reported by pyghmi after %.2fs'
          % (time.monotonic() - start))


def test_bmc_ignoring_power_off_is_unconfirmed(driver, ipmi_bmc_stuck):
    ipmi_bmc_stuck.power = 1
    host = spec(port=ipmi_sim.STUCK_PORT, name='compute-stuck')
    fencer = fencing.Fencer(driver, confirm_count=4, confirm_interval=0.25,
                            call_timeout=5)
    start = time.monotonic()
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(host)
    elapsed = time.monotonic() - start
    assert err.value.kwargs['polls'] == 4
    assert err.value.kwargs['state'] == 'on'
    assert 0.75 <= elapsed < 4
    assert 'NOT evacuated' in str(err.value)
    assert any('ignoring power off' in c for c in
               ipmi_bmc_stuck.chassis_calls())
    assert ipmi_bmc_stuck.power == 1


def test_recovers_after_bmc_outage(tmp_path, driver):
    """A BMC that was down answers again: the next call logs in anew."""
    sim = ipmi_sim.IpmiSim(tmp_path, 16232, name='vmha-flaky')
    host = spec(port=16232)
    with pytest.raises(exception.BMCTimeout):
        fencing.Fencer(driver, 1, 0, call_timeout=1).power_state(host)
    sim.start()
    try:
        assert driver.get_power_state(host) == 'on'
        driver.power_off(host)
        assert sim.power == 0
    finally:
        sim.stop()
