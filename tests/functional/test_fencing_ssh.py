"""The ssh fencing driver against a real sshd and simulated compute hosts.

The hosts are forced commands (peers/sshd.py) that run the driver's commands
for real (pgrep, pkill) against real fake-guest processes; only systemctl
(nova-compute's unit) is simulated.
"""

import socket
import subprocess
import time

import pytest

from tests.functional import peers
from tests.functional.peers import sshd as sshd_peer_mod
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


driver = peers.fencing_driver('ssh', ssh.SSHFencingDriver)


@pytest.fixture
def hosts(sshd_peer):
    return sshd_peer.reset_hosts()


spec = sshd_peer_mod.host_spec


guest = sshd_peer_mod.start_guest


def test_fence_kills_the_guests_and_confirms(request, conf, driver,
                                             sshd_peer, hosts):
    fake = hosts['ok']
    host = spec(sshd_peer, fake)
    driver.validate(host)
    vm = guest(request)
    assert driver.get_power_state(host) == 'on'
    start = time.monotonic()
    result = fencing.Fencer.from_conf(conf, driver).fence(host)
    elapsed = time.monotonic() - start
    print('ssh: fence confirmed in %.3fs (%d poll)' % (elapsed,
                                                      result.polls))
    assert result.first_state == 'on'
    assert not vm.alive()
    assert fake.nova_compute == 'inactive'
    assert driver.get_power_state(host) == 'off'
    opts = conf.ssh_fencing
    commands = fake.commands()
    assert commands[:3] == [opts.check_command, opts.check_command,
                            opts.stop_command]
    assert set(commands[3:]) == {opts.check_command}
    # a host that reads "off" is stopped again all the same
    again = fencing.Fencer.from_conf(conf, driver).fence(host)
    assert again.first_state == 'off'
    assert fake.commands()[len(commands) + 1] == opts.stop_command


def test_dead_nova_compute_with_live_guests_reads_on_and_is_fenced(
        request, conf, driver, sshd_peer, hosts):
    """Issue 12: with the old check (is nova-compute active?) this host
    read "off", was never stopped, and its guests ran twice."""
    fake = hosts['ok']
    fake.nova_compute = 'failed'
    host = spec(sshd_peer, fake)
    vm = guest(request, argv0='qemu-kvm')
    assert driver.get_power_state(host) == 'on'
    result = fencing.Fencer.from_conf(conf, driver).fence(host)
    assert result.first_state == 'on'
    assert not vm.alive()
    assert driver.get_power_state(host) == 'off'
    assert conf.ssh_fencing.stop_command in fake.commands()


def test_only_guest_processes_count(request, conf, driver, sshd_peer,
                                   hosts):
    """A process that merely mentions QEMU (a log reader) is no guest,
    and the shell running pgrep never matches its own pattern."""
    Guest = sshd_peer_mod.Guest
    Guest.check_none_foreign()
    reader = subprocess.Popen(
        ['grep', '/usr/bin/qemu-system-x86_64'], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL)
    request.addfinalizer(lambda: (reader.kill(), reader.wait()))
    host = spec(sshd_peer, hosts['ok'])
    assert driver.get_power_state(host) == 'off'
    fencing.Fencer.from_conf(conf, driver).fence(host)
    assert reader.poll() is None            # not killed


def test_broken_guest_pattern_is_unknown_never_off(conf, driver, sshd_peer,
                                                   hosts):
    conf.set_override('guest_process_pattern', '^(qemu', 'ssh_fencing')
    assert "pgrep -f '^(qemu'" in conf.ssh_fencing.check_command
    host = spec(sshd_peer, hosts['ok'])
    assert driver.get_power_state(host) == 'unknown'     # pgrep exit 2


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
    # the state is the guests': starting nova-compute starts none
    assert driver.get_power_state(host) == 'off'


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


def test_unknown_host_key_refused(request, conf, driver, sshd_peer, hosts,
                                  caplog):
    vm = guest(request)
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
    assert vm.alive()


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
    assert time.monotonic() - start < 5     # refused at once, not a timeout
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


def test_failing_stop_command_is_not_fenced(request, conf, driver,
                                            sshd_peer, hosts):
    fake = hosts['stop-fails']
    host = spec(sshd_peer, fake)
    vm = guest(request)
    with pytest.raises(exception.FencingError) as err:
        fencing.Fencer.from_conf(conf, driver).fence(host)
    assert not isinstance(err.value, exception.PowerOffUnconfirmed)
    assert 'exited 1' in str(err.value)
    assert 'Access denied' in str(err.value)
    # nova-compute could not be stopped: not fenced, though the default
    # stop command kills the guests all the same
    assert fake.nova_compute == 'failed'
    assert not vm.alive()


def test_stop_without_effect_is_unconfirmed(request, conf, driver,
                                            sshd_peer, hosts):
    """The stop command exits 0 but the guest still runs."""
    fake = hosts['stays-on']
    vm = guest(request)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencing.Fencer.from_conf(conf, driver).fence(spec(sshd_peer, fake))
    assert err.value.kwargs['polls'] == 3
    assert err.value.kwargs['state'] == 'on'
    assert vm.alive(timeout=0)


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


def test_username_default_from_options(request, conf, driver, sshd_peer,
                                       hosts):
    guest(request)
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

