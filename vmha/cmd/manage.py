"""vmha-manage: the operator's command line.

Thin: parse arguments, load configuration, call the library, print a table
(or JSON with ``-f json``). Every error is one line on stderr and exit 1;
nothing is stored when input is invalid.
"""

import argparse
import json
import sys

from oslo_config import cfg
from oslo_log import log as logging

from vmha import capacity
from vmha import conf as vmha_conf
from vmha.db import api as db_api
from vmha.db import migration
from vmha import exception
from vmha import fencing
from vmha import inventory
from vmha import recovery
from vmha import repair

LOG = logging.getLogger(__name__)


# -- output -------------------------------------------------------------------

def _print(args, data, columns=None):
    """Print ``data`` (dict or list of dicts) as JSON or a plain table."""
    if args.format == 'json':
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    if isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            print('%-*s  %s' % (width, key, _cell(value)))
        return
    columns = columns or (sorted(data[0]) if data else [])
    rows = [[_cell(row.get(c)) for c in columns] for row in data]
    widths = [max([len(c)] + [len(r[i]) for r in rows])
              for i, c in enumerate(columns)]
    print('  '.join(c.ljust(w) for c, w in zip(columns, widths)))
    print('  '.join('-' * w for w in widths))
    for row in rows:
        print('  '.join(v.ljust(w) for v, w in zip(row, widths)))


def _cell(value):
    if value is None:
        return '-'
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


# -- input validation ---------------------------------------------------------

def _parse_options(pairs):
    options = {}
    for pair in pairs or ():
        key, sep, value = pair.partition('=')
        if not sep or not key:
            raise exception.InvalidInput(
                reason='--bmc-option %r must look like key=value' % pair)
        options[key] = value
    return options


def _read_password(args):
    if args.bmc_password_file:
        try:
            with open(args.bmc_password_file) as f:
                return f.read().strip()
        except OSError as err:
            raise exception.InvalidInput(
                reason='--bmc-password-file: %s' % err.strerror)
    return args.bmc_password


def _on_off(value):
    return None if value is None else value == 'on'


def _host_spec(args, conf, base=None):
    """A validated HostSpec from ``args`` (layered over ``base`` on update)."""
    spec = base or inventory.HostSpec(name=args.name)
    for attr, value in (('fencing_driver', args.fencing),
                        ('bmc_address', args.bmc_address),
                        ('bmc_port', args.bmc_port),
                        ('bmc_username', args.bmc_username),
                        ('bmc_password', _read_password(args)),
                        ('level', args.level),
                        ('watchdog_required',
                         _on_off(args.watchdog_required))):
        if value is not None:
            setattr(spec, attr, value)
    if args.bmc_option:
        spec.bmc_options = dict(spec.bmc_options, **_parse_options(
            args.bmc_option))
    try:
        fencing.load_driver(conf, spec).validate(spec)
    except exception.InvalidInput as err:
        raise _naming_options(err) from err
    return spec


# the command-line options that set the inventory fields a driver checks
_OPTIONS = {'bmc_address': '--bmc-address', 'bmc_port': '--bmc-port',
            'bmc_username': '--bmc-username',
            'bmc_password': '--bmc-password or --bmc-password-file'}


def _option(field):
    """The option setting ``field`` (``bmc_options['key_file']`` too)."""
    name, _, key = field.partition('[')
    if name == 'bmc_options':
        return '--bmc-option %s=...' % (key.strip("[]'") or 'KEY')
    return _OPTIONS.get(name)


def _naming_options(err):
    """``err`` with the options to use appended: drivers speak of inventory
    fields (bmc_username), the operator typed options (--bmc-username)."""
    options = [_option(f) for f in err.kwargs.get('fields') or ()]
    options = [o for o in options if o]
    if not options:
        return err
    return exception.InvalidInput(reason='%s (set with %s)' % (
        err.kwargs['reason'], '; '.join(options)))


# -- commands -----------------------------------------------------------------

def cmd_db_sync(args, conf):
    migration.upgrade(conf.database.connection)
    revision = migration.current_revision(conf.database.connection)
    if args.format == 'json':
        _print(args, {'revision': revision})
    else:
        print('database schema at revision %s' % revision)


def _host_row(spec, state):
    row = spec.public_dict()
    row['state'] = state
    return row


def cmd_host_add(args, conf):
    spec = _host_spec(args, conf)
    spec.reserved = args.reserved
    db = db_api.Database.from_conf(conf)
    db.add_host(spec)
    _print(args, _host_row(spec, 'healthy'))


def cmd_host_update(args, conf):
    db = db_api.Database.from_conf(conf)
    spec = _host_spec(args, conf, base=db.get_host(args.name))
    if args.maintenance is not None:
        spec.maintenance = args.maintenance == 'on'
    if args.reserved is not None:
        # on: (back) in the pool of free spares; off: an ordinary host
        spec.reserved, spec.reserved_for = args.reserved == 'on', None
    fields = {k: v for k, v in vars(spec).items() if k != 'name'}
    db.update_host(args.name, **fields)
    _print(args, _host_row(spec, db.host_state(args.name)))


def cmd_host_list(args, conf):
    db = db_api.Database.from_conf(conf)
    agents = db.host_agents()
    rows = [dict(_host_row(spec, state), agent=agents.get(spec.name) or '-')
            for spec, state in db.list_hosts()]
    _print(args, rows, ['name', 'fencing_driver', 'bmc_address', 'bmc_port',
                        'level', 'maintenance', 'reserved', 'reserved_for',
                        'state', 'agent'])


def cmd_host_show(args, conf):
    db = db_api.Database.from_conf(conf)
    _print(args, _host_row(db.get_host(args.name), db.host_state(args.name)))


def cmd_host_delete(args, conf):
    db_api.Database.from_conf(conf).delete_host(args.name)
    if args.format == 'json':
        _print(args, {'deleted': args.name})
    else:
        print('host %s deleted' % args.name)


def cmd_host_recover(args, conf):
    recoverer = recovery.Recoverer(conf)
    try:
        report = repair.HostRepair(
            conf, recoverer.compute, recoverer.db,
            recoverer.dispatcher).run(args.name)
        # the host's room is back: evacuations waiting for capacity go now
        retried = capacity.retry_waiting(
            recoverer, trigger=capacity.TRIGGER_HOST_RECOVERED)
    finally:
        recoverer.close()
    data = report.to_dict()
    data['retried_recoveries'] = [_retried(r) for r in retried]
    _print(args, data)


def _retried(report):
    """``id: state (n waiting)`` of a recovery whose waiting evacuations
    were retried."""
    waiting = sum(1 for e in report.evacuations
                  if e['status'] == db_api.EVAC_WAITING)
    return '%s: %s (%d waiting)' % (report.id, report.state, waiting)


def cmd_recovery_retry(args, conf):
    recoverer = recovery.Recoverer(conf)
    try:
        if args.id:
            recoverer.db.get_recovery(args.id)   # NotFound: one clear line
        reports = capacity.retry_waiting(recoverer, host=args.host,
                                         recovery_id=args.id)
    finally:
        recoverer.close()
    if args.format == 'json':
        _print(args, [report.to_dict() for report in reports])
        return 0
    if not reports:
        print('no evacuation waiting for capacity')
    for report in reports:
        _print_report(args, report)
    return 0 if all(r.state == db_api.COMPLETED for r in reports) else 2


def cmd_evacuate(args, conf):
    recoverer = recovery.Recoverer(conf)
    try:
        # an unknown host is bad input: refuse before recording anything
        recoverer.compute.get_service(args.host)
        if args.dry_run:
            report = recoverer.dry_run(args.host, args.level)
            _print_dry_run(args, report)
            return 0
        report = recoverer.recover(args.host, args.level)
    finally:
        recoverer.close()
    _print_report(args, report)
    return 0 if report.state == db_api.COMPLETED else 2


def _print_dry_run(args, report):
    if args.format == 'json':
        _print(args, report.to_dict())
        return
    print('DRY RUN: nothing was changed.')
    _print(args, {k: v for k, v in report.to_dict().items()
                  if k not in ('instances', 'steps')})
    print('\nsteps:')
    for number, step in enumerate(report.steps, 1):
        print('  %d. %s' % (number, step))
    print()
    _print(args, report.instances,
           ['id', 'name', 'vm_state', 'ha_enabled', 'action', 'reason'])


def _print_report(args, report):
    if args.format == 'json':
        _print(args, report.to_dict())
        return
    _print(args, {'recovery': report.id, 'host': report.host,
                  'level': report.level, 'state': report.state,
                  'fence_proof': report.fence_proof or '-',
                  'error': report.error})
    print('\ntimeline:')
    start = report.phases.get('detected_at')
    for phase in db_api.PHASES:
        when = report.phases.get(phase)
        if when:
            offset = (when - start).total_seconds() if start else 0.0
            print('  %-20s %s  (+%.2fs)' % (phase, when.isoformat(), offset))
    print()
    _print(args, report.evacuations,
           ['instance_id', 'name', 'status', 'original_vm_state',
            'target_host', 'evacuate_calls', 'reason'])


def cmd_recovery_list(args, conf):
    rows = [{'id': r.id, 'host': r.host, 'level': r.level, 'state': r.state,
             'started_at': r.started_at, 'finished_at': r.finished_at}
            for r in db_api.Database.from_conf(conf).list_recoveries(
                host=args.host, limit=args.limit)]
    _print(args, rows, ['id', 'host', 'level', 'state', 'started_at',
                        'finished_at'])


def _event_row(event):
    return {'created_at': event.created_at.isoformat(),
            'priority': event.priority, 'event_type': event.event_type,
            'payload': event.payload}


def cmd_recovery_show(args, conf):
    db = db_api.Database.from_conf(conf)
    report = recovery.RecoveryReport.load(db, args.id)
    rows = ([_event_row(e) for e in db.list_events(recovery_id=args.id)]
            if args.events else None)
    if args.format == 'json':
        data = report.to_dict()
        if rows is not None:
            data['events'] = rows
        _print(args, data)
        return
    _print_report(args, report)
    if rows is not None:
        print('\nevents:')
        for row in rows:
            print('  %s %-5s %-32s %s' % (
                row['created_at'], row['priority'], row['event_type'],
                _cell(row['payload'])))


def cmd_recovery_resume(args, conf):
    recoverer = recovery.Recoverer(conf)
    try:
        reports = ([recoverer.resume(args.id)] if args.id
                   else recoverer.resume_all(wait=False))
    finally:
        recoverer.close()
    if args.format == 'json':
        _print(args, [report.to_dict() for report in reports])
    else:
        if not reports:
            print('no unfinished recovery')
        for report in reports:
            _print_report(args, report)
    # like evacuate: 2 unless every recovery completed (one left to the
    # live process that runs it is not)
    return 0 if all(r.state == db_api.COMPLETED for r in reports) else 2


# -- parser -------------------------------------------------------------------

def _positive(value):
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError('%r is not a positive number'
                                         % value)
    return number


def _level(value):
    try:
        level = int(value)
    except ValueError:
        level = None
    if level not in (1, 2, 3):
        raise argparse.ArgumentTypeError('level must be 1, 2 or 3')
    return level


def _add_host_fields(parser):
    parser.add_argument('name', help='host name as Nova knows it')
    parser.add_argument('--fencing', metavar='DRIVER',
                        help='fencing driver (default: [fencing] '
                             'default_driver)')
    parser.add_argument('--bmc-address')
    parser.add_argument('--bmc-port', type=int)
    parser.add_argument('--bmc-username')
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument('--bmc-password', help='prefer --bmc-password-file: '
                        'a command line is visible to other users')
    secret.add_argument('--bmc-password-file')
    parser.add_argument('--bmc-option', action='append', metavar='KEY=VALUE',
                        help='driver-specific option (repeatable)')
    parser.add_argument('--level', type=_level,
                        help='quick_evacuate_level for this host')
    parser.add_argument('--watchdog-required', choices=('on', 'off'),
                        help='its vmha-agent must arm a watchdog: the '
                             'monitor notifies vmha.agent.watchdog.missing '
                             'when it heartbeats unarmed (doc/watchdog.md); '
                             'with --fencing watchdog (no BMC) its watchdog '
                             'is its only fencing')


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error, exit code 2."""

    def error(self, message):
        self.exit(2, 'vmha-manage: error: %s (see %s --help)\n'
                  % (message, self.prog))


def build_parser():
    parser = _Parser(
        prog='vmha-manage', description='Operate vmha: inventory, manual '
        'recoveries, recovery records.')
    parser.add_argument('--config-file', action='append', default=[])
    parser.add_argument('--config-dir', action='append', default=[])
    parser.add_argument('-f', '--format', choices=('table', 'json'),
                        default='table')
    sub = parser.add_subparsers(dest='command', required=True)

    db = sub.add_parser('db').add_subparsers(dest='action', required=True)
    db.add_parser('sync', help='create/upgrade the schema').set_defaults(
        func=cmd_db_sync)

    host = sub.add_parser('host').add_subparsers(dest='action', required=True)
    p = host.add_parser('add', help='add a host to the inventory')
    _add_host_fields(p)
    p.add_argument('--reserved', action='store_true',
                   help='a spare compute, kept disabled in Nova, that vmha '
                        'enables when a failure leaves no room')
    p.set_defaults(func=cmd_host_add)
    p = host.add_parser('update', help='change an inventory entry')
    _add_host_fields(p)
    p.add_argument('--maintenance', choices=('on', 'off'))
    p.add_argument('--reserved', choices=('on', 'off'),
                   help='on: a free spare again (disable it in Nova '
                        'yourself); off: an ordinary host')
    p.set_defaults(func=cmd_host_update)
    host.add_parser('list').set_defaults(func=cmd_host_list)
    for name, func, text in (
            ('show', cmd_host_show, 'show one inventory entry'),
            ('delete', cmd_host_delete, 'remove a host from the inventory'),
            ('recover', cmd_host_recover, 'after repair: unset force-down, '
             'enable the service, mark the host healthy (refused while it '
             'still fails)')):
        p = host.add_parser(name, help=text)
        p.add_argument('name')
        p.set_defaults(func=func)

    p = sub.add_parser('evacuate', help='recover a failed host now')
    p.add_argument('host')
    p.add_argument('--level', type=_level)
    p.add_argument('--dry-run', action='store_true',
                   help='show what would be done; change nothing')
    p.set_defaults(func=cmd_evacuate)

    rec = sub.add_parser('recovery').add_subparsers(dest='action',
                                                    required=True)
    p = rec.add_parser('list')
    p.add_argument('--host')
    p.add_argument('--limit', type=_positive, default=50)
    p.set_defaults(func=cmd_recovery_list)
    p = rec.add_parser('show')
    p.add_argument('id')
    p.add_argument('--events', action='store_true',
                   help='also print the event log')
    p.set_defaults(func=cmd_recovery_show)
    p = rec.add_parser('resume', help='finish recoveries a crash left '
                       '(refused while a live process runs one; a dead '
                       'process\'s recovery once its lease expired, '
                       '[jobboard] claim_timeout after its last renewal)')
    p.add_argument('id', nargs='?')
    p.set_defaults(func=cmd_recovery_resume)
    p = rec.add_parser('retry', help='evacuate again the instances waiting '
                       'for capacity (all recoveries, or one)')
    p.add_argument('id', nargs='?')
    p.add_argument('--host', help='only the recoveries of this failed host')
    p.set_defaults(func=cmd_recovery_retry)
    return parser


def load_config(args, conf=None):
    conf = conf or cfg.CONF
    vmha_conf.register_opts(conf)
    logging.register_options(conf)
    argv = []
    for path in args.config_file:
        argv += ['--config-file', path]
    for path in args.config_dir:
        argv += ['--config-dir', path]
    conf(argv, project='vmha')
    logging.setup(conf, 'vmha')
    return conf


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        conf = load_config(args)
        return args.func(args, conf) or 0
    except (exception.VmhaError, cfg.Error) as err:
        print('vmha-manage: error: %s' % err, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
