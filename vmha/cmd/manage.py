"""vmha-manage: the operator's command line, on cliff.

cliff (the framework under the ``openstack`` client and Masakari's CLI)
gives every command ``-f table|json|yaml|value|csv``, ``-c COLUMN`` on
listings and single records, ``--version``, ``--debug`` (tracebacks) and
bash completion (``vmha-manage complete``). The commands are entry points
in the ``vmha.manage`` namespace (``host_add`` is ``host add``), so that
documentation can be generated from them (cliff's Sphinx extension).

Thin: parse arguments, load and check the configuration
(vmha/cmd/startup.py), call the library, print. Every expected error is one
line on stderr and exit 1 (the traceback with ``--debug``); nothing is
stored when input is invalid. Results go to stdout, logs to stderr only.
"""

import argparse
import json
import os
import sys
import traceback

from cliff import app as cliff_app
from cliff import command as cliff_command
from cliff import commandmanager
from cliff import complete as cliff_complete
from cliff import lister
from cliff import show
from oslo_config import cfg
from oslo_log import log as logging

from vmha import capacity
from vmha.cmd import startup
from vmha import conf as vmha_conf
from vmha import credentials
from vmha.db import api as db_api
from vmha.db import migration
from vmha.drivers.fencing import base as fencing_base
from vmha.drivers import loader
from vmha import exception
from vmha import fencing
from vmha import inventory
from vmha import levels
from vmha import recovery
from vmha import reinstate
from vmha import states

LOG = logging.getLogger(__name__)
PROG = 'vmha-manage'
NAMESPACE = 'vmha.manage'


# -- output -------------------------------------------------------------------

def _jsonable(data):
    """``data`` with datetimes and other objects as strings, as JSON has."""
    return json.loads(json.dumps(data, default=str))


def _cell(value):
    if value is None:
        return '-'
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _plain_table(out, rows, columns):
    """The aligned table of a composite report's section."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells])
              for i, c in enumerate(columns)]
    out.write('  '.join(c.ljust(w) for c, w in zip(columns, widths))
              .rstrip() + '\n')
    out.write('  '.join('-' * w for w in widths) + '\n')
    for row in cells:
        out.write('  '.join(v.ljust(w) for v, w in zip(row, widths))
                  .rstrip() + '\n')


def _plain_fields(out, data):
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        out.write('%-*s  %s\n' % (width, key, _cell(value)))


def _write_report(out, report):
    """A recovery as people read it: fields, timeline, evacuations."""
    _plain_fields(out, {'recovery': report.id, 'host': report.host,
                        'level': report.level, 'state': report.state,
                        'fence_proof': report.fence_proof or '-',
                        'error': report.error})
    out.write('\ntimeline:\n')
    start = report.phases.get('detected_at')
    for phase in states.PHASES:
        when = report.phases.get(phase)
        if when:
            offset = (when - start).total_seconds() if start else 0.0
            out.write('  %-20s %s  (+%.2fs)\n' % (phase, when.isoformat(),
                                                 offset))
    out.write('\n')
    _plain_table(out, report.evacuations,
                 ['instance_id', 'name', 'status', 'original_vm_state',
                  'target_host', 'evacuate_calls', 'reason'])


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
    spec = base or inventory.HostSpec(
        name=inventory.check_host_name(args.name))
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


def _fencing_help():
    """``--fencing``'s help: every installed fencing driver and the fields
    it uses, from the drivers' own ``properties`` (one line each, kept as
    lines by cliff's help formatter)."""
    paragraphs = ['fencing driver (default: [fencing] default_driver). '
                  'The installed drivers and what they use:']
    for name, driver in sorted(loader.classes(
            loader.FENCING_NAMESPACE).items()):
        properties = getattr(driver, 'get_properties', dict)()
        required = getattr(driver, 'required_properties', tuple)()
        fields = ['%s%s: %s' % (_option(fencing_base.field_label(prop)),
                                ' (required)' if prop in required else '',
                                text.rstrip('.'))
                  for prop, text in properties.items()]
        paragraphs.append('%s: %s.' % (name, '; '.join(fields) or 'nothing'))
    # one paragraph per driver, no indentation: read as lines in a
    # terminal and as paragraphs by the CLI reference (reStructuredText)
    return '\n\n'.join(paragraphs)


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
    if level not in levels.NUMBERS:
        numbers = [str(n) for n in levels.NUMBERS]
        raise argparse.ArgumentTypeError('level must be %s or %s' % (
            ', '.join(numbers[:-1]), numbers[-1]))
    return level


#: the --level help: every level by number and name (vmha.levels)
_LEVEL_HELP = 'quick_evacuate_level: %s' % ', '.join(
    '%d (%s)' % (lvl.number, lvl.name) for lvl in levels.LEVELS.values())


def _add_host_fields(parser):
    parser.add_argument('name', help='host name as Nova knows it')
    parser.add_argument('--fencing', metavar='DRIVER', help=_fencing_help())
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
                        help=_LEVEL_HELP + ' for this host')
    parser.add_argument('--watchdog-required', choices=('on', 'off'),
                        help='its vmha-agent must arm a watchdog: the '
                             'monitor notifies vmha.agent.watchdog.missing '
                             'when it heartbeats unarmed (doc/watchdog.md); '
                             'with --fencing watchdog (no BMC) its watchdog '
                             'is its only fencing')


# -- command bases ------------------------------------------------------------

class _VmhaCommand:
    """What every vmha-manage command shares.

    ``database``: the command uses the database (its URL and driver are
    checked); ``schema``: its schema must be current (else "run vmha-manage
    db sync"). The configuration is loaded and checked when the command
    runs, after its arguments were parsed (``--help`` needs none).
    """

    database = True
    schema = True
    #: exit code of the last run (2: a recovery did not complete)
    exit_code = 0

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.error = _usage_error(parser)
        return parser

    def run(self, parsed_args):
        try:
            self.conf = self.app.load_config(self)
            code = super().run(parsed_args)
        except startup.EXPECTED as err:
            return startup.report(PROG, err, self.app.options.debug,
                                  self.app.stderr)
        except Exception as err:
            # a bug: logged with its traceback, and said on stderr too
            # (cliff would log it only, maybe into the log file alone)
            LOG.exception('%s failed', PROG)
            if self.app.options.debug:
                traceback.print_exception(err, file=self.app.stderr)
            self.app.stderr.write(
                '%s: error: unexpected %s: %s (--debug shows the '
                'traceback)\n' % (PROG, type(err).__name__, err))
            return 1
        return self.exit_code or code or 0

    @property
    def out(self):
        return self.app.stdout

    def db(self):
        """This run's database (:meth:`VmhaManage.database`)."""
        return self.app.database()

    def recoverer(self):
        """This run's Recoverer (:meth:`VmhaManage.recoverer`)."""
        return self.app.recoverer()


def _usage_error(parser):
    """Usage errors as one line, like every other error, exit code 2."""
    def error(message):
        parser.exit(2, '%s: error: %s (see %s --help)\n'
                    % (PROG, message, parser.prog))
    return error


class Command(_VmhaCommand, cliff_command.Command):
    """A command whose output is a line of text."""


class ShowCommand(_VmhaCommand, show.ShowOne):
    """One record. ``human(parsed_args)`` may print the table form of a
    composite report (timeline, evacuations) instead of field/value rows.
    """

    human = None

    def record(self, data):
        data = _jsonable(data)
        columns = sorted(data)
        return columns, [data[c] for c in columns]

    def produce_output(self, parsed_args, column_names, data):
        if parsed_args.formatter == 'table' and self.human is not None \
                and not parsed_args.columns:
            self.human(parsed_args)
            return 0
        return super().produce_output(parsed_args, column_names, data)


class ListCommand(_VmhaCommand, lister.Lister):
    """Rows. ``human`` as in ShowCommand."""

    human = None

    def rows(self, rows, columns=None):
        rows = [_jsonable(row) for row in rows]
        columns = columns or (sorted(rows[0]) if rows else [])
        return columns, [[row.get(c) for c in columns] for row in rows]

    def produce_output(self, parsed_args, column_names, data):
        if parsed_args.formatter == 'table' and self.human is not None \
                and not parsed_args.columns:
            self.human(parsed_args)
            return 0
        return super().produce_output(parsed_args, column_names, data)


# -- db -----------------------------------------------------------------------

class DbSync(ShowCommand):
    """Create or upgrade the database schema (vmha's and taskflow's).

    Creates ``[DEFAULT] state_path`` (mode 0700) if missing; SQLite files
    are made owner-only. Credentials an older schema stored in clear are
    encrypted with ``[inventory] credential_key_file``.
    """

    schema = False

    def take_action(self, parsed_args):
        conf = self.conf
        migration.ensure_state_path(conf.state_path)
        url = conf.database.connection
        migration.upgrade(url, keyring=credentials.Keyring.from_conf(conf))
        self._revision = migration.current_revision(url)
        return self.record({'revision': self._revision})

    def human(self, parsed_args):
        self.out.write('database schema at revision %s\n' % self._revision)


# -- credentials --------------------------------------------------------------

class CredentialsGenerateKey(Command):
    """Create a Fernet key for [inventory] credential_key_file.

    Prints the key, or writes it to a new owner-only file (``--output``),
    or puts it first in the configured key file, keeping the old keys
    (``--prepend``: the first step of a rotation).
    """

    database = schema = False

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        where = parser.add_mutually_exclusive_group()
        where.add_argument('--output', metavar='PATH',
                           help='write the key to PATH (mode 0600; refused '
                                'if PATH exists)')
        where.add_argument('--prepend', action='store_true',
                           help='add the key first in [inventory] '
                                'credential_key_file, keeping the others')
        return parser

    def take_action(self, parsed_args):
        key = credentials.generate_key()
        if parsed_args.output:
            path = parsed_args.output
            if os.path.lexists(path):
                raise exception.InvalidInput(
                    reason='--output %s exists; not overwriting a key' % path)
            credentials.write_key_file(path, [key])
            self.out.write('key written to %s\n' % path)
        elif parsed_args.prepend:
            path = self.conf.inventory.credential_key_file
            if not path:
                raise credentials.CredentialKeyError(
                    reason='--prepend: %s is not set' % credentials.OPTION)
            keys = credentials.read_keys(path)
            credentials.write_key_file(path, [key] + keys)
            self.out.write('new key first in %s (%d older key(s) kept); copy '
                           'it to every host running vmha, then run '
                           '"vmha-manage credentials rotate"\n'
                           % (path, len(keys)))
        else:
            self.out.write(key + '\n')


class CredentialsRotate(ShowCommand):
    """Re-encrypt every stored credential with the first key of
    [inventory] credential_key_file, in one transaction."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--remove-old-keys', action='store_true',
                            help='then keep only the first key in the key '
                                 'file (on this host; do the same on the '
                                 'others)')
        return parser

    def take_action(self, parsed_args):
        keyring = credentials.Keyring.from_conf(self.conf)
        hosts, values = self.db().rotate_credentials(keyring)
        kept = len(keyring.keys) if keyring else 0
        if parsed_args.remove_old_keys and keyring and kept > 1:
            credentials.write_key_file(keyring.path, keyring.keys[:1])
            kept = 1
        return self.record({'hosts': hosts, 'credentials': values,
                            'keys_in_file': kept})


# -- host ---------------------------------------------------------------------

def _host_row(spec, state):
    row = spec.public_dict()
    row['state'] = state
    return row


class HostAdd(ShowCommand):
    """Add a host to the inventory."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_host_fields(parser)
        parser.add_argument('--reserved', action='store_true',
                            help='a spare compute, kept disabled in Nova, '
                                 'that vmha enables when a failure leaves '
                                 'no room')
        return parser

    def take_action(self, parsed_args):
        spec = _host_spec(parsed_args, self.conf)
        spec.reserved = parsed_args.reserved
        db = self.db()
        db.add_host(spec)
        return self.record(_host_row(spec, states.HOST_HEALTHY))


class HostUpdate(ShowCommand):
    """Change an inventory entry."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_host_fields(parser)
        parser.add_argument('--maintenance', choices=('on', 'off'))
        parser.add_argument('--reserved', choices=('on', 'off'),
                            help='on: a free spare again (disable it in Nova '
                                 'yourself); off: an ordinary host')
        return parser

    def take_action(self, parsed_args):
        db = self.db()
        spec = _host_spec(parsed_args, self.conf,
                          base=db.get_host(parsed_args.name))
        if parsed_args.maintenance is not None:
            spec.maintenance = parsed_args.maintenance == 'on'
        if parsed_args.reserved is not None:
            # on: (back) in the pool of free spares; off: an ordinary host
            spec.reserved = parsed_args.reserved == 'on'
            spec.reserved_for = None
        fields = {k: v for k, v in vars(spec).items() if k != 'name'}
        db.update_host(parsed_args.name, **fields)
        return self.record(_host_row(spec, db.host_state(parsed_args.name)))


HOST_COLUMNS = ['name', 'fencing_driver', 'bmc_address', 'bmc_port',
                'level', 'maintenance', 'reserved', 'reserved_for', 'state',
                'agent']


class HostList(ListCommand):
    """List the inventory (secrets masked)."""

    def take_action(self, parsed_args):
        db = self.db()
        agents = db.host_agents()
        rows = [dict(_host_row(spec, state),
                     agent=agents.get(spec.name) or '-')
                for spec, state in db.list_hosts()]
        return self.rows(rows, HOST_COLUMNS)


class _NamedHost:
    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('name', help='host name as Nova knows it')
        return parser


class HostShow(_NamedHost, ShowCommand):
    """Show one inventory entry (secrets masked)."""

    def take_action(self, parsed_args):
        db = self.db()
        return self.record(_host_row(db.get_host(parsed_args.name),
                                     db.host_state(parsed_args.name)))


class HostDelete(_NamedHost, ShowCommand):
    """Remove a host from the inventory."""

    def take_action(self, parsed_args):
        self.db().delete_host(parsed_args.name)
        self._name = parsed_args.name
        return self.record({'deleted': parsed_args.name})

    def human(self, parsed_args):
        self.out.write('host %s deleted\n' % self._name)


class HostReinstate(_NamedHost, ShowCommand):
    """After repair: unset force-down, enable the service, mark the host
    healthy (refused while it still fails)."""

    def take_action(self, parsed_args):
        recoverer = self.recoverer()
        report = reinstate.HostReinstatement(
            self.conf, recoverer.compute, recoverer.db,
            recoverer.dispatcher).run(parsed_args.name)
        # the host's room is back: evacuations waiting for capacity go
        retried = capacity.retry_waiting(
            recoverer, trigger=capacity.TRIGGER_HOST_RECOVERED)
        data = report.to_dict()
        data['retried_recoveries'] = [_retried(r) for r in retried]
        return self.record(data)


class HostRecover(HostReinstate):
    """Deprecated name of "host reinstate" (a failed host is recovered;
    a repaired one is reinstated)."""

    deprecated = True

    def take_action(self, parsed_args):
        self.app.stderr.write('%s: warning: "host recover" is deprecated, '
                              'use "host reinstate"\n' % PROG)
        return super().take_action(parsed_args)


def _retried(report):
    """``id: state (n waiting)`` of a recovery whose waiting evacuations
    were retried."""
    waiting = sum(1 for e in report.evacuations
                  if e['status'] == states.EVAC_WAITING)
    return '%s: %s (%d waiting)' % (report.id, report.state, waiting)


# -- evacuate and recovery ----------------------------------------------------

def _completed(reports):
    """0 if every recovery completed, else 2 (like evacuate)."""
    return 0 if all(r.state == states.COMPLETED for r in reports) else 2


class Evacuate(ShowCommand):
    """Recover a failed host now (or show what would be done)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host')
        parser.add_argument('--level', type=_level, help=_LEVEL_HELP)
        parser.add_argument('--dry-run', action='store_true',
                            help='show what would be done; change nothing')
        return parser

    def take_action(self, parsed_args):
        recoverer = self.recoverer()
        # an unknown host is bad input: refuse before recording anything
        recoverer.compute.get_service(parsed_args.host)
        if parsed_args.dry_run:
            self._report = recoverer.dry_run(parsed_args.host,
                                             parsed_args.level)
            self.human = self._dry_run_text
        else:
            self._report = recoverer.recover(parsed_args.host,
                                             parsed_args.level)
            self.exit_code = _completed([self._report])
            self.human = self._report_text
        return self.record(self._report.to_dict())

    def _report_text(self, parsed_args):
        _write_report(self.out, self._report)

    def _dry_run_text(self, parsed_args):
        report, out = self._report, self.out
        out.write('DRY RUN: nothing was changed.\n')
        _plain_fields(out, {k: v for k, v in report.to_dict().items()
                            if k not in ('instances', 'steps')})
        out.write('\nsteps:\n')
        for number, step in enumerate(report.steps, 1):
            out.write('  %d. %s\n' % (number, step))
        out.write('\n')
        _plain_table(out, report.instances,
                     ['id', 'name', 'vm_state', 'ha_enabled', 'action',
                      'reason'])


RECOVERY_COLUMNS = ['id', 'host', 'level', 'state', 'started_at',
                    'finished_at']


class RecoveryList(ListCommand):
    """List recoveries, newest first."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--host')
        parser.add_argument('--limit', type=_positive, default=50)
        return parser

    def take_action(self, parsed_args):
        rows = [{'id': r.id, 'host': r.host, 'level': r.level,
                 'state': r.state, 'started_at': r.started_at,
                 'finished_at': r.finished_at}
                for r in self.db().list_recoveries(host=parsed_args.host,
                                                   limit=parsed_args.limit)]
        return self.rows(rows, RECOVERY_COLUMNS)


def _event_row(event):
    return {'created_at': event.created_at.isoformat(),
            'priority': event.priority, 'event_type': event.event_type,
            'payload': event.payload}


class RecoveryShow(ShowCommand):
    """Show one recovery: phases, evacuations (and its events)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('id')
        parser.add_argument('--events', action='store_true',
                            help='also print the event log')
        return parser

    def take_action(self, parsed_args):
        db = self.db()
        self._report = recovery.RecoveryReport.load(db, parsed_args.id)
        self._events = ([_event_row(e) for e in
                         db.list_events(recovery_id=parsed_args.id)]
                        if parsed_args.events else None)
        data = self._report.to_dict()
        if self._events is not None:
            data['events'] = self._events
        return self.record(data)

    def human(self, parsed_args):
        _write_report(self.out, self._report)
        if self._events is not None:
            self.out.write('\nevents:\n')
            for row in self._events:
                self.out.write('  %s %-5s %-32s %s\n' % (
                    row['created_at'], row['priority'], row['event_type'],
                    _cell(row['payload'])))


class _Reports(ListCommand):
    """Several recovery reports: one row each; the table form prints each
    report as ``recovery show`` does."""

    empty = ''

    def reports(self, reports):
        self._reports = reports
        self.exit_code = _completed(reports)
        return self.rows([r.to_dict() for r in reports])

    def human(self, parsed_args):
        if not self._reports:
            self.out.write(self.empty + '\n')
        for report in self._reports:
            _write_report(self.out, report)


class RecoveryResume(_Reports):
    """Finish recoveries a crash left (refused while a live process runs
    one; a dead process's recovery once its lease expired, [jobboard]
    claim_timeout after its last renewal)."""

    empty = 'no unfinished recovery'

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('id', nargs='?')
        return parser

    def take_action(self, parsed_args):
        recoverer = self.recoverer()
        reports = ([recoverer.resume(parsed_args.id)] if parsed_args.id
                   else recoverer.resume_all(wait=False))
        # 2 unless every recovery completed (one left to the live process
        # that runs it is not)
        return self.reports(reports)


class RecoveryRetry(_Reports):
    """Evacuate again the instances waiting for capacity (all recoveries,
    or one)."""

    empty = 'no evacuation waiting for capacity'

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('id', nargs='?')
        parser.add_argument('--host',
                            help='only the recoveries of this failed host')
        return parser

    def take_action(self, parsed_args):
        recoverer = self.recoverer()
        if parsed_args.id:
            recoverer.db.get_recovery(parsed_args.id)   # NotFound
        reports = capacity.retry_waiting(recoverer, host=parsed_args.host,
                                         recovery_id=parsed_args.id)
        return self.reports(reports)


#: the commands, by entry point name in NAMESPACE (setup.cfg lists the
#: same; tests/unit/test_cli_app.py checks that they agree)
COMMANDS = {
    'db_sync': DbSync,
    'credentials_generate-key': CredentialsGenerateKey,
    'credentials_rotate': CredentialsRotate,
    'host_add': HostAdd,
    'host_update': HostUpdate,
    'host_list': HostList,
    'host_show': HostShow,
    'host_delete': HostDelete,
    'host_reinstate': HostReinstate,
    'host_recover': HostRecover,
    'evacuate': Evacuate,
    'recovery_list': RecoveryList,
    'recovery_show': RecoveryShow,
    'recovery_resume': RecoveryResume,
    'recovery_retry': RecoveryRetry,
}


# -- the application ----------------------------------------------------------

#: the part of bash-completion's helper that cliff's script calls, for a
#: shell without the bash-completion package
_BASH_SHIM = '''\
if ! type _get_comp_words_by_ref >/dev/null 2>&1; then
_get_comp_words_by_ref() {
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    words=("${COMP_WORDS[@]}")
}
fi
'''


class Complete(cliff_complete.CompleteCommand):
    """Print the bash completion script: ``source <(vmha-manage
    complete)``, or save it in /etc/bash_completion.d/vmha-manage."""

    def take_action(self, parsed_args):
        """cliff's, without the deprecated commands: they still run (and
        warn), but completion does not offer them."""
        if parsed_args.shell == 'bash':
            self.app.stdout.write(_BASH_SHIM)
        try:
            shell_factory = self._formatters[parsed_args.shell].plugin
        except KeyError:
            raise RuntimeError('Unknown shell syntax %r' % parsed_args.shell)
        shell = shell_factory(parsed_args.name or self.app.NAME,
                              self.app.stdout)
        words = cliff_complete.CompleteDictionary()
        for name, factory in self.app.command_manager:
            factory = factory.load() if hasattr(factory, 'load') else factory
            if getattr(factory, 'deprecated', False):
                continue
            command = name.split()
            words.add_command(command, self.get_actions(command))
        shell.write(words.get_commands(), words.get_data())
        return 0


class VmhaManage(cliff_app.App):
    """vmha-manage: inventory, manual recoveries, recovery records."""

    def __init__(self):
        manager = commandmanager.CommandManager(NAMESPACE)
        # also without a fresh install of the entry points (a checkout)
        for name, factory in COMMANDS.items():
            manager.add_command(name.replace('_', ' '), factory)
        super().__init__(
            description='Operate vmha: inventory, credentials, manual '
                        'recoveries, recovery records.',
            version=startup.version(), command_manager=manager,
            deferred_help=True)
        manager.add_command('complete', Complete)
        self.conf = None
        self._recoverer = None
        self._database = None

    def recoverer(self):
        """The Recoverer of this run (vmha.recovery.from_conf): built on
        first use, once, so that a manual recovery runs exactly like the
        monitor's (ownership lease, pacing, confirmation); closed by
        :meth:`clean_up`."""
        if self._recoverer is None:
            self._recoverer = recovery.from_conf(self.conf)
        return self._recoverer

    def database(self):
        """The database of this run: the Recoverer's when one was built,
        else one Database for the commands that only read or write
        records (the inventory, the recovery records); disposed by
        :meth:`clean_up`."""
        if self._recoverer is not None:
            return self._recoverer.db
        if self._database is None:
            self._database = db_api.Database.from_conf(self.conf)
        return self._database

    def clean_up(self, cmd, result, err):
        """Close what the command used (vmha-manage runs one command)."""
        recoverer, database = self._recoverer, self._database
        self._recoverer = self._database = None
        if recoverer is not None:
            recoverer.close()
        if database is not None:
            database.dispose()
        return super().clean_up(cmd, result, err)

    def build_option_parser(self, description, version,
                            argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument('--config-file', action='append', default=[],
                            metavar='PATH',
                            help='configuration file (repeatable; default: '
                                 '/etc/vmha/vmha.conf)')
        parser.add_argument('--config-dir', action='append', default=[],
                            metavar='DIR',
                            help='directory of *.conf files (repeatable)')
        return parser

    def configure_logging(self):
        """Nothing yet: oslo.log is set up once the configuration is
        loaded (load_config), on stderr or the configured log file."""

    def interact(self):
        """No interactive shell: a command is required."""
        self.stderr.write('%s: error: a command is required (see %s '
                          '--help)\n' % (PROG, PROG))
        raise SystemExit(2)

    def run_subcommand(self, argv):
        """An unknown command is a usage error: one line, exit code 2."""
        try:
            self.command_manager.find_command(argv)
        except ValueError:
            names = sorted(name for name, _ in self.command_manager)
            under = [n for n in names if n.split()[0] == argv[0]]
            if under:
                message = 'a subcommand is required after %r: %s' % (
                    argv[0], ', '.join(under))
            else:
                message = 'invalid choice: %r (commands: %s)' % (
                    ' '.join(argv[:2]), ', '.join(
                        n for n in names if n not in ('help', 'complete')))
            self.stderr.write('%s: error: %s (see %s --help)\n'
                              % (PROG, message, PROG))
            raise SystemExit(2)
        return super().run_subcommand(argv)

    def load_config(self, command):
        """Load and check the configuration for ``command``."""
        if self.conf is None:
            self.conf = load_config(self.options)
        if self.options.debug:
            self.conf.set_override('debug', True)
        startup.check(PROG, self.conf, database=command.database,
                      schema=command.schema, stderr=self.stderr)
        logging.setup(self.conf, 'vmha')
        startup.logs_to_stderr()
        return self.conf


def load_config(options, conf=None):
    """``conf`` (default cfg.CONF) loaded from the files ``options``
    name."""
    conf = conf or cfg.CONF
    vmha_conf.register_opts(conf)
    logging.register_options(conf)
    argv = []
    for path in options.config_file:
        argv += ['--config-file', path]
    for path in options.config_dir:
        argv += ['--config-dir', path]
    conf(argv, project='vmha', prog=PROG)
    if getattr(options, 'log_file', None):
        conf.set_override('log_file', options.log_file)
    return conf


_FORMAT_OPTIONS = ('-f', '--format')
_VALUE_OPTIONS = ('--config-file', '--config-dir', '--log-file')


def _format_after_command(argv):
    """Move ``-f FORMAT`` given before the command (as vmha-manage used to
    take it) after it, where cliff reads it."""
    argv, moved, head = list(argv), [], []
    while argv and argv[0].startswith('-'):
        arg = argv.pop(0)
        if arg in _FORMAT_OPTIONS and argv:
            moved += [arg, argv.pop(0)]
        elif arg.startswith('--format='):
            moved.append(arg)
        else:
            head.append(arg)
            if arg in _VALUE_OPTIONS and argv:
                head.append(argv.pop(0))
    return head + argv + moved


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    return VmhaManage().run(_format_after_command(argv))


if __name__ == '__main__':
    sys.exit(main())
