"""The redfish fencing driver against sushy-tools' emulator (fake driver).

The emulator applies a power change 1-11 s after the request: the confirm
loop polls every 0.5 s for 13 s. Each test uses its own fake system (see
peers/sushy.py) so it starts from a known power state.
"""

import time

import pytest

from tests.functional import peers
from tests.functional.peers import sushy as sushy_peer
from vmha.drivers.fencing import redfish
from vmha import exception
from vmha import fencing

PASSWORD = sushy_peer.PASSWORD
CONFIRM_INTERVAL = 0.5
CONFIRM_COUNT = 26          # 13 s: the fake driver takes up to 11 s


def system(name):
    return sushy_peer.SYSTEMS[name][0]


spec = sushy_peer.host_spec


@pytest.fixture
def conf():
    return peers.make_conf(
        fencing__power_off_confirm_count=CONFIRM_COUNT,
        fencing__power_off_confirm_interval=CONFIRM_INTERVAL,
        fencing__bmc_timeout=5,
        redfish__connect_timeout=2, redfish__read_timeout=4)


driver = peers.fencing_driver('redfish', redfish.RedfishDriver)


def wait_for(func, expected, timeout=13, interval=CONFIRM_INTERVAL):
    deadline = time.monotonic() + timeout
    while True:
        value = func()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def test_power_status(driver, redfish_bmc):
    host = spec(redfish_bmc.url, system('status'))
    driver.validate(host)
    start = time.monotonic()
    assert driver.get_power_state(host) == 'on'
    first = time.monotonic() - start
    start = time.monotonic()
    for _ in range(10):
        assert driver.get_power_state(host) == 'on'
    print('redfish: first status %.3fs, 10 more %.3fs'
          % (first, time.monotonic() - start))
    off = spec(redfish_bmc.url, system('already-off'))
    assert driver.get_power_state(off) == 'off'


def test_fence_confirms_off(conf, driver, redfish_bmc):
    uuid = system('fence')
    fencer = fencing.Fencer.from_conf(conf, driver)
    start = time.monotonic()
    result = fencer.fence(spec(redfish_bmc.url, uuid))
    elapsed = time.monotonic() - start
    print('redfish: fence confirmed in %.2fs after %d polls'
          % (elapsed, result.polls))
    assert result.first_state == 'on'
    assert result.driver == 'redfish'
    assert elapsed < CONFIRM_COUNT * CONFIRM_INTERVAL + 2
    assert redfish_bmc.power_state(uuid) == 'Off'


def test_fence_already_off(conf, driver, redfish_bmc):
    """ForceOff is sent to an off system too (a first "off" is never
    trusted) and the BMC accepts it."""
    result = fencing.Fencer.from_conf(conf, driver).fence(
        spec(redfish_bmc.url, system('already-off')))
    assert result.first_state == 'off' and result.polls == 1
    assert redfish_bmc.power_state(system('already-off')) == 'Off'


def test_force_off_refused_for_an_off_system_is_fenced(conf, driver,
                                                       redfish_strict_bmc):
    """iDRAC answers ForceOff of an off server with HTTP 409: since the
    power-off is always sent, that must not fail the fence."""
    host = spec(redfish_strict_bmc.url, system('already-off'))
    result = fencing.Fencer.from_conf(conf, driver).fence(host)
    assert result.first_state == 'off' and result.polls == 1
    assert redfish_strict_bmc.swallowed == [
        '/redfish/v1/Systems/%s/Actions/ComputerSystem.Reset'
        % system('already-off')]


def test_power_on(driver, redfish_bmc):
    uuid = system('power-on')
    host = spec(redfish_bmc.url, '/redfish/v1/Systems/%s' % uuid)
    assert driver.get_power_state(host) == 'off'
    start = time.monotonic()
    driver.power_on(host)
    assert wait_for(lambda: driver.get_power_state(host), 'on') == 'on'
    print('redfish: power on applied after %.2fs'
          % (time.monotonic() - start))


def test_wrong_password_is_auth_error_at_once(driver, redfish_bmc):
    host = spec(redfish_bmc.url, system('auth'),
                bmc_password='not-the-password')
    start = time.monotonic()
    with pytest.raises(exception.BMCAuthError) as err:
        driver.power_off(host)
    assert time.monotonic() - start < 1
    message = str(err.value)
    assert 'compute-redfish' in message and redfish_bmc.url in message
    assert 'not-the-password' not in message and PASSWORD not in message
    assert redfish_bmc.power_state(system('auth')) == 'On'
    # the right password works afterwards (no stale connection is reused)
    assert driver.get_power_state(spec(redfish_bmc.url,
                                       system('auth'))) == 'on'


def test_closed_port_fails_fast(conf, driver):
    host = spec('http://127.0.0.1:%d' % peers.CLOSED_PORT, 'x')
    start = time.monotonic()
    with pytest.raises(exception.BMCUnreachable) as err:
        fencing.Fencer.from_conf(conf, driver).fence(host)
    elapsed = time.monotonic() - start
    print('redfish: closed port reported in %.3fs' % elapsed)
    assert elapsed < 2
    assert str(peers.CLOSED_PORT) in str(err.value)


def test_silent_bmc_hits_the_deadline(conf, driver, tmp_path):
    """A BMC that accepts TCP but never answers: the read timeout (4 s) is
    beyond the 1 s deadline, which ends the call."""
    import socket

    listener = socket.socket()
    listener.bind((peers.HOST, 16252))
    listener.listen(8)
    try:
        host = spec('http://127.0.0.1:16252', 'x')
        fencer = fencing.Fencer(driver, 1, 0, call_timeout=1)
        start = time.monotonic()
        with pytest.raises(exception.BMCTimeout) as err:
            fencer.fence(host)
        # the status read, then the power-off (sent whatever the read
        # did), each cut at 1 s, well before the 4 s read timeout
        assert time.monotonic() - start < 3.5
        assert 'did not answer power off within 1s' in str(err.value)
    finally:
        listener.close()


def test_unknown_system_id(driver, redfish_bmc):
    with pytest.raises(exception.FencingError) as err:
        driver.power_off(spec(redfish_bmc.url, 'no-such-system'))
    message = str(err.value)
    assert 'no-such-system' in message
    assert system('fence') in message        # lists what exists


def test_several_systems_need_system_id(driver, redfish_bmc):
    with pytest.raises(exception.FencingError) as err:
        driver.get_power_state(spec(redfish_bmc.url))
    assert 'system_id' in str(err.value)
    assert '%d systems' % len(sushy_peer.SYSTEMS) in str(err.value)


def test_bmc_ignoring_power_off_is_unconfirmed(driver, redfish_bmc,
                                               redfish_ignoring_bmc):
    uuid = system('ignored')
    host = spec(redfish_ignoring_bmc.url, uuid)
    fencer = fencing.Fencer(driver, confirm_count=4, confirm_interval=0.25,
                            call_timeout=5)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(host)
    assert err.value.kwargs['polls'] == 4
    assert err.value.kwargs['state'] == 'on'
    assert redfish_ignoring_bmc.swallowed            # ForceOff was sent
    assert redfish_bmc.power_state(uuid) == 'On'


def test_tls_verified_with_ca_bundle(conf, driver, redfish_tls_bmc):
    url = redfish_tls_bmc.url
    ca = redfish_tls_bmc.tls['ca']
    # default: system trust store, which does not know the private CA
    with pytest.raises(exception.FencingError) as err:
        driver.get_power_state(spec(url))
    assert 'TLS' in str(err.value) and 'ca_bundle' in str(err.value)
    # per-host CA bundle; one system, so system_id may be left out
    host = spec(url, bmc_options={'verify': ca})
    driver.validate(host)
    assert driver.get_power_state(host) == 'on'
    # [redfish] ca_bundle for every host
    conf.set_override('ca_bundle', ca, 'redfish')
    assert driver.get_power_state(spec(url)) == 'on'
    # verification off (per host) also works, with a warning
    conf.clear_override('ca_bundle', 'redfish')
    assert driver.get_power_state(
        spec(url, bmc_options={'verify': 'false'})) == 'on'
