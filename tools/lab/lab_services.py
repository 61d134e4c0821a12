"""The lab's processes: what runs, in which order, how we know it is ready.

Every process runs detached in its own session with its pid in run/NAME.pid
and its output in logs/NAME.out.  The nova-compute of a host is the one
exception to "started by the lab": its BMC starts and kills it
(files/chassis_control.sh), exactly as powering a real host on and off would.
"""

import os
import signal
import urllib.error
import urllib.request

from lab_common import ADDRESS
from lab_common import BMC_PASSWORD
from lab_common import BMC_USER
from lab_common import HERE
from lab_common import IMAGE_ID
from lab_common import LabError
from lab_common import PORTS
from lab_common import lab_sessions
from lab_common import live_pid
from lab_common import port_open
from lab_common import process_state
from lab_common import run
from lab_common import say
from lab_common import sessions_processes
from lab_common import spawn
from lab_common import stop
from lab_common import wait_until
import lab_hosts

FILES = os.path.join(HERE, 'files')
RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'


class Service:
    """A lab process: its command line, environment and readiness probe."""

    def __init__(self, argv, env=None, ready=None):
        self.argv = argv
        self.env = env or {}
        self.ready = ready or (lambda: True)


def http_answers(url):
    """True when an HTTP server answers at ``url`` (any status)."""
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.HTTPError:
        pass
    except OSError:
        return False
    return True


def mysql_socket(layout):
    return os.path.join(layout.mysql, 'mysqld.sock')


def rabbitmq_env(layout):
    """A private node: own name, ports, epmd, files; loopback only.

    The Debian wrapper in /usr/sbin switches to the rabbitmq user and drops
    the environment, so the lab runs /usr/lib/rabbitmq/bin/rabbitmq-server.
    """
    base = layout.rabbitmq
    return {
        'HOME': base,     # .erlang.cookie
        'RABBITMQ_NODENAME': 'vmhalab@localhost',
        'RABBITMQ_NODE_IP_ADDRESS': ADDRESS,
        'RABBITMQ_NODE_PORT': str(PORTS['rabbitmq']),
        'RABBITMQ_DIST_PORT': str(PORTS['rabbitmq_dist']),
        'ERL_EPMD_ADDRESS': ADDRESS,
        'ERL_EPMD_PORT': str(PORTS['epmd']),
        'RABBITMQ_CONF_ENV_FILE': os.path.join(base, 'rabbitmq-env.conf'),
        'RABBITMQ_CONFIG_FILE': os.path.join(base, 'rabbitmq.conf'),
        'RABBITMQ_ENABLED_PLUGINS_FILE': os.path.join(base, 'enabled_plugins'),
        'RABBITMQ_MNESIA_BASE': os.path.join(base, 'mnesia'),
        'RABBITMQ_LOG_BASE': os.path.join(base, 'log'),
        'RABBITMQ_PID_FILE': os.path.join(base, 'rabbit.pid'),
        'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS':
            '-kernel inet_dist_use_interface {127,0,0,1}',
        'RABBITMQ_CTL_DIST_PORT_MIN': str(PORTS['epmd'] + 1),
        'RABBITMQ_CTL_DIST_PORT_MAX': str(PORTS['epmd'] + 6),
        'PATH': '/usr/lib/rabbitmq/bin:' + os.environ.get('PATH', ''),
    }


#: seconds gunicorn keeps an idle connection open. Its default (2 s) races
#: the clients' connection pools: a request sent on a pooled connection
#: just as gunicorn closes it fails to connect, and nova-scheduler then
#: gives an evacuation up as NoValidHost ("Placement API service is not
#: responding", seen in a lab test after 1.9 s without a request). A
#: production WSGI server (Apache, uwsgi) keeps connections far longer.
KEEP_ALIVE = 300


def gunicorn(venv_bin, port, app, threads=4):
    """gunicorn serving ``app``; --no-control-socket: several masters."""
    return [venv_bin('gunicorn'), '--no-control-socket', '--pythonpath',
            FILES, '-b', '%s:%d' % (ADDRESS, port), '-w', '1', '--threads',
            str(threads), '--timeout', '300', '--keep-alive',
            str(KEEP_ALIVE), app]


def nova_service(layout, binary):
    nova = os.path.join(layout.etc, 'nova')
    return Service([layout.nova_bin(binary),
                    '--config-file', os.path.join(nova, 'nova.conf'),
                    '--config-file', os.path.join(nova, 'nova-db.conf'),
                    '--log-file', layout.log_file(binary)])


def url(service, path='/'):
    return 'http://%s:%d%s' % (ADDRESS, PORTS[service], path)


def services(layout):
    """name -> Service, in start order (computes: see power_on)."""
    nova_etc = os.path.join(layout.etc, 'nova')
    table = {
        'epmd': Service(['epmd', '-address', ADDRESS, '-port',
                         str(PORTS['epmd'])],
                        ready=lambda: port_open(PORTS['epmd'])),
        'rabbitmq': Service([RABBITMQ_SERVER], rabbitmq_env(layout),
                            ready=lambda: port_open(PORTS['rabbitmq'])),
        'mariadb': Service([
            '/usr/sbin/mariadbd', '--no-defaults', '--user=mysql',
            '--datadir=' + os.path.join(layout.mysql, 'data'),
            '--socket=' + mysql_socket(layout),
            '--port=%d' % PORTS['mariadb'], '--bind-address=' + ADDRESS,
            '--pid-file=' + os.path.join(layout.mysql, 'mysqld.pid'),
            '--log-error=' + layout.log_file('mariadb'),
            '--skip-name-resolve', '--max-connections=1000',
            '--innodb-buffer-pool-size=128M',
            '--innodb-flush-log-at-trx-commit=0', '--innodb-doublewrite=0',
            '--skip-log-bin', '--character-set-server=utf8mb4',
            '--collation-server=utf8mb4_general_ci'],
            ready=lambda: port_open(PORTS['mariadb'])),
        'keystone': Service(
            gunicorn(layout.keystone_bin, PORTS['keystone'],
                     'keystone_wsgi:application'),
            {'OS_KEYSTONE_CONFIG_DIR': os.path.join(layout.etc, 'keystone')},
            ready=lambda: http_answers(url('keystone', '/v3'))),
        'stubs': Service([layout.nova_bin('python'),
                          os.path.join(FILES, 'glance_neutron_stub.py'),
                          str(PORTS['glance']), str(PORTS['neutron']),
                          IMAGE_ID],
                         ready=lambda: port_open(PORTS['neutron'])),
        'placement': Service(
            gunicorn(layout.nova_bin, PORTS['placement'],
                     'placement.wsgi.api:application'),
            {'OS_PLACEMENT_CONFIG_DIR': os.path.join(layout.etc,
                                                     'placement')},
            ready=lambda: http_answers(url('placement'))),
        'nova-api': Service(
            gunicorn(layout.nova_bin, PORTS['nova'],
                     'nova_api_wsgi:application', threads=8),
            {'OS_NOVA_CONFIG_DIR': nova_etc,
             'OS_NOVA_CONFIG_FILES': 'api-paste.ini;nova.conf;nova-db.conf'},
            ready=lambda: http_answers(url('nova'))),
        'nova-conductor': nova_service(layout, 'nova-conductor'),
        'nova-scheduler': nova_service(layout, 'nova-scheduler'),
    }
    for host in lab_hosts.current(layout):
        bmc = layout.bmc_dir(host)
        table['bmc-' + host] = Service(
            ['ipmi_sim', '-n', '-c', os.path.join(bmc, 'lan.conf'),
             '-f', os.path.join(bmc, 'sim.emu'),
             '-s', os.path.join(bmc, 'state')],
            ready=lambda host=host: bmc_power(host) is not None)
    return table


def ensure_started(layout, names, table=None):
    """Start the named services that do not run; return those started.

    ``table``: name -> Service, by default the lab's own (``services``)."""
    table = table or services(layout)
    started = []
    for name in names:
        if live_pid(layout, name):
            continue
        if name.startswith('bmc-'):
            os.makedirs(os.path.join(layout.bmc_dir(name[4:]), 'state'),
                        exist_ok=True)
        pid = spawn(layout, name, table[name].argv, table[name].env)
        say('started %s (pid %d)' % (name, pid))
        started.append(name)
    return started


def _last_lines(layout, name, count=3):
    for path in (layout.log_file(name),
                 os.path.join(layout.logs, name + '.out')):
        try:
            with open(path, errors='replace') as f:
                lines = [line.strip() for line in f if line.strip()]
            if lines:
                return ' | '.join(lines[-count:])[-400:]
        except FileNotFoundError:
            pass
    return 'no output'


def wait_ready(layout, names, timeout=180, table=None):
    """Wait until each named service answers; fail fast if one died."""
    table = table or services(layout)
    for name in names:
        def ready(name=name):
            if not live_pid(layout, name):
                raise LabError('%s exited: %s' % (
                    name, _last_lines(layout, name)))
            return table[name].ready()
        wait_until(ready, timeout, '%s to answer' % name, interval=0.2)


def stop_all(layout):
    """Stop every lab process by pid file, in reverse dependency order.

    Returns the pids still alive afterwards (none, normally).
    """
    sessions = lab_sessions(layout)
    hosts = lab_hosts.names(lab_hosts.MAX_COUNT)   # extras left behind too
    groups = (
        # masakari-*: tools/lab/lab_masakari.py, when set up
        [compute_name(h) for h in hosts] + ['masakari-engine',
                                            'masakari-api'],
        ['nova-api', 'nova-scheduler', 'nova-conductor', 'placement',
         'stubs', 'keystone'] + ['bmc-' + h for h in hosts],
        ['mariadb', 'rabbitmq'],
        ['epmd'],
    )
    for group in groups:
        stop(layout, group, grace=30 if 'mariadb' in group else 10)
    for pid in sessions_processes(sessions):
        # a child that outlived its session leader
        say('stopping leftover lab process %d' % pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sessions_processes(sessions)


# ---------------------------------------------------------------- BMCs

def ipmitool(host, *args, timeout=20):
    """ipmitool against the host's BMC (-C 3: no cipher-suite probing)."""
    return run(['ipmitool', '-I', 'lanplus', '-C', '3', '-N', '2', '-R', '3',
                '-H', ADDRESS, '-p', str(lab_hosts.bmc_port(host)),
                '-U', BMC_USER, '-P', BMC_PASSWORD] + list(args),
               timeout=timeout,
               check=False)


def bmc_power(host):
    """'on' or 'off' as the host's BMC reports it; None if it does not."""
    proc = ipmitool(host, 'power', 'status')
    words = proc.stdout.split()
    if proc.returncode == 0 and words[-1:] in (['on'], ['off']):
        return words[-1]
    return None


def bmc_power_set(host, state):
    """Ask the host's BMC to power it on or off (chassis power on|off)."""
    proc = ipmitool(host, 'power', state)
    if proc.returncode:
        raise LabError('BMC of %s: power %s failed: %s' % (
            host, state, (proc.stderr or proc.stdout).strip()))


def stop_bmc(layout, host):
    """Stop the host's BMC process: it no longer answers (a dead
    management network, a BMC without power). The host runs on."""
    stop(layout, ['bmc-' + host], grace=5)


def stuck_file(layout, host):
    return os.path.join(layout.bmc_dir(host), 'stuck')


def set_stuck(layout, host, stuck):
    """A stuck BMC ignores power-off requests (and keeps saying on)."""
    path = stuck_file(layout, host)
    if stuck:
        open(path, 'w').close()
    elif os.path.exists(path):
        os.unlink(path)


def is_stuck(layout, host):
    return os.path.exists(stuck_file(layout, host))


# ---------------------------------------------------------------- computes

def last_seen_up(layout, host):
    """When Nova last heard the host's compute, in epoch seconds, or None.

    Read from the cell database: the os-services API shows ``updated_at``,
    which a compute's start-up moves before its first heartbeat, while the
    scheduler (and the API's "up") go by ``last_seen_up``. Waiting on
    ``updated_at`` let a test boot onto a host the scheduler still thought
    dead.
    """
    sql = ("SET time_zone = '+00:00'; SELECT UNIX_TIMESTAMP(last_seen_up) "
           "FROM services WHERE host = '%s' AND `binary` = 'nova-compute' "
           "AND deleted = 0" % host)
    out = run(['mariadb', '--no-defaults', '-S', mysql_socket(layout),
               '-uroot', '-N', '-B', 'nova_cell1', '-e', sql]).stdout.split()
    return float(out[0]) if out and out[0] != 'NULL' else None


def compute_name(host):
    return 'nova-compute-' + host


def compute_state(layout, host):
    """'running', 'stopped' (SIGSTOP) or 'dead'."""
    pid = live_pid(layout, compute_name(host))
    if not pid:
        return 'dead'
    return 'stopped' if process_state(pid) in ('T', 't') else 'running'


def power_on(layout, host):
    """Power the host on through its BMC: its nova-compute starts.

    Returns the compute's pid once it runs.
    """
    bmc_power_set(host, 'on')
    # the BMC simulator's chassis control starts the process; on a busy
    # 2-core machine that took more than 15 s once (CI, after 180 tests)
    return wait_until(lambda: live_pid(layout, compute_name(host)), 60,
                      'nova-compute of %s to start' % host, interval=0.1)


def kill_compute(layout, host, sig):
    """Signal the host's nova-compute (its whole process group)."""
    pid = live_pid(layout, compute_name(host))
    if not pid:
        raise LabError('nova-compute of %s is not running' % host)
    os.killpg(pid, sig)
    if sig == signal.SIGKILL:
        wait_until(lambda: not process_state(pid), 10,
                   'nova-compute of %s to die' % host, interval=0.05)
    return pid
