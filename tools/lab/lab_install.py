"""``lab install``: Debian packages and the two virtualenvs, if missing.

Runs under the system python3 on a fresh machine (stdlib only).
"""

import hashlib
import os
import shutil

from lab_common import HERE
from lab_common import LabError
from lab_common import run
from lab_common import say

APT_PACKAGES = ('python3-venv', 'openipmi', 'ipmitool', 'mariadb-server',
                'mariadb-client', 'rabbitmq-server', 'curl', 'bc')
# Keystone pins libraries nova's release does not want: separate venvs.
VENVS = {
    'nova': ('constraints-nova.txt',
             ('nova', 'openstack-placement', 'python-novaclient',
              'python-keystoneclient', 'python-openstackclient', 'gunicorn',
              'pymysql')),
    'keystone': ('constraints-keystone.txt', ('keystone', 'gunicorn')),
}
POLICY_RC_D = '/usr/sbin/policy-rc.d'


def missing_packages():
    """Debian packages of APT_PACKAGES that are not installed."""
    proc = run(['dpkg-query', '-W', '-f', '${Package} ${Status}\n']
               + list(APT_PACKAGES), check=False)
    installed = {line.split()[0] for line in proc.stdout.splitlines()
                 if line.endswith('install ok installed')}
    return [p for p in APT_PACKAGES if p not in installed]


def install_packages():
    """apt-get install what is missing, without apt starting any daemon.

    Debian's maintainer scripts would start MariaDB and RabbitMQ on their
    default ports; a policy-rc.d answering 101 ("action forbidden") stops
    that. An existing policy-rc.d is left as it is.
    """
    missing = missing_packages()
    if not missing:
        say('apt: all packages present')
        return False
    if os.geteuid() != 0:
        raise LabError('need root to apt-get install: %s' % ' '.join(missing))
    say('apt: installing %s' % ' '.join(missing))
    created = not os.path.exists(POLICY_RC_D)
    if created:
        with open(POLICY_RC_D, 'w') as f:
            f.write('#!/bin/sh\n# vmha lab: no daemon starts from apt\n'
                    'exit 101\n')
        os.chmod(POLICY_RC_D, 0o755)
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    try:
        run(['apt-get', 'update', '-q'], env=env, timeout=900)
        run(['apt-get', 'install', '-y', '-q', '--no-install-recommends']
            + missing, env=env, timeout=1800)
    finally:
        if created:
            os.unlink(POLICY_RC_D)
    return True


def _fingerprint(constraints, packages):
    """What a venv was built from: constraints and package list."""
    with open(os.path.join(HERE, constraints), 'rb') as f:
        data = f.read()
    data += ' '.join(packages).encode()
    return hashlib.sha256(data).hexdigest()


def _base_python():
    """The system python3 (never one of the lab's venvs)."""
    python = shutil.which('python3', path='/usr/local/bin:/usr/bin:/bin')
    if not python:
        raise LabError('python3 not found')
    return python


def venv_stale(venv):
    """None if ``venv`` is built from the current constraints, else why."""
    name = os.path.basename(venv).split('-', 1)[1]
    constraints, packages = VENVS[name]
    stamp = os.path.join(venv, '.vmha-lab-fingerprint')
    if not os.path.exists(os.path.join(venv, 'bin', 'python')):
        return 'missing'
    try:
        with open(stamp) as f:
            if f.read().strip() == _fingerprint(constraints, packages):
                return None
    except FileNotFoundError:
        pass
    return 'constraints changed'


def build_venv(venv):
    """Create or update ``venv`` from its constraints file."""
    name = os.path.basename(venv).split('-', 1)[1]
    constraints, packages = VENVS[name]
    reason = venv_stale(venv)
    if not reason:
        say('venv %s: up to date' % name)
        return False
    say('venv %s: %s, pip install %s' % (name, reason, ' '.join(packages)))
    pip = os.path.join(venv, 'bin', 'pip')
    if not os.path.exists(pip):
        run([_base_python(), '-m', 'venv', venv])
        run([pip, 'install', '-q', '-U', 'pip'], timeout=900)
    run([pip, 'install', '-q', '-c', os.path.join(HERE, constraints)]
        + list(packages), timeout=1800)
    with open(os.path.join(venv, '.vmha-lab-fingerprint'), 'w') as f:
        f.write(_fingerprint(constraints, packages) + '\n')
    return True


def install(layout):
    """Everything the lab needs on this machine; True if anything changed."""
    changed = install_packages()
    os.makedirs(layout.root, exist_ok=True)
    for venv in (layout.venv_nova, layout.venv_keystone):
        changed = build_venv(venv) or changed
    return changed


def installed(layout):
    """True when nothing is missing (cheap: no network)."""
    return not missing_packages() and not any(
        venv_stale(v) for v in (layout.venv_nova, layout.venv_keystone))
