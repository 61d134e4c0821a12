"""Lab configuration (rendered on every ``lab up``) and one-time setup.

``configure`` writes every config file from tools/lab/templates, so the lab
always matches this checkout; ``setup`` creates the databases and schemas once
(keystone on SQLite; nova and placement on the lab's private MariaDB: SQLite
says "database is locked" under concurrent requests).
"""

import concurrent.futures
import os
import re
import shutil

from lab_common import ADDRESS
from lab_common import ADMIN_PASSWORD
from lab_common import BMC_PASSWORD
from lab_common import BMC_USER
from lab_common import DB_PASSWORD
from lab_common import HERE
from lab_common import LabError
from lab_common import PORTS
from lab_common import REGION
from lab_common import SERVICE_PASSWORD
from lab_common import run
from lab_common import say
from lab_common import write_if_changed
import lab_hosts
import lab_services

TEMPLATES = os.path.join(HERE, 'templates')
FILES = os.path.join(HERE, 'files')
FAKE_DRIVER = 'vmha_lab_fake.py'
NOVA_DATABASES = ('nova_api', 'nova_cell0', 'nova_cell1', 'placement')


def render(template, values):
    """``templates/<template>`` with every {{name}} replaced."""
    with open(os.path.join(TEMPLATES, template)) as f:
        text = f.read()

    def value(match):
        if match.group(1) not in values:
            raise LabError('template %s: no value for %s'
                           % (template, match.group(1)))
        return str(values[match.group(1)])

    return re.sub(r'\{\{(\w+)\}\}', value, text)


def template_values(layout, settings):
    """Everything the templates may refer to."""
    values = {
        'lab_dir': layout.root, 'etc_dir': layout.etc,
        'data_dir': layout.data, 'logs_dir': layout.logs,
        'run_dir': layout.run, 'state_dir': layout.state,
        'region': REGION, 'service_password': SERVICE_PASSWORD,
        'keystone_url': 'http://%s:%d' % (ADDRESS, PORTS['keystone']),
        'db_url': 'mysql+pymysql://openstack:%s@%s:%d' % (
            DB_PASSWORD, ADDRESS, PORTS['mariadb']),
        'rabbitmq_port': PORTS['rabbitmq'],
        'bmc_user': BMC_USER, 'bmc_password': BMC_PASSWORD,
        'chassis_control': os.path.join(FILES, 'chassis_control.sh'),
        'nova_compute': layout.nova_bin('nova-compute'),
    }
    values.update(settings)
    return values


def host_values(layout, values, host):
    return dict(values, host=host, bmc_port=lab_hosts.bmc_port(host),
                bmc_dir=layout.bmc_dir(host),
                bmc_guid=lab_hosts.bmc_guid(host),
                host_env=os.path.join(layout.bmc_dir(host), 'host.env'))


def config_files(layout, settings):
    """{path: content} of every rendered config file."""
    values = template_values(layout, settings)
    nova = os.path.join(layout.etc, 'nova')
    files = {
        os.path.join(nova, 'nova.conf'): render('nova.conf', values),
        os.path.join(nova, 'nova-db.conf'): render('nova-db.conf', values),
        os.path.join(layout.etc, 'placement', 'placement.conf'):
            render('placement.conf', values),
        os.path.join(layout.etc, 'keystone', 'keystone.conf'):
            render('keystone.conf', values),
        os.path.join(layout.rabbitmq, 'rabbitmq.conf'):
            render('rabbitmq.conf', values),
        os.path.join(layout.rabbitmq, 'rabbitmq-env.conf'):
            '# the lab passes its RabbitMQ settings in the environment\n',
        os.path.join(layout.rabbitmq, 'enabled_plugins'): '[].\n',
    }
    with open(os.path.join(layout.venv_nova, 'etc', 'nova',
                           'api-paste.ini')) as f:
        files[os.path.join(nova, 'api-paste.ini')] = f.read()
    for host in lab_hosts.current(layout):
        hv = host_values(layout, values, host)
        files[os.path.join(nova, 'compute-%s.conf' % host)] = render(
            'nova-compute.conf', hv)
        for name in ('lan.conf', 'sim.emu', 'host.env'):
            files[os.path.join(layout.bmc_dir(host), name)] = render(name, hv)
    return files


def link_fake_driver(layout):
    """Make nova.virt.vmha_lab_fake importable (nova loads only nova.virt.*).

    Globbing finds nova/virt without importing nova (slow, and this may run
    under another python).
    """
    lib = os.path.join(layout.venv_nova, 'lib')
    for pyver in os.listdir(lib):
        virt = os.path.join(lib, pyver, 'site-packages', 'nova', 'virt')
        if os.path.isdir(virt):
            link = os.path.join(virt, FAKE_DRIVER)
            target = os.path.join(FILES, FAKE_DRIVER)
            if os.path.realpath(link) != target:
                if os.path.lexists(link):
                    os.unlink(link)
                os.symlink(target, link)
            return
    raise LabError('nova is not installed in %s' % layout.venv_nova)


def make_dirs(layout):
    layout.make_dirs()
    for host in lab_hosts.current(layout):
        os.makedirs(os.path.join(layout.state, host, 'instances'),
                    exist_ok=True)
    os.makedirs(os.path.join(layout.state, 'lock'), exist_ok=True)


def configure(layout, settings):
    """Render all config files; return the paths that changed."""
    make_dirs(layout)
    changed = [path for path, text in config_files(layout, settings).items()
               if write_if_changed(path, text)]
    link_fake_driver(layout)
    return changed


# ---------------------------------------------------------------- setup

def setup_done(layout):
    return os.path.exists(os.path.join(layout.data, 'setup.done'))


def _wipe(layout):
    """Forget a half-done setup: databases, keystone keys, compute state."""
    lab_services.stop_all(layout)
    for path in (layout.data, layout.state, layout.mysql,
                 os.path.join(layout.etc, 'keystone', 'fernet-keys'),
                 os.path.join(layout.etc, 'keystone', 'credential-keys'),
                 os.path.join(layout.rabbitmq, 'mnesia')):
        shutil.rmtree(path, ignore_errors=True)


def init_mariadb(layout):
    """A fresh MariaDB datadir, started, with the lab's databases."""
    datadir = os.path.join(layout.mysql, 'data')
    os.makedirs(datadir)
    shutil.chown(layout.mysql, 'mysql', 'mysql')
    shutil.chown(datadir, 'mysql', 'mysql')
    run(['mariadb-install-db', '--no-defaults', '--user=mysql',
         '--datadir=' + datadir, '--auth-root-authentication-method=socket',
         '--skip-test-db'])
    lab_services.ensure_started(layout, ['mariadb'])
    lab_services.wait_ready(layout, ['mariadb'])
    hosts = ('127.0.0.1', 'localhost')
    sql = ["CREATE USER 'openstack'@'%s' IDENTIFIED BY '%s';"
           % (h, DB_PASSWORD) for h in hosts]
    sql += ['CREATE DATABASE %s;' % db for db in NOVA_DATABASES]
    sql += ["GRANT ALL PRIVILEGES ON *.* TO 'openstack'@'%s';" % h
            for h in hosts]
    run(['mariadb', '--no-defaults', '-S', lab_services.mysql_socket(layout),
         '-uroot'], input='\n'.join(sql) + '\nFLUSH PRIVILEGES;\n')


def setup_keystone(layout):
    """Schema, fernet keys and the admin user/project/endpoint."""
    manage = [layout.keystone_bin('keystone-manage'), '--config-file',
              os.path.join(layout.etc, 'keystone', 'keystone.conf')]
    url = 'http://%s:%d/v3' % (ADDRESS, PORTS['keystone'])
    run(manage + ['db_sync'])
    for keys in ('fernet_setup', 'credential_setup'):
        run(manage + [keys, '--keystone-user', 'root',
                      '--keystone-group', 'root'])
    run(manage + ['bootstrap', '--bootstrap-password', ADMIN_PASSWORD,
                  '--bootstrap-username', 'admin',
                  '--bootstrap-project-name', 'admin',
                  '--bootstrap-role-name', 'admin',
                  '--bootstrap-service-name', 'keystone',
                  '--bootstrap-region-id', REGION,
                  '--bootstrap-admin-url', url,
                  '--bootstrap-internal-url', url,
                  '--bootstrap-public-url', url])


def nova_manage(layout, *args):
    """nova-manage with the control services' config (it needs the DBs)."""
    nova = os.path.join(layout.etc, 'nova')
    return run([layout.nova_bin('nova-manage'),
                '--config-file', os.path.join(nova, 'nova.conf'),
                '--config-file', os.path.join(nova, 'nova-db.conf')]
               + list(args))


def setup_nova(layout):
    """placement and nova schemas, cell0 and cell1."""
    run([layout.nova_bin('placement-manage'), '--config-file',
         os.path.join(layout.etc, 'placement', 'placement.conf'),
         'db', 'sync'])
    cell0 = 'mysql+pymysql://openstack:%s@%s:%d/nova_cell0?charset=utf8' % (
        DB_PASSWORD, ADDRESS, PORTS['mariadb'])
    nova_manage(layout, 'api_db', 'sync')
    nova_manage(layout, 'cell_v2', 'map_cell0', '--database_connection',
                cell0)
    nova_manage(layout, 'cell_v2', 'create_cell', '--name', 'cell1')
    nova_manage(layout, 'db', 'sync')


def setup(layout):
    """Create databases and schemas unless done; True if it ran.

    All or nothing: a setup that failed half-way is wiped and redone.
    """
    if setup_done(layout):
        return False
    if os.path.exists(layout.mysql) or os.listdir(layout.data):
        say('setup: removing an unfinished setup')
        _wipe(layout)
        make_dirs(layout)
    say('setup: MariaDB datadir, keystone, placement and nova schemas')
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        keystone = pool.submit(setup_keystone, layout)
        init_mariadb(layout)
        setup_nova(layout)
        keystone.result()
    with open(os.path.join(layout.data, 'setup.done'), 'w') as f:
        f.write('ok\n')
    return True
