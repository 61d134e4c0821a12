"""The ssh fencing driver against a real sshd and simulated compute hosts.

The hosts are forced commands (peers/sshd.py): they answer the driver's
default stop and check commands like systemd would for nova-compute.
"""

import socket
import time

import pytest

from tests.functional import peers
from tests.functional.peers import sshd as sshd_peer_mod
from vmha.drivers import loader
from vmha.drivers.fencing import ssh
from vmha import exception
from vmha import fencing


@pytest.fixture
def conf(sshd_peer):
    return peers.make_conf(
        fencing__power_off_confirm_count=3,
        fencing__power_off_confirm_interval=0.2,
        fencing__bmc_timeout=10,
        ssh_fencing__known_hosts_file=sshd_peer.known_hosts,
        ssh_fencing__connect_timeout=2,
        ssh_fencing__command_timeout=5)


@pytest.fixture
def driver(conf):
    drv = loader.load(loader.FENCING_NAMESPACE, 'ssh', conf)
    assert isinstance(drv, ssh.SSHFencingDriver)
    return drv


@pytest.fixture
def hosts(sshd_peer):
    return sshd_peer.reset_hosts()


spec = sshd_peer_mod.host_spec


def test_fence_ok(conf, driver, sshd_peer, hosts):
    fake = hosts['ok']
    host = spec(sshd_peer, fake)
    driver.validate(host)
    assert driver.get_power_state(host) == 'on'
    start = time.monotonic()
    result = fencing.Fencer.from_conf(conf, driver).fence(host)
    elapsed = time.monotonic() - start
    print('ssh: fence confirmed in %.3fs (%d poll)' % (elapsed,
                                                      result.polls))
    assert result.was_already_off is False and result.polls == 1
    assert fake.nova_compute == 'inactive'
    opts = conf.ssh_fencing
    assert fake.commands() == [opts.check_command, opts.check_command,
                               opts.stop_command, opts.check_command]
    # fenced hosts read "off"; fencing again is a no-op
    assert fencing.Fencer.from_conf(conf, driver).fence(
        host).was_already_off is True


def test_power_on_unsupported_unless_configured(conf, driver, sshd_peer,
                                                hosts):
    fake = hosts['ok2']
    host = spec(sshd_peer, fake)
    driver.power_off(host)
    with pytest.raises(exception.FencingUnsupported) as err:
        driver.power_on(host)
    assert 'start_command' in str(err.value)
    conf.set_override('start_command', 'systemctl start nova-compute',
                      'ssh_fencing')
    driver.power_on(host)
    assert fake.nova_compute == 'active'
    assert driver.get_power_state(host) == 'on'


def test_wrong_key_is_auth_error(driver, sshd_peer, hosts):
    host = spec(sshd_peer, hosts['ok'], key_file=sshd_peer.stranger_key)
    driver.validate(host)
    start = time.monotonic()
    with pytest.raises(exception.BMCAuthError) as err:
        driver.power_off(host)
    assert time.monotonic() - start < 2
    assert 'compute-ok' in str(err.value)
    assert '127.0.0.1:%d' % sshd_peer.port in str(err.value)
    assert hosts['ok'].nova_compute == 'active'


def test_unknown_host_key_refused(conf, driver, sshd_peer, hosts, caplog):
    host = spec(sshd_peer, hosts['ok'],
                known_hosts_file=sshd_peer.empty_known_hosts)
    with pytest.raises(ssh.HostKeyUnknown) as err:
        driver.power_off(host)
    assert isinstance(err.value, exception.FencingError)
    assert sshd_peer.empty_known_hosts in str(err.value)
    assert hosts['ok'].nova_compute == 'active'
    assert hosts['ok'].commands() == []
    # accepted (with a warning) only if strict checking is switched off
    conf.set_override('strict_host_key_checking', False, 'ssh_fencing')
    assert driver.get_power_state(host) == 'on'
    assert 'accepting UNKNOWN ssh-ed25519 host key' in caplog.text


def test_changed_host_key_refused_even_when_not_strict(conf, driver,
                                                       sshd_peer, hosts):
    conf.set_override('strict_host_key_checking', False, 'ssh_fencing')
    host = spec(sshd_peer, hosts['ok'],
                known_hosts_file=sshd_peer.wrong_known_hosts)
    with pytest.raises(ssh.HostKeyMismatch):
        driver.power_off(host)
    assert hosts['ok'].nova_compute == 'active'


def test_closed_port_is_unreachable(conf, driver, sshd_peer, hosts):
    host = spec(sshd_peer, hosts['ok'], port=peers.CLOSED_PORT)
    start = time.monotonic()
    with pytest.raises(exception.BMCUnreachable) as err:
        fencing.Fencer.from_conf(conf, driver).fence(host)
    assert time.monotonic() - start < 1
    assert str(peers.CLOSED_PORT) in str(err.value)
    # an unreachable host is never "off"
    with pytest.raises(exception.BMCUnreachable):
        driver.get_power_state(host)


def test_silent_server_times_out(conf, driver, sshd_peer, hosts):
    """TCP accepted, no SSH banner: gives up after connect_timeout (2 s)."""
    listener = socket.socket()
    listener.bind((peers.HOST, 16253))
    listener.listen(8)
    try:
        host = spec(sshd_peer, hosts['ok'], port=16253)
        start = time.monotonic()
        with pytest.raises(exception.FencingError) as err:
            driver.get_power_state(host)
        elapsed = time.monotonic() - start
    finally:
        listener.close()
    assert isinstance(err.value, (exception.BMCUnreachable,
                                  exception.BMCTimeout))
    assert 1.5 < elapsed < 4


def test_failing_stop_command_is_not_fenced(conf, driver, sshd_peer, hosts):
    fake = hosts['stop-fails']
    host = spec(sshd_peer, fake)
    with pytest.raises(exception.FencingError) as err:
        fencing.Fencer.from_conf(conf, driver).fence(host)
    assert not isinstance(err.value, exception.PowerOffUnconfirmed)
    assert 'exited 1' in str(err.value)
    assert 'Access denied' in str(err.value)
    assert fake.nova_compute == 'active'


def test_stop_without_effect_is_unconfirmed(conf, driver, sshd_peer, hosts):
    """The stop command exits 0 but the check still reads "on"."""
    fake = hosts['stays-on']
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencing.Fencer.from_conf(conf, driver).fence(spec(sshd_peer, fake))
    assert err.value.kwargs['polls'] == 3
    assert err.value.kwargs['state'] == 'on'


def test_unrunnable_check_command_is_unknown(driver, sshd_peer, hosts):
    host = spec(sshd_peer, hosts['ok'], check_command='no-such-check')
    assert driver.get_power_state(host) == 'unknown'


def test_per_host_commands(driver, sshd_peer, hosts):
    fake = hosts['ok2']
    host = spec(sshd_peer, fake,
                stop_command='systemctl stop nova-compute',
                check_command='systemctl is-active nova-compute')
    driver.power_off(host)
    assert driver.get_power_state(host) == 'off'
    assert fake.commands()[-2:] == ['systemctl stop nova-compute',
                                    'systemctl is-active nova-compute']


def test_username_default_from_options(conf, driver, sshd_peer, hosts):
    host = spec(sshd_peer, hosts['ok'])
    host.bmc_username = None
    conf.set_override('username', sshd_peer.user, 'ssh_fencing')
    assert driver.get_power_state(host) == 'on'
    conf.set_override('username', 'nobody-here', 'ssh_fencing')
    with pytest.raises(exception.BMCAuthError) as err:
        driver.get_power_state(host)
    assert 'nobody-here' in str(err.value)


def test_sshd_log_shows_key_logins_only(sshd_peer):
    assert 'Accepted publickey' in sshd_peer.log()
    assert 'Accepted password' not in sshd_peer.log()

