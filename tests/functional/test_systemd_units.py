"""vmha's systemd units, installed as on a fresh machine, verified by systemd.

A temporary directory stands for the machine's root: it gets systemd's own
units (copied from this machine, as the systemd package would lay them),
vmha itself (``pip install --root``, console scripts in /usr/local/bin) and
then ``tools/install-systemd-units.sh --root``. ``systemd-analyze verify
--root`` then checks the units as systemd would load them there (every key,
every value, the ordering dependencies, ExecStart executable); ``security
--offline`` scores their hardening. No systemd needs to run (this container
has none as PID 1).
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
UNITS = ('vmha-monitor.service', 'vmha-agent.service')
SYSTEMD_UNITS = pathlib.Path('/usr/lib/systemd/system')

pytestmark = pytest.mark.skipif(
    shutil.which('systemd-analyze') is None or not SYSTEMD_UNITS.is_dir(),
    reason='systemd is not installed (bindep.txt; tools/install-deps.sh)')


def run(*argv, check=True):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    if check and done.returncode != 0:
        pytest.fail('%s exited %d:\n%s%s' % (' '.join(argv), done.returncode,
                                             done.stdout, done.stderr))
    return done


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    """A machine root with systemd's units, vmha and vmha's units."""
    top = tmp_path_factory.mktemp('root')
    shutil.copytree(SYSTEMD_UNITS, top / SYSTEMD_UNITS.relative_to('/'),
                    symlinks=True)
    # --ignore-installed: never uninstall vmha from the running virtualenv
    run(sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
        '--ignore-installed',
        '--no-build-isolation', '--root', str(top), '--prefix', '/usr/local',
        str(REPO))
    out = run(str(REPO / 'tools' / 'install-systemd-units.sh'), '--root',
              str(top), '--bindir', '/usr/local/bin').stdout
    print(out)
    return top


def verify(root, *units):
    return run('systemd-analyze', 'verify', '--root=%s' % root, *units,
               check=False)


def test_install_puts_each_file_in_its_place(root):
    for unit in UNITS:
        path = root / 'etc/systemd/system' / unit
        assert 'ExecStart=/usr/local/bin/%s --config-file /etc/vmha/vmha.conf'\
            % unit.split('.')[0] in path.read_text()
        assert os.access(root / 'usr/local/bin' / unit.split('.')[0],
                         os.X_OK)
    passwd = (root / 'etc/passwd').read_text()
    assert re.search(r'^vmha:x:\d+:\d+:.*:/var/lib/vmha:/usr/sbin/nologin$',
                     passwd, re.M)
    conf = root / 'etc/vmha/vmha.conf'
    assert conf.stat().st_mode & 0o777 == 0o640
    assert (root / 'etc/vmha').stat().st_mode & 0o777 == 0o750
    assert '[metrics]' in conf.read_text()


def test_install_again_keeps_the_operators_config(root):
    conf = root / 'etc/vmha/vmha.conf'
    conf.write_text('[DEFAULT]\ndebug = true\n')
    run(str(REPO / 'tools' / 'install-systemd-units.sh'), '--root',
        str(root), '--bindir', '/usr/local/bin')
    assert conf.read_text() == '[DEFAULT]\ndebug = true\n'
    assert len(re.findall('^vmha:', (root / 'etc/passwd').read_text(),
                          re.M)) == 1


def test_systemd_analyze_verify_is_clean(root):
    done = verify(root, *UNITS)
    assert (done.returncode, done.stdout, done.stderr) == (0, '', '')


def test_verify_catches_a_broken_unit(root):
    """The check can fail: a bad restart policy and a missing binary."""
    broken = root / 'etc/systemd/system/vmha-broken.service'
    text = (root / 'etc/systemd/system/vmha-agent.service').read_text()
    broken.write_text(text.replace('Restart=on-failure', 'Restart=sometimes')
                      .replace('/usr/local/bin/vmha-agent',
                               '/usr/local/bin/vmha-nothing'))
    try:
        done = verify(root, broken.name)
    finally:
        broken.unlink()
    assert done.returncode != 0
    assert 'restart specifier' in done.stderr
    assert 'vmha-nothing is not executable' in done.stderr


@pytest.mark.parametrize('unit', UNITS)
def test_units_stop_cleanly_restart_and_are_hardened(root, unit):
    text = (root / 'etc/systemd/system' / unit).read_text()
    for line in ('Restart=on-failure', 'KillSignal=SIGTERM', 'User=vmha',
                 'Wants=network-online.target', 'After=network-online.target',
                 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'UMask=0077'):
        assert line in text.splitlines()
    assert re.search(r'^TimeoutStopSec=\d+s$', text, re.M)
    assert 'redis-server.service' in text     # a local backend first
    done = run('systemd-analyze', 'security', '--offline=true',
               '--root=%s' % root, unit, check=False)
    exposure = re.search(r'Overall exposure level for \S+: ([\d.]+)',
                         done.stdout + done.stderr)
    print('%s exposure %s' % (unit, exposure and exposure.group(1)))
    assert exposure and float(exposure.group(1)) <= 2.5
