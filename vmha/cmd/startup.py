"""What every console script does before its work: load the whole
configuration, check it, and turn expected errors into one line each.

* :func:`config_problems`: every option read once (oslo.config checks types,
  choices and bounds only when a value is read, so a bad value used to
  surface in the middle of a recovery), the driver names against their
  entry point namespaces, the database URL and its driver. One line per
  problem, naming ``[group] option`` and the bad value (a secret option's
  value is never printed).
* :func:`unknown_options`: options and groups in the files that vmha does
  not know (a misspelling is otherwise silently ignored): warnings.
* :func:`schema_problem`: the database is reachable and its schema is the
  one this code needs (else: run ``vmha-manage db sync``);
  :func:`credentials_problem`: the key file decrypts every stored
  credential (a wrong or missing key is found at start, not when a failed
  host is being fenced).
* :func:`report`: an expected error (:data:`EXPECTED`) as
  ``prog: error: ...`` lines and exit code 1; the traceback only with
  ``--debug``.
"""

import os
import re
import sys
import traceback

from alembic.util import exc as alembic_exc
from oslo_config import cfg
from oslo_config import types
import pbr.version
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from vmha.drivers import loader
from vmha import exception
from vmha import inventory

#: (group, option, entry point namespace) of the options naming drivers;
#: an option that is not registered (a feature not installed) is skipped
DRIVER_OPTIONS = (
    ('fencing', 'default_driver', 'vmha.fencing'),
    ('notification', 'drivers', 'vmha.notification'),
    ('monitor', 'detection_sources', 'vmha.detection'),
    ('watchdog', 'driver', 'vmha.watchdog'),
    ('watchdog', 'drivers', 'vmha.watchdog'),
)

#: (backend, driver): the extra of setup.cfg that installs that driver
DB_EXTRAS = {('postgresql', 'psycopg2'): 'postgresql',
             ('mysql', 'pymysql'): 'mysql',
             ('mariadb', 'pymysql'): 'mysql'}

#: groups other libraries register when vmha uses them (warned about never)
FOREIGN_GROUP_PREFIXES = ('oslo_messaging', 'oslo_concurrency')


def version():
    return pbr.version.VersionInfo('vmha').version_string()


class StartupError(Exception):
    """Problems found before any work: one line each."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__('; '.join(self.problems))


# -- configuration values -----------------------------------------------------

def _groups(conf):
    yield None
    for name in sorted(conf._groups):   # noqa: SLF001 (no public iterator)
        yield name


def _opts(conf, group):
    registry = conf._groups[group]._opts if group else conf._opts
    for name in sorted(registry):
        yield registry[name]['opt']


def _label(group, opt):
    return '[%s] %s' % (group or 'DEFAULT', opt.dest)


def _raw(conf, group, opt):
    """The value as written in the files, masked if secret."""
    if opt.secret:
        return '***'
    try:
        values, _ = conf._namespace._get_file_value(   # noqa: SLF001
            [(group or 'DEFAULT', opt.dest)])
        return values[-1]
    except Exception:
        return '?'


def _why(opt, err, raw):
    """A short reason: oslo.config's text minus its location dump."""
    if opt.secret:      # the parser's text would quote the value
        return 'not a valid %s' % type(opt.type).__name__.lower()
    if isinstance(opt.type, types.HostDomain) and isinstance(raw, str):
        return inventory.host_name_problem(raw) or str(err)
    choices = getattr(opt.type, 'choices', None)
    if choices:
        return 'must be one of %s' % ', '.join(str(c) for c in choices)
    text = str(err)
    marker = 'is not valid: '
    if marker in text:
        text = text[text.index(marker) + len(marker):]
    for words, better in _BOUNDS:
        text = text.replace(words, better)
    return text


_BOUNDS = (('Should be greater than or equal to', 'must be at least'),
           ('Should be less than or equal to', 'must be at most'))


def value_problems(conf):
    """Read every option once; a line for each value oslo.config refuses."""
    problems = []
    for group in _groups(conf):
        for opt in _opts(conf, group):
            try:
                getattr(conf[group] if group else conf, opt.dest)
            except (cfg.Error, ValueError) as err:
                raw = _raw(conf, group, opt)
                problems.append('%s = %r: %s' % (
                    _label(group, opt), raw, _why(opt, err, raw)))
    return problems


def _has(conf, group, name):
    try:
        return name in conf[group]
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, KeyError):
        return False


def driver_problems(conf):
    problems = []
    for group, name, namespace in DRIVER_OPTIONS:
        if not _has(conf, group, name):
            continue
        try:
            value = getattr(conf[group], name)
        except (cfg.Error, ValueError):
            continue                  # already reported by value_problems
        names = value if isinstance(value, list) else [value]
        available = loader.installed(namespace)
        for driver in names:
            if driver and driver not in available:
                problems.append(
                    '[%s] %s = %r: no such driver in %s (installed: %s)' % (
                        group, name, driver, namespace,
                        ', '.join(available) or 'none'))
    return problems


# -- the database URL ---------------------------------------------------------

def mask_url(url):
    """``url`` with its password masked, for messages."""
    return re.sub(r'(//[^:/@]*):[^@/]*@', r'\1:***@', str(url))


def database_problem(url):
    """One line if ``url`` is malformed, of an unknown backend, or its
    driver is not installed (naming the extra that installs it)."""
    label = '[database] connection = %r' % mask_url(url)
    try:
        parts = sa.engine.make_url(url)
    except sa_exc.ArgumentError:
        return ('%s: not a database URL (e.g. sqlite:////var/lib/vmha/'
                'vmha.sqlite, postgresql+psycopg2://user:password@host/'
                'vmha, mysql+pymysql://user:password@host/vmha)' % label)
    try:
        dialect = parts.get_dialect()
    except sa_exc.NoSuchModuleError:
        return '%s: unknown database backend %r' % (label,
                                                     parts.drivername)
    try:
        dialect.import_dbapi()
    except ImportError as err:
        extra = DB_EXTRAS.get((parts.get_backend_name(),
                               parts.get_driver_name()))
        hint = ("install it with: pip install 'vmha[%s]'" % extra
                if extra else 'install it, or use postgresql+psycopg2:// '
                "(pip install 'vmha[postgresql]') or mysql+pymysql:// "
                "(pip install 'vmha[mysql]')")
        return '%s: its driver (%s) is not installed (%s); %s' % (
            label, parts.get_driver_name(), err.name or err, hint)
    return None


def schema_problem(conf):
    """None if the database answers with the schema this vmha needs;
    otherwise one line saying what to do."""
    from vmha.db import migration           # the DB stack only when used
    url = conf.database.connection
    try:
        current = migration.current_revision(url, conf.database.timeout)
    except (sa_exc.DBAPIError, sa_exc.SQLAlchemyError) as err:
        return 'cannot reach the database %s: %s' % (
            mask_url(url), _first_line(getattr(err, 'orig', err)))
    head = migration.head_revision()
    if current is None:
        return ('the database %s has no vmha schema: run "vmha-manage db '
                'sync"' % mask_url(url))
    if current != head:
        known = migration.known_revisions()
        if current not in known:
            return ('the database %s is at schema revision %s, newer than '
                    'this vmha knows (%s): upgrade vmha' % (
                        mask_url(url), current, head))
        return ('the database %s is at schema revision %s, this vmha needs '
                '%s: run "vmha-manage db sync"' % (mask_url(url), current,
                                                   head))
    return None


def credentials_problem(conf):
    """None if the key file is usable and decrypts every stored
    credential; otherwise one line (checked at start, not when a failed
    host is being fenced)."""
    from vmha import credentials
    from vmha.db import api as db_api
    try:
        keyring = credentials.Keyring.from_conf(conf)
        db = db_api.Database(conf.database.connection,
                             timeout=conf.database.timeout, keyring=keyring)
    except exception.VmhaError as err:
        return str(err)
    try:
        db.list_hosts()               # decrypts every secret of every host
    except credentials.CredentialKeyError as err:
        return str(err)
    finally:
        db.dispose()
    return None


def _first_line(err):
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def config_problems(conf, database=True):
    """Every problem of the loaded configuration, one line each."""
    problems = value_problems(conf) + driver_problems(conf)
    if database:
        try:
            problem = database_problem(conf.database.connection)
        except (cfg.Error, ValueError):
            problem = None
        if problem:
            problems.append(problem)
    return problems


# -- unknown options ----------------------------------------------------------

def config_files(conf):
    """The files ``conf`` was loaded from, in order."""
    files = list(conf.config_file or conf.default_config_files or ())
    for directory in (conf.config_dir or conf.default_config_dirs or ()):
        if os.path.isdir(directory):
            files += sorted(os.path.join(directory, name)
                            for name in os.listdir(directory)
                            if name.endswith('.conf'))
    return files


def _known(conf):
    """{group: option names} vmha (and the libraries it uses) know,
    deprecated names included."""
    known = {}
    for info, group in conf._all_opt_infos():        # noqa: SLF001
        opt, name = info['opt'], group.name if group else 'DEFAULT'
        known.setdefault(name, set()).update({opt.dest, opt.name})
        for old in opt.deprecated_opts or ():
            known.setdefault(old.group or name, set()).add(
                old.name or opt.name)
    known.setdefault('nova', set()).update(_auth_plugin_options(conf))
    try:
        from oslo_messaging import opts as messaging_opts
        for group, opts in messaging_opts.list_opts():
            known.setdefault(group or 'DEFAULT', set()).update(
                o.dest for o in opts)
    except ImportError:
        pass
    return known


def _auth_plugin_options(conf):
    """The [nova] options of the configured keystoneauth plugin (they are
    registered only when the plugin is loaded)."""
    from keystoneauth1 import loading as ks_loading
    try:
        plugin = conf.nova.auth_type or 'password'
        return {o.dest for o in
                ks_loading.get_auth_plugin_conf_options(plugin)}
    except Exception:
        return set()


def unknown_options(conf):
    """A line for each option or group of the files vmha does not know."""
    known = _known(conf)
    warnings = []
    for path in config_files(conf):
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except Exception:
            continue                  # oslo.config itself reported it
        for section, options in sections.items():
            if section.startswith(FOREIGN_GROUP_PREFIXES):
                continue
            if section not in known:
                warnings.append('%s: unknown group [%s]; its options are '
                                'ignored' % (path, section))
                continue
            for name in options:
                if name not in known[section]:
                    warnings.append('%s: unknown option [%s] %s; ignored'
                                    % (path, section, name))
    return warnings


# -- running a command --------------------------------------------------------

def check(prog, conf, database=True, schema=False, stderr=None):
    """Validate ``conf`` as a console script starts; print warnings.

    Raises StartupError with every problem (one line each).
    """
    stderr = stderr or sys.stderr
    for warning in unknown_options(conf):
        print('%s: warning: %s' % (prog, warning), file=stderr)
    problems = config_problems(conf, database=database)
    if not problems and schema:
        problem = schema_problem(conf) or credentials_problem(conf)
        if problem:
            problems.append(problem)
    if problems:
        raise StartupError(problems)


#: errors an operator can cause and fix: a line, no traceback
EXPECTED = (exception.VmhaError, cfg.Error, StartupError, sa_exc.DBAPIError,
            sa_exc.ArgumentError, sa_exc.NoSuchModuleError,
            alembic_exc.CommandError)


def error_lines(err):
    """The lines an expected error prints, without its traceback."""
    if isinstance(err, StartupError):
        return err.problems
    if isinstance(err, sa_exc.DBAPIError):
        return ['database error: %s' % _first_line(err.orig)]
    return [_first_line(err) if not isinstance(err, exception.VmhaError)
            else str(err)]


def report(prog, err, debug=False, stderr=None):
    """Print ``err`` as ``prog: error:`` lines (and its traceback if
    ``debug``); return the exit code, 1."""
    stderr = stderr or sys.stderr
    if debug:
        traceback.print_exception(err, file=stderr)
    for line in error_lines(err):
        print('%s: error: %s' % (prog, line), file=stderr)
    return 1


def debugging(conf, argv):
    """Whether ``--debug`` was asked for (even if loading failed)."""
    if '--debug' in argv or '-d' in argv:
        return True
    try:
        return bool(conf.debug)
    except Exception:
        return False


def logs_to_stderr():
    """Send the log handlers that write to stdout to stderr instead.

    oslo.log logs to stdout when neither a log file nor use_stderr is set:
    the log lines then corrupt a command's output (JSON of db sync,
    evacuate --dry-run). stdout is for results only.
    """
    import logging
    for handler in logging.getLogger().handlers:
        if getattr(handler, 'stream', None) is sys.stdout:
            handler.setStream(sys.stderr)


# -- bash completion of the oslo.config-parsed commands -----------------------

def bash_completion(prog, conf):
    """A bash completion script for ``prog``'s command-line options
    (oslo.config's own --shell_completion lacks its template)."""
    words = set()
    for opt, _group in conf._all_cli_opts():          # noqa: SLF001
        words.add('--%s' % opt.name)
        if isinstance(opt, cfg.BoolOpt):
            words.add('--no%s' % opt.name)
    words.update(('--help', '--version', '--config-file', '--config-dir'))
    function = '_' + re.sub(r'\W', '_', prog)
    return ('%(f)s() {\n'
            '    local cur="${COMP_WORDS[COMP_CWORD]}"\n'
            '    COMPREPLY=( $(compgen -W "%(w)s" -- "$cur") )\n'
            '}\n'
            'complete -o default -F %(f)s %(p)s\n'
            % {'f': function, 'w': ' '.join(sorted(words)), 'p': prog})


def parse_args(prog, conf, argv, stdout=None):
    """Load ``conf`` from ``argv`` as a long-running script does;
    ``--shell_completion`` prints the completion script and exits 0."""
    if '--shell_completion' in argv or any(
            a.startswith('--shell_completion=') for a in argv):
        print(bash_completion(prog, conf), end='', file=stdout or sys.stdout)
        raise SystemExit(0)
    conf(argv, project='vmha', prog=prog, version=version())
