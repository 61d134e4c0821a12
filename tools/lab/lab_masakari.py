"""OpenStack Masakari in the lab, on demand: ``lab up --with masakari``.

vmha is compared with Masakari on the same cloud, the same failure and the
same servers (README "Benchmark", ``tox -e bench -- --compare masakari``).
This module installs Masakari 22 from PyPI into venv-nova (its requirements
are lower bounds that nova's pins satisfy: constraints-masakari.txt holds the
few packages it adds), runs ``masakari-api`` (gunicorn) and
``masakari-engine`` on the lab's MariaDB and RabbitMQ, registers its keystone
user, service and endpoint, and creates one failover segment
(``recovery_method`` auto, ``service_type`` COMPUTE) with every lab host.

Masakari's configuration says only where things are (templates/
masakari.conf); every timing keeps the default shipped in the installed
package. ``lab masakari variant tuned`` adds masakari-variant.conf with the
pure-sleep waits cut (TUNED explains each) and restarts both processes.

Masakari acts on a host only when a notification is posted for it. Its
engine's periodic tasks read its own database, not Nova, but one of them
retries every notification left in ``error`` (``process_unfinished_
notifications_interval``): ``lab reset`` therefore marks every unfinished
notification ``failed`` (restarting the engine if one was running), takes
every host out of maintenance and puts the default variant back, so that
Masakari never touches a host a later test uses.

Everything but ``install`` runs with venv-nova's python, where masakari and
openstacksdk are importable.
"""

import datetime
import hashlib
import json
import os
import time

from lab_common import ADDRESS
from lab_common import HERE
from lab_common import HOSTS
from lab_common import LabError
from lab_common import Timings
from lab_common import admin_auth
from lab_common import live_pid
from lab_common import run
from lab_common import say
from lab_common import stop
from lab_common import wait_until
from lab_common import write_if_changed
import lab_services
from lab_services import Service

NAME = 'masakari'
PORT = 15868                       # masakari-api's own default port
API, ENGINE = 'masakari-api', 'masakari-engine'
PROCESSES = (API, ENGINE)
SEGMENT = 'vmha-lab'
PACKAGES = ('masakari', 'python-masakariclient')
CONSTRAINTS = ('constraints-nova.txt', 'constraints-masakari.txt')
VARIANTS = ('default', 'tuned')
SERVICE_TYPE = 'instance-ha'
ENGINE_TOPIC = 'ha_engine'
#: the notification hostmonitor posts when Pacemaker reports a node
#: OFFLINE (masakari-monitors' hostmonitor, host_status NORMAL: fenced)
HOST_DOWN_PAYLOAD = {'event': 'STOPPED', 'host_status': 'NORMAL',
                     'cluster_status': 'OFFLINE'}
FINAL = ('finished', 'failed', 'ignored')
API_VERSION = '1.3'                # vmoves: per-instance evacuation records

#: the options the comparison depends on, (group, name): their values are
#: read from the installed package (``options``), never written here
TIMING_OPTIONS = (
    ('DEFAULT', 'wait_period_after_service_update'),
    ('DEFAULT', 'notification_delay_max'),
    ('DEFAULT', 'host_failure_recovery_threads'),
    ('DEFAULT', 'verify_interval'),
    ('DEFAULT', 'wait_period_after_evacuation'),
    ('DEFAULT', 'wait_period_after_power_off'),
    ('DEFAULT', 'duplicate_notification_detection_interval'),
    ('DEFAULT', 'process_unfinished_notifications_interval'),
    ('DEFAULT', 'retry_notification_new_status_interval'),
    ('host_failure', 'evacuate_all_instances'),
    ('host_failure', 'ignore_instances_in_error_state'),
)


def tuned(settings):
    """{option: (value, why)}: the pure sleeps a careful operator cuts.

    Only sleeps: timeouts (``wait_period_after_evacuation``,
    ``wait_period_after_power_off``), the confirmation poll
    (``verify_interval``) and the evacuation concurrency
    (``host_failure_recovery_threads``) keep their defaults.
    """
    wait = settings['service_down_time'] + settings['report_interval']
    return {
        'wait_period_after_service_update': (wait, (
            'after disabling the compute service, the engine sleeps this '
            'long "until nova recognizes the node down"; Nova refuses to '
            'evacuate before. Masakari does not force the service down, so '
            'Nova needs service_down_time (%d s) after the last heartbeat, '
            'which came before the power-off the notification reports; one '
            'report_interval (%d s) more is the margin'
            % (settings['service_down_time'], settings['report_interval']))),
        'notification_delay_max': (0, (
            'a random 0..N s sleep before a notification is created, '
            'against duplicates from several API workers without a '
            'coordination backend; the lab runs one API worker')),
    }


# ---------------------------------------------------------------- install

def _fingerprint():
    data = b''
    for name in CONSTRAINTS:
        with open(os.path.join(HERE, name), 'rb') as f:
            data += f.read()
    return hashlib.sha256(data + ' '.join(PACKAGES).encode()).hexdigest()


def _stamp(layout):
    return os.path.join(layout.venv_nova, '.vmha-lab-masakari')


def installed(layout):
    try:
        with open(_stamp(layout)) as f:
            return f.read().strip() == _fingerprint()
    except FileNotFoundError:
        return False


def install(layout):
    """pip install masakari into venv-nova unless done; True if it ran."""
    if installed(layout):
        return False
    say('masakari: pip install %s into venv-nova' % ' '.join(PACKAGES))
    constraints = []
    for name in CONSTRAINTS:
        constraints += ['-c', os.path.join(HERE, name)]
    run([layout.nova_bin('pip'), 'install', '-q'] + constraints
        + list(PACKAGES), timeout=1800)
    with open(_stamp(layout), 'w') as f:
        f.write(_fingerprint() + '\n')
    return True


# ---------------------------------------------------------------- config

def etc(layout):
    return os.path.join(layout.etc, NAME)


def conf_files(layout):
    return [os.path.join(etc(layout), 'masakari.conf'),
            os.path.join(etc(layout), 'masakari-variant.conf')]


def variant_text(variant, settings):
    """masakari-variant.conf: empty for the default, TUNED's cuts else."""
    lines = ['# Rendered by `lab masakari variant %s`.' % variant]
    if variant == 'tuned':
        lines.append('[DEFAULT]')
        for option, (value, why) in tuned(settings).items():
            lines += ['# %s' % why, '%s = %s' % (option, value)]
    else:
        lines.append('# default: every timing as shipped by masakari')
    return '\n'.join(lines) + '\n'


def current_variant(layout):
    try:
        with open(conf_files(layout)[1]) as f:
            return 'tuned' if '[DEFAULT]' in f.read() else 'default'
    except FileNotFoundError:
        return None


def configure(layout, settings, values):
    """Write masakari.conf and api-paste.ini (the variant file only if
    missing: switching variants is ``set_variant``); changed paths."""
    import lab_setup
    values = dict(values, masakari_port=PORT)
    files = {conf_files(layout)[0]: lab_setup.render('masakari.conf', values)}
    with open(os.path.join(layout.venv_nova, 'etc', 'masakari',
                           'api-paste.ini')) as f:
        files[os.path.join(etc(layout), 'api-paste.ini')] = f.read()
    if current_variant(layout) is None:
        files[conf_files(layout)[1]] = variant_text('default', settings)
    return [p for p, text in files.items() if write_if_changed(p, text)]


def services(layout):
    """name -> Service of Masakari's processes."""
    base, variant = conf_files(layout)
    return {
        API: Service(
            lab_services.gunicorn(layout.nova_bin, PORT,
                                  'masakari_api_wsgi:application',
                                  threads=1),
            {'OS_MASAKARI_CONFIG_DIR': etc(layout)},
            ready=lambda: lab_services.http_answers(
                'http://%s:%d/' % (ADDRESS, PORT))),
        ENGINE: Service(
            [layout.nova_bin('masakari-engine'), '--config-file', base,
             '--config-file', variant, '--log-file',
             layout.log_file(ENGINE)],
            ready=lambda: engine_consuming(layout)),
    }


def engine_consuming(layout):
    """True once the engine's RPC server reads its topic's queue."""
    try:
        with open(layout.log_file(ENGINE), errors='replace') as f:
            return 'Starting' in f.read() and _queue_has_consumer(layout)
    except FileNotFoundError:
        return False


def _queue_has_consumer(layout):
    env = dict(lab_services.rabbitmq_env(layout))
    proc = run(['/usr/lib/rabbitmq/bin/rabbitmqctl', '-n',
                env['RABBITMQ_NODENAME'], '-q', 'list_queues', 'name',
                'consumers'], env=dict(os.environ, **env), check=False,
               timeout=60)
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == ENGINE_TOPIC:
            return words[1] != '0'
    return False


# ---------------------------------------------------------------- setup

def _marker(layout, what):
    return os.path.join(layout.data, 'masakari-%s.done' % what)


def present(layout):
    """True once ``lab up --with masakari`` has set Masakari up."""
    return os.path.exists(_marker(layout, 'segment'))


def _sql(layout, sql, database='masakari'):
    return run(['mariadb', '--no-defaults', '-S',
                lab_services.mysql_socket(layout), '-uroot', '-N', '-B']
               + ([database] if database else []) + ['-e', sql]).stdout


def setup_database(layout):
    """The masakari database on the lab's MariaDB, its schema (and the
    taskflow tables of its progress records)."""
    if os.path.exists(_marker(layout, 'db')):
        return False
    _sql(layout, 'CREATE DATABASE IF NOT EXISTS masakari;', database=None)
    run([layout.nova_bin('masakari-manage'), '--config-file',
         conf_files(layout)[0], 'db', 'sync'])
    open(_marker(layout, 'db'), 'w').close()
    return True


def register(layout, cloud):
    """keystone: the masakari user and the instance-ha service/endpoint."""
    if os.path.exists(_marker(layout, 'keystone')):
        return False
    cloud.register_services(users=(NAME,), catalog={
        SERVICE_TYPE: (NAME, PORT, '/v1/%(project_id)s')})
    open(_marker(layout, 'keystone'), 'w').close()
    return True


def connection():
    """An openstacksdk admin connection to the lab (masakari's API)."""
    import openstack
    return openstack.connect(**admin_auth())


def ensure_segment(conn):
    """The failover segment with every lab host; its id."""
    ha = conn.instance_ha
    segment = next((s for s in ha.segments() if s.name == SEGMENT), None)
    if segment is None:
        segment = ha.create_segment(name=SEGMENT, recovery_method='auto',
                                    service_type='COMPUTE')
        say('masakari: segment %s created' % SEGMENT)
    known = {h.name for h in ha.hosts(segment.uuid)}
    for host in HOSTS:
        if host not in known:
            ha.create_host(segment.uuid, name=host, type='COMPUTE',
                           control_attributes='SSH')
            say('masakari: %s added to segment %s' % (host, SEGMENT))
    return segment.uuid


# ---------------------------------------------------------------- up

def running(layout):
    return all(live_pid(layout, n) for n in PROCESSES)


def start(layout):
    table = services(layout)
    lab_services.ensure_started(layout, [API, ENGINE], table)
    lab_services.wait_ready(layout, [API, ENGINE], table=table)


def up(layout, settings, values, cloud):
    """Install, configure, set up and start Masakari, idempotently."""
    timings = Timings()
    with timings.phase('masakari pip'):
        install(layout)
    changed = configure(layout, settings, values)
    if changed and running(layout):
        say('masakari: configuration changed, restarting')
        stop(layout, list(PROCESSES))
    with timings.phase('masakari db'):
        setup_database(layout)
    with timings.phase('masakari start'):
        register(layout, cloud)
        start(layout)
    with timings.phase('masakari segment'):
        if not present(layout):
            ensure_segment(connection())
            open(_marker(layout, 'segment'), 'w').close()
    timings.report()


def set_variant(layout, settings, variant):
    """Switch the variant; restart both processes if it changed."""
    if not write_if_changed(conf_files(layout)[1],
                            variant_text(variant, settings)):
        return False
    say('masakari: variant %s, restarting %s' % (variant,
                                                  ' '.join(PROCESSES)))
    stop(layout, list(PROCESSES))
    start(layout)
    return True


def reset(layout, settings):
    """Masakari inert again: no unfinished notification (the engine would
    retry one in ``error``), no host in maintenance (the API ignores
    notifications of such a host), the default variant."""
    if not present(layout):
        return
    unfinished = _sql(layout, (
        "SELECT status, COUNT(*) FROM notifications WHERE deleted = 0 AND "
        "status IN ('new', 'running', 'error') GROUP BY status")).split()
    if unfinished:
        say('masakari: unfinished notifications %s marked failed'
            % ' '.join(unfinished))
        _sql(layout, "UPDATE notifications SET status = 'failed' WHERE "
                     "deleted = 0 AND status IN ('new', 'running', 'error')")
    restarted = set_variant(layout, settings, 'default')
    if not restarted and ('running' in unfinished or not running(layout)):
        stop(layout, list(PROCESSES))      # a workflow may still run
        start(layout)
    # the database says cheaply whether the API is needed at all
    if not _sql(layout, 'SELECT name FROM hosts WHERE deleted = 0 AND '
                        'on_maintenance = 1').split():
        return
    conn = connection()
    segment = ensure_segment(conn)
    for host in conn.instance_ha.hosts(segment):
        if host.on_maintenance:
            conn.instance_ha.update_host(host.uuid, segment,
                                         on_maintenance=False)
            say('masakari: %s out of maintenance' % host.name)


def status(layout):
    """{name: {pid, alive}} when Masakari is present, else {}."""
    if not present(layout):
        return {}
    return {name: {'pid': live_pid(layout, name), 'alive':
                   bool(live_pid(layout, name))} for name in PROCESSES}


# ---------------------------------------------------------------- options

def options(layout):
    """{'group.name': {'value', 'default'}} of TIMING_OPTIONS, as the
    engine reads its config files: defaults from the installed package."""
    from oslo_config import cfg
    from masakari.conf import opts as masakari_opts
    conf = cfg.ConfigOpts()
    for group, opts in masakari_opts.list_opts():
        conf.register_opts(opts, group=None if group == 'DEFAULT' else group)
    files = []
    for path in conf_files(layout):
        files += ['--config-file', path]
    conf(files, project='masakari', default_config_files=[])
    found = {}
    for group, name in TIMING_OPTIONS:
        section = conf if group == 'DEFAULT' else conf[group]
        opt = conf._get_opt_info(name, None if group == 'DEFAULT'
                                 else group)['opt']
        found['%s.%s' % (group, name)] = {'value': section[name],
                                          'default': opt.default}
    return found


def info(layout, settings):
    import masakari.version
    return {
        'version': masakari.version.version_string(),
        'endpoint': 'http://%s:%d/v1' % (ADDRESS, PORT),
        'segment': SEGMENT, 'variant': current_variant(layout),
        'running': running(layout), 'options': options(layout),
        'tuned': {k: {'value': v, 'why': why}
                  for k, (v, why) in tuned(settings).items()},
    }


# ---------------------------------------------------------------- failure

def iso(epoch):
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')


def fail_and_notify(layout, host):
    """Power ``host`` off through its BMC and, the moment the power-off is
    confirmed, post hostmonitor's notification to masakari-api.

    The SDK session is authenticated before the power-off so that the
    notification costs one API call. Returns the instants (epoch).
    """
    conn = connection()
    list(conn.instance_ha.segments())
    lab_services.bmc_power_set(host, 'off')
    wait_until(lambda: lab_services.compute_state(layout, host) == 'dead',
               10, 'nova-compute of %s to die' % host, interval=0.05)
    powered_off = time.time()
    notification = conn.instance_ha.create_notification(
        type='COMPUTE_HOST', hostname=host, generated_time=iso(powered_off),
        payload=HOST_DOWN_PAYLOAD)
    return {'host': host, 'powered_off_at': powered_off,
            'answered_at': time.time(),
            'notification_uuid': notification.notification_uuid}


def _epoch(text):
    """Masakari's naive-UTC timestamps as epoch seconds."""
    if not text:
        return None
    text = str(text).replace('Z', '').replace('+00:00', '')
    for fmt in ('%Y-%m-%dT%H:%M:%S.%f', '%Y-%m-%dT%H:%M:%S',
                '%Y-%m-%d %H:%M:%S.%f', '%Y-%m-%d %H:%M:%S'):
        try:
            return datetime.datetime.strptime(text, fmt).replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def _get(conn, path):
    return conn.instance_ha.get(path, microversion=API_VERSION).json()


def records(conn, uuid):
    """Masakari's own records of notification ``uuid``: its status and
    instants, its recovery workflow's progress and its vmoves."""
    note = _get(conn, '/notifications/%s' % uuid)['notification']
    progress = []
    for task in note.get('recovery_workflow_details') or []:
        progress.append({'name': task['name'], 'state': task['state'],
                         'details': [dict(d, at=_epoch(d['timestamp']))
                                     for d in task['progress_details']]})
    vmoves = [{'instance_uuid': v['instance_uuid'], 'status': v['status'],
               'start': _epoch(v.get('start_time')),
               'end': _epoch(v.get('end_time')),
               'dest_host': v.get('dest_host'), 'message': v.get('message')}
              for v in _get(conn, '/notifications/%s/vmoves' % uuid)[
                  'vmoves']]
    return {'uuid': uuid, 'status': note['status'],
            'generated_at': _epoch(note['generated_time']),
            'created_at': _epoch(note['created_at']),
            'updated_at': _epoch(note.get('updated_at')),
            'progress': progress, 'vmoves': vmoves}


def wait(uuid, timeout):
    """Until notification ``uuid`` is final; its records."""
    conn = connection()

    def final():
        note = _get(conn, '/notifications/%s' % uuid)['notification']
        return note['status'] in FINAL
    wait_until(final, timeout, 'masakari notification %s to finish' % uuid,
               interval=1.0)
    return records(conn, uuid)


# ---------------------------------------------------------------- CLI

def add_commands(sub):
    """``lab masakari ...`` (the hook in vmha_lab.parser)."""
    p = sub.add_parser(NAME, help='Masakari (lab up --with masakari)')
    cmds = p.add_subparsers(dest='masakari_command', required=True)
    cmds.add_parser('info')
    cmds.add_parser('variant').add_argument('variant', choices=VARIANTS)
    cmds.add_parser('fail').add_argument('host')
    rec = cmds.add_parser('records')
    rec.add_argument('uuid')
    rec.add_argument('--wait', type=float, default=0,
                     help='seconds to wait for the notification to finish')


def command(layout, settings, args):
    """Run ``lab masakari ...``; JSON on stdout."""
    if not present(layout):
        raise LabError('Masakari is not set up: lab up --with masakari')
    what = args.masakari_command
    if what == 'info':
        result = info(layout, settings)
    elif what == 'variant':
        set_variant(layout, settings, args.variant)
        result = {'variant': current_variant(layout)}
    elif what == 'fail':
        result = fail_and_notify(layout, args.host)
    elif args.wait:
        result = wait(args.uuid, args.wait)
    else:
        result = records(connection(), args.uuid)
    print(json.dumps(result, indent=1, sort_keys=True))
