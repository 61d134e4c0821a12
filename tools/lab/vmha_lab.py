"""vmha's functional lab: a real Nova with fake-virt hosts and IPMI BMCs.

Run through tools/lab/lab.  Commands (all idempotent):
  install                  Debian packages and virtualenvs, if missing
  up [--hosts N]           install, set up, start, wait for the computes
                           (3 hosts hostA-hostC unless N or $VMHA_LAB_HOSTS
                           says otherwise; more than 3 only under the lab
                           lock, see tools/lab/README.md)
  status [--json]          processes, compute services, BMC power
  info                     JSON: credentials, endpoints, timings, BMCs
  boot N --host H [...]    boot servers pinned to a host
  fail HOST... [--mode M]  bmc (power off via IPMI), kill, or stop (SIGSTOP);
                           several hosts fail at the same moment
  bmc HOST stuck|normal|down
                           make the BMC ignore power-off, or not; down: stop
                           its process (unreachable; normal or reset starts
                           it again)
  restore HOST             power on, clean up evacuations, enable, wait up
  reset                    no servers, every host healthy, BMCs normal
  down                     stop every lab process
  logs [NAME]              list the logs, or the tail of one
  masakari info|variant|fail|records
                           Masakari, after lab up --with masakari

Lab state lives in $VMHA_LAB_DIR (default /var/tmp/vmha-lab).
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import sys
import time

from lab_common import ADDRESS
from lab_common import BMC_PASSWORD
from lab_common import BMC_USER
from lab_common import FLAVOR
from lab_common import IMAGE_ID
from lab_common import LabError
from lab_common import Layout
from lab_common import PORTS
from lab_common import Timings
from lab_common import admin_auth
from lab_common import lab_sessions
from lab_common import live_pid
from lab_common import load_settings
from lab_common import memory_mb
from lab_common import read_pid
from lab_common import say
from lab_common import sessions_processes
from lab_common import stop
from lab_common import wait_until
import lab_hosts
import lab_install
import lab_masakari
import lab_services as services
import lab_setup

# epmd is not watched: `up` starts it before rabbitmq only to save time,
# and rabbitmq starts its own when it finds none
CONTROL = ('rabbitmq', 'mariadb', 'keystone', 'stubs', 'placement',
           'nova-api', 'nova-conductor', 'nova-scheduler')


def bmcs(layout):
    return tuple('bmc-' + h for h in lab_hosts.current(layout))


def cloud():
    """An admin Cloud (needs the nova venv: novaclient, keystoneauth)."""
    try:
        import lab_nova
    except ImportError:
        raise LabError('the lab is not installed: run tools/lab/lab up')
    return lab_nova.Cloud()


# ---------------------------------------------------------------- info

def info(layout, settings):
    """What a client of the lab needs: credentials, endpoints, BMCs."""
    return {
        'lab_dir': layout.root,
        'auth': admin_auth(),
        'nova_endpoint': 'http://%s:%d/v2.1' % (ADDRESS, PORTS['nova']),
        'service_down_time': settings['service_down_time'],
        'report_interval': settings['report_interval'],
        'image_id': IMAGE_ID,
        'flavor': FLAVOR,
        'nova_conf': layout.nova_conf_fragment,
        'hosts': {host: {
            'bmc': {'address': ADDRESS, 'port': lab_hosts.bmc_port(host),
                    'username': BMC_USER, 'password': BMC_PASSWORD},
            'compute_pid_file': layout.pid_file(services.compute_name(host)),
            # what its chassis control sources (a stand-in watchdog powers
            # the host off through it, tools/lab/files/lab_watchdog.py)
            'host_env': os.path.join(layout.bmc_dir(host), 'host.env'),
        } for host in lab_hosts.current(layout)},
    }


def write_info(layout, settings):
    """lab.json and vmha-nova.conf (a [nova] section for vmha)."""
    data = info(layout, settings)
    os.makedirs(layout.root, exist_ok=True)
    with open(layout.info, 'w') as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write('\n')
    lines = ['# vmha [nova] options for the lab (written by tools/lab/lab)',
             '[nova]', 'auth_type = password']
    lines += ['%s = %s' % item for item in data['auth'].items()]
    with open(layout.nova_conf_fragment, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return data


def cmd_info(layout, args):
    data = write_info(layout, load_settings(layout))
    print(json.dumps(data, indent=2, sort_keys=True))


# ---------------------------------------------------------------- up

def all_running(layout):
    names = CONTROL + bmcs(layout) + tuple(
        services.compute_name(h) for h in lab_hosts.current(layout))
    return all(live_pid(layout, name) for name in names)


def start_control_plane(layout, lab):
    """Start what is not running, each as soon as what it needs answers."""
    services.ensure_started(layout, ['rabbitmq', 'mariadb', 'keystone',
                                     'stubs'])
    services.wait_ready(layout, ['keystone'])
    marker = os.path.join(layout.data, 'keystone-registered')
    if not os.path.exists(marker):
        say('keystone: registering service users and the catalog')
        lab.register_services()
        open(marker, 'w').close()
    services.wait_ready(layout, ['mariadb'])
    services.ensure_started(layout, ['placement', 'nova-api'])
    services.wait_ready(layout, ['placement', 'rabbitmq'])
    services.ensure_started(layout, ['nova-conductor', 'nova-scheduler']
                            + list(bmcs(layout)))
    services.wait_ready(layout, ['stubs', 'nova-api', 'nova-conductor',
                                 'nova-scheduler'] + list(bmcs(layout)))


def power_on_hosts(layout, hosts):
    """Power hosts on through their BMCs; {host: start time} of computes
    that were not running."""
    started = {}
    for host in hosts:
        state = services.compute_state(layout, host)
        if state == 'stopped':
            services.kill_compute(layout, host, signal.SIGCONT)
        elif state == 'dead':
            started[host] = time.time()
            pid = services.power_on(layout, host)
            say('%s powered on: nova-compute pid %d' % (host, pid))
    return started


def discover_hosts(layout):
    say('nova-manage cell_v2 discover_hosts')
    lab_setup.nova_manage(layout, 'cell_v2', 'discover_hosts')


def remove_hosts(layout, lab, count):
    """Shrink the lab to its first ``count`` hosts: the extras' servers
    deleted, their computes and BMCs stopped, their Nova services (with
    compute nodes and resource providers) deleted, their files removed."""
    extras = lab_hosts.current(layout)[count:]
    say('removing %s' % ' '.join(extras))
    lab.delete_all_servers(hosts=extras)
    stop(layout, [services.compute_name(h) for h in extras]
         + ['bmc-' + h for h in extras])
    lab.delete_compute_services(extras)
    for host in extras:
        shutil.rmtree(layout.bmc_dir(host), ignore_errors=True)
        shutil.rmtree(os.path.join(layout.state, host), ignore_errors=True)
        conf = os.path.join(layout.etc, 'nova', 'compute-%s.conf' % host)
        if os.path.exists(conf):
            os.unlink(conf)
    lab_hosts.store_count(layout, count)


def hosts_to_wait(lab, hosts):
    """The hosts ``lab up`` waits for: all but those left forced down by a
    test or a recovery (Nova calls them down, running or not, until someone
    unsets that: ``lab reset`` or ``lab restore`` does)."""
    services = lab.compute_services()
    forced = [h for h in hosts if h in services and services[h].forced_down]
    for host in forced:
        say('%s: forced down, not waited for (lab reset heals it)' % host)
    return [h for h in hosts if h not in forced]


def cmd_up(layout, args):
    timings = Timings()
    with timings.phase('install'):
        lab_install.install(layout)
    count = lab_hosts.wanted_count(layout, args.hosts)
    lab_hosts.check_may_grow(count)
    shrink = count < lab_hosts.stored_count(layout)
    if not shrink:
        lab_hosts.store_count(layout, count)
    settings = load_settings(layout)
    with open(layout.settings, 'w') as f:
        json.dump(settings, f)
    changed = lab_setup.configure(layout, settings)
    if all_running(layout) and not shrink:
        if changed:
            say('configuration changed: lab down && lab up to apply it')
        lab = cloud()
        lab.wait_computes_up(hosts_to_wait(lab, lab_hosts.current(layout)),
                             timeout=30)
        write_info(layout, settings)
        up_optional(layout, args, settings)
        say('lab already up')
        return
    with timings.phase('setup'):
        services.ensure_started(layout, ['epmd'])  # rabbitmq boots slowly
        services.wait_ready(layout, ['epmd'])
        services.ensure_started(layout, ['rabbitmq'])
        if not lab_setup.setup(layout):
            say('setup: already done')
    with timings.phase('start->ready'):
        lab = cloud()
        start_control_plane(layout, lab)
        if shrink:
            remove_hosts(layout, lab, count)
        hosts = lab_hosts.current(layout)
        started = power_on_hosts(layout, hosts)
        lab.wait_computes_up(hosts_to_wait(lab, hosts), since=started,
                             last_seen=heard_from(layout),
                             discover=lambda: discover_hosts(layout))
    write_info(layout, settings)
    timings.report()
    up_optional(layout, args, settings)
    called = float(os.environ.get('VMHA_LAB_CALLED_AT', '0') or 0)
    if called:
        say('timing: total (lab up)  %6.1fs' % (time.time() - called))
    report_memory(layout)
    say('lab up: %s' % layout.info)


def up_optional(layout, args, settings):
    """The optional parts asked for (--with), or set up before."""
    if 'masakari' in args.with_ or lab_masakari.present(layout):
        lab_masakari.up(layout, settings,
                        lab_setup.template_values(layout, settings), cloud())


def report_memory(layout):
    pids = sessions_processes(lab_sessions(layout))
    rss, pss = memory_mb(pids)
    say('memory: %d lab processes, RSS %.0f MB (PSS %.0f MB)'
        % (len(pids), rss, pss))


# ---------------------------------------------------------------- status

def bmc_states(layout):
    """{host: 'on'|'off'|'unreachable'} asked over IPMI, in parallel."""
    def ask(host):
        if not live_pid(layout, 'bmc-' + host):
            return 'unreachable'
        return services.bmc_power(host) or 'unreachable'
    hosts = lab_hosts.current(layout)
    with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
        return dict(zip(hosts, pool.map(ask, hosts)))


def nova_view(layout):
    """Compute services and server counts per host, if nova answers."""
    if not live_pid(layout, 'nova-api'):
        return {}, {}
    try:
        lab = cloud()
        computes = {host: {'state': s.state, 'status': s.status,
                           'forced_down': s.forced_down,
                           'disabled_reason': s.disabled_reason}
                    for host, s in lab.compute_services().items()}
        servers = {}
        for server in lab.servers().values():
            host = getattr(server, 'OS-EXT-SRV-ATTR:host', None)
            servers[str(host)] = servers.get(str(host), 0) + 1
        return computes, servers
    except Exception as exc:      # status must still show the processes
        say('nova: %s' % exc)
        return {}, {}


def collect_status(layout):
    processes = {}
    hosts = lab_hosts.current(layout)
    for name in CONTROL + bmcs(layout):
        pid = live_pid(layout, name)
        processes[name] = {'pid': pid or read_pid(layout, name)[0],
                           'alive': bool(pid)}
    for host in hosts:
        name = services.compute_name(host)
        state = services.compute_state(layout, host)
        processes[name] = {'pid': read_pid(layout, name)[0],
                           'alive': state != 'dead', 'state': state}
    processes.update(lab_masakari.status(layout))
    computes, servers = nova_view(layout)
    missing = [n for n, p in processes.items() if not p['alive']
               and not n.startswith('nova-compute-')]
    return {
        'hosts': list(hosts),
        'running': not missing, 'not_running': missing,
        'processes': processes, 'computes': computes, 'servers': servers,
        'bmc': bmc_states(layout),
        'bmc_stuck': {h: services.is_stuck(layout, h) for h in hosts},
    }


def print_status(status):
    print('processes:')
    for name, proc in status['processes'].items():
        print('  %-20s pid %-8s %s' % (name, proc['pid'] or '-', proc.get(
            'state', 'running' if proc['alive'] else 'NOT RUNNING')))
    print('hosts:')
    for host in status['hosts']:
        svc = status['computes'].get(host, {})
        print('  %-6s nova: %-4s %-8s forced_down=%-5s servers=%-3d '
              'bmc: %s%s' % (
                  host, svc.get('state', '?'), svc.get('status', '?'),
                  svc.get('forced_down', '?'),
                  status['servers'].get(host, 0), status['bmc'][host],
                  ' (stuck)' if status['bmc_stuck'][host] else ''))


def cmd_status(layout, args):
    """Exit 1 unless every control process and BMC runs (computes may be
    down on purpose)."""
    status = collect_status(layout)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        print_status(status)
    if not status['running']:
        raise LabError('not running: %s' % ' '.join(status['not_running']))


# ---------------------------------------------------------------- servers

def check_host(layout, host):
    hosts = lab_hosts.current(layout)
    if host not in hosts:
        raise LabError('unknown host %s (hosts: %s)' % (host, ' '.join(hosts)))


def cmd_boot(layout, args):
    import lab_nova
    check_host(layout, args.host)
    metadata = dict(item.split('=', 1) for item in args.metadata)
    lab = cloud()
    start = time.monotonic()
    ids = lab.boot(args.count, args.host, args.name_prefix, args.stopped,
                   args.error, metadata)
    say('booted %d servers on %s in %.1fs' % (
        len(ids), args.host, time.monotonic() - start))
    servers = lab.servers(ids)
    result = [lab_nova.describe(servers[i]) for i in ids]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for server in result:
            print('%(id)s %(name)s %(status)s %(host)s' % server)


# ---------------------------------------------------------------- hosts

def cmd_fail(layout, args):
    """Fail every host named at once (one thread each): a rack's power."""
    for host in args.hosts:
        check_host(layout, host)
    with concurrent.futures.ThreadPoolExecutor(len(args.hosts)) as pool:
        list(pool.map(lambda host: fail(layout, host, args.mode),
                      args.hosts))
    if args.wait_down:
        for host in args.hosts:
            wait_down(layout, host)


def fail(layout, host, mode):
    if mode == 'bmc':
        services.bmc_power_set(host, 'off')
        if services.is_stuck(layout, host):
            say('%s: BMC is stuck, it ignored the power-off (still %s)'
                % (host, services.bmc_power(host)))
            return
        wait_until(lambda: services.compute_state(layout, host) == 'dead',
                   10, 'nova-compute of %s to die' % host, interval=0.05)
        say('%s powered off through its BMC: nova-compute killed' % host)
    elif mode == 'kill':
        pid = services.kill_compute(layout, host, signal.SIGKILL)
        say('%s: nova-compute (pid %d) SIGKILLed, BMC untouched' % (host, pid))
    else:
        pid = services.kill_compute(layout, host, signal.SIGSTOP)
        say('%s: nova-compute (pid %d) SIGSTOPped (hung)' % (host, pid))


def wait_down(layout, host):
    """Wait until Nova notices the failure; print how long that took."""
    settings = load_settings(layout)
    start = time.monotonic()
    cloud().wait_service_state(host, 'down', timeout=(
        settings['service_down_time'] + 4 * settings['report_interval'] + 30))
    say('Nova reports %s down %.1fs after the failure'
        % (host, time.monotonic() - start))


def cmd_bmc(layout, args):
    check_host(layout, args.host)
    if args.state == 'down':
        services.stop_bmc(layout, args.host)
        say('BMC of %s: process stopped (unreachable)' % args.host)
        return
    services.set_stuck(layout, args.host, args.state == 'stuck')
    start_bmcs(layout)
    say('BMC of %s: %s' % (args.host, 'ignores power-off (stuck)'
                           if args.state == 'stuck' else 'normal'))


def revive(layout, lab, host, clean_evacuations=True):
    """Get the host's nova-compute running again; its start time if it
    (re)started, else None.

    A compute cleans up the evacuations from its host only when it starts:
    with ``clean_evacuations``, a running one is restarted for that.
    """
    state = services.compute_state(layout, host)
    resumed = None
    if state == 'stopped':
        # its last heartbeat may still look fresh to one reader and stale
        # to another: wait for one sent after it resumed
        resumed = time.time()
        services.kill_compute(layout, host, signal.SIGCONT)
        say('%s: nova-compute continued (SIGCONT)' % host)
        state = 'running'
    if (state == 'running' and clean_evacuations
            and lab.pending_evacuations(host)):
        say('%s: restarting nova-compute to clean up evacuations' % host)
        services.kill_compute(layout, host, signal.SIGKILL)
        state = 'dead'
    if state == 'running':
        if services.bmc_power(host) == 'off':   # a stuck BMC's power-off
            services.bmc_power_set(host, 'on')
        return resumed
    started = time.time()
    pid = services.power_on(layout, host)
    say('%s powered on through its BMC: nova-compute pid %d' % (host, pid))
    return started


def heard_from(layout):
    return lambda host: services.last_seen_up(layout, host)


def settle(layout, lab, host, started):
    """Evacuations cleaned up, force-down unset, enabled, service up."""
    if lab.pending_evacuations(host):
        say('%s: waiting for its evacuations to turn completed' % host)
        wait_until(lambda: not lab.pending_evacuations(host), 120,
                   'evacuations from %s to turn completed' % host, 1.0)
    lab.make_healthy(host)
    lab.wait_computes_up([host], since={host: started} if started else None,
                         timeout=120, last_seen=heard_from(layout))
    lab.clear_disabled_trait(host)


def cmd_restore(layout, args):
    check_host(layout, args.host)
    lab = cloud()
    settle(layout, lab, args.host, revive(layout, lab, args.host))
    say('%s restored' % args.host)


def start_bmcs(layout):
    """Start the BMCs a test stopped (lab bmc HOST down)."""
    started = services.ensure_started(
        layout, ['bmc-' + host for host in lab_hosts.current(layout)])
    services.wait_ready(layout, started)


def cmd_reset(layout, args):
    """Every BMC running and normal, every compute running, no servers,
    hosts healthy."""
    lab = cloud()
    start = time.monotonic()
    hosts = lab_hosts.current(layout)
    for host in hosts:
        services.set_stuck(layout, host, False)
    start_bmcs(layout)
    started = {host: revive(layout, lab, host, clean_evacuations=False)
               for host in hosts}
    lab.delete_all_servers()   # their migrations go with them
    for host in hosts:
        settle(layout, lab, host, started[host])
    lab_masakari.reset(layout, load_settings(layout))
    say('lab reset in %.1fs' % (time.monotonic() - start))


# ---------------------------------------------------------------- down, logs

def cmd_down(layout, args):
    left = services.stop_all(layout)
    if left:
        raise LabError('lab processes still running: %s' % left)
    say('lab down')


def cmd_logs(layout, args):
    if not args.name:
        for name in sorted(os.listdir(layout.logs)):
            path = os.path.join(layout.logs, name)
            print('%10d  %s' % (os.path.getsize(path), path))
        return
    for suffix in ('.log', '.out', ''):
        path = os.path.join(layout.logs, args.name + suffix)
        if os.path.isfile(path):
            with open(path, errors='replace') as f:
                sys.stdout.writelines(f.readlines()[-args.lines:])
            return
    raise LabError('no log named %s (lab logs lists them)' % args.name)


def cmd_masakari(layout, args):
    lab_masakari.command(layout, load_settings(layout), args)


def cmd_install(layout, args):
    timings = Timings()
    with timings.phase('install'):
        lab_install.install(layout)
    timings.report()


# ---------------------------------------------------------------- CLI

def parser():
    p = argparse.ArgumentParser(
        prog='lab', description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.split('\n')[2:]))
    sub = p.add_subparsers(dest='command', required=True)
    for name in ('install', 'reset', 'down', 'info'):
        sub.add_parser(name)
    sub.add_parser('up').add_argument(
        '--hosts', type=int, metavar='N',
        help='compute hosts (default: $%s, else as the lab runs now, '
             'else %d)' % (lab_hosts.ENV, lab_hosts.DEFAULT_COUNT))
    sub.choices['up'].add_argument(
        '--with', dest='with_', action='append', default=[],
        choices=('masakari',), help='optional parts to set up and start')
    sub.add_parser('status').add_argument('--json', action='store_true')
    boot = sub.add_parser('boot')
    boot.add_argument('count', type=int)
    boot.add_argument('--host', required=True)
    boot.add_argument('--name-prefix', default='lab')
    boot.add_argument('--stopped', type=int, default=0)
    boot.add_argument('--error', type=int, default=0)
    boot.add_argument('--metadata', nargs='*', default=[],
                      metavar='KEY=VALUE')
    boot.add_argument('--json', action='store_true')
    fail = sub.add_parser('fail')
    fail.add_argument('hosts', nargs='+', metavar='host')
    fail.add_argument('--mode', choices=('bmc', 'kill', 'stop'),
                      default='bmc')
    fail.add_argument('--wait-down', action='store_true',
                      help='wait until Nova reports the compute down')
    bmc = sub.add_parser('bmc')
    bmc.add_argument('host')
    bmc.add_argument('state', choices=('stuck', 'normal', 'down'))
    sub.add_parser('restore').add_argument('host')
    logs = sub.add_parser('logs')
    logs.add_argument('name', nargs='?')
    logs.add_argument('-n', '--lines', type=int, default=50)
    lab_masakari.add_commands(sub)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    layout = Layout()
    command = globals()['cmd_' + args.command.replace('-', '_')]
    try:
        command(layout, args)
    except LabError as exc:
        print('lab %s: error: %s' % (args.command, exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
