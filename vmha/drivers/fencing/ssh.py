"""The ``ssh`` fencing driver: "soft" fencing of hosts without a BMC.

It logs in to the compute host with paramiko (key authentication only,
strict host key checking by default) and runs shell commands:

* power off: ``stop_command`` (default: SIGKILL nova-compute, stop its unit,
  kill every guest process). It must exit 0, else the host is not fenced;
* power state: ``check_command`` (default: ``pgrep -f`` for a guest process,
  ``[ssh_fencing] guest_process_pattern``: QEMU/KVM): exit 0 is ``on``,
  126/127 (not runnable) or no exit status is ``unknown``, any other status
  ``off``. A host that cannot be reached is neither: BMCUnreachable is
  raised, because an unreachable host is not a confirmed-off host.
* power on: ``start_command`` if configured, else FencingUnsupported.

So "fenced" means: the stop command exited 0 and the check command then
reads ``off``, i.e. no guest runs (the shared confirm loop of vmha.fencing
does the reading, and always runs the stop command first). The check looks
at the guests, not at nova-compute, because what must not run twice is a
guest: a host whose nova-compute crashed still runs its guests. This
protects against a host whose nova-compute lost its connection to the
control plane but that still answers SSH; a crashed or isolated host cannot
be fenced this way, and is then not evacuated.

Host fields: ``bmc_address`` (the host's management address), ``bmc_port``
(default 22), ``bmc_username`` (default ``[ssh_fencing] username``);
``bmc_password`` is not used. ``bmc_options``: ``key_file``,
``known_hosts_file``, ``stop_command``, ``check_command``,
``start_command`` (override the ``[ssh_fencing]`` options of the same name;
``key_file`` overrides ``private_key_file``).
"""

import os
import socket

from oslo_log import log as logging
import paramiko

from vmha.drivers.fencing import base
from vmha.drivers.fencing import common
from vmha import exception

LOG = logging.getLogger(__name__)

DEFAULT_PORT = 22
# exit statuses that say the check could not run, not that the host is off
UNKNOWN_STATUSES = (-1, 126, 127)
# paramiko's words for a peer that does not speak SSH (in time)
_LOST_WORDS = ('banner', 'timeout', 'timed out', 'no existing session',
               'eof', 'connection reset', 'closed')


class HostKeyUnknown(exception.FencingError):
    msg_fmt = ('Host %(host)s (%(bmc)s): its SSH host key is not in '
               '%(known_hosts)s and strict host key checking refuses it')


class HostKeyMismatch(exception.FencingError):
    msg_fmt = ('Host %(host)s (%(bmc)s): its SSH host key does NOT match '
               'the one in %(known_hosts)s (reinstalled host, or someone '
               'impersonating it?)')


def load_private_key(path):
    """paramiko's key from ``path``; ValueError says what is wrong with it.

    An encrypted key is refused: vmha cannot type a passphrase during a
    failure (paramiko raises TypeError for encrypted OpenSSH-format keys,
    PasswordRequiredException for PEM ones).
    """
    if not os.access(path, os.R_OK):
        raise ValueError('%r is not a readable file' % (path,))
    try:
        return paramiko.PKey.from_path(path)
    except (paramiko.PasswordRequiredException, TypeError):
        raise ValueError('%r is encrypted: use a key without passphrase'
                         % (path,))
    except (paramiko.SSHException, ValueError, OSError) as err:
        raise ValueError('%r is not a usable private key: %s' % (path, err))


class _LogUnknownKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Accept an unknown host key for this connection only, and say so."""

    def missing_host_key(self, client, hostname, key):
        LOG.warning('ssh fencing: accepting UNKNOWN %s host key %s of %s '
                    '([ssh_fencing] strict_host_key_checking is off)',
                    key.get_name(), key.fingerprint, hostname)


class SSHFencingDriver(base.FencingDriver):
    """Stops nova-compute and kills the guests of a host over SSH."""

    properties = {
        'bmc_address': base.Required('management address of the host'),
        'bmc_port': 'SSH port (default %d)' % DEFAULT_PORT,
        'bmc_username': 'SSH user (default [ssh_fencing] username)',
        'key_file': 'private key (default [ssh_fencing] private_key_file)',
        'known_hosts_file': 'known hosts (default [ssh_fencing] '
                            'known_hosts_file)',
        'stop_command': 'overrides [ssh_fencing] stop_command',
        'check_command': 'overrides [ssh_fencing] check_command',
        'start_command': 'overrides [ssh_fencing] start_command',
    }

    # -- settings -----------------------------------------------------------

    def _opt(self, host, name, conf_name=None):
        value = (host.bmc_options or {}).get(name)
        if value not in (None, ''):
            return value
        return getattr(self.conf.ssh_fencing, conf_name or name)

    def _key_file(self, host):
        path = self._opt(host, 'key_file', 'private_key_file')
        return os.path.expanduser(path) if path else None

    def _known_hosts(self, host):
        path = self._opt(host, 'known_hosts_file')
        return os.path.expanduser(path) if path else None

    def _username(self, host):
        return host.bmc_username or self.conf.ssh_fencing.username

    # -- validation ---------------------------------------------------------

    def _source(self, host, name, conf_name=None):
        """Where a setting comes from, as messages name it."""
        if (host.bmc_options or {}).get(name) not in (None, ''):
            return "bmc_options['%s']" % name
        return '[ssh_fencing] %s' % (conf_name or name)

    def validate(self, host):
        super().validate(host)
        key_file = self._key_file(host)
        if not key_file:
            raise common.invalid(
                host, self.name, "bmc_options['key_file']",
                'is not set, nor is [ssh_fencing] private_key_file: the ssh '
                'driver needs a private key')
        self._load_key(host, key_file,
                       self._source(host, 'key_file', 'private_key_file'))
        known_hosts = self._known_hosts(host)
        if self.conf.ssh_fencing.strict_host_key_checking and not (
                known_hosts and os.access(known_hosts, os.R_OK)):
            raise common.invalid(
                host, self.name, self._source(host, 'known_hosts_file'),
                '%r is not a readable file (strict host key checking '
                'needs the host\'s key there)' % (known_hosts,))
        for name in ('stop_command', 'check_command'):
            if not str(self._opt(host, name) or '').strip():
                raise common.invalid(host, self.name,
                                     self._source(host, name), 'is empty')

    def _load_key(self, host, path, field):
        try:
            return load_private_key(path)
        except ValueError as err:
            raise common.invalid(host, self.name, field, str(err))

    # -- SSH ----------------------------------------------------------------

    def _connect(self, host):
        opts = self.conf.ssh_fencing
        key_file = self._key_file(host)
        if not key_file:
            raise exception.FencingError(
                host=host.name, bmc=host.bmc_label,
                reason='no private key configured ([ssh_fencing] '
                       'private_key_file or bmc_options key_file)')
        try:
            key = load_private_key(key_file)
        except ValueError as err:
            raise exception.FencingError(
                host=host.name, bmc=host.bmc_label,
                reason='private key: %s' % err)
        known_hosts = self._known_hosts(host)
        client = paramiko.SSHClient()
        if known_hosts and os.path.exists(known_hosts):
            client.load_host_keys(known_hosts)
        if opts.strict_host_key_checking:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(_LogUnknownKeyPolicy())
        port = host.bmc_port or DEFAULT_PORT
        try:
            client.connect(
                host.bmc_address, port=port, username=self._username(host),
                pkey=key, look_for_keys=False, allow_agent=False,
                timeout=opts.connect_timeout,
                banner_timeout=opts.connect_timeout,
                auth_timeout=opts.connect_timeout,
                channel_timeout=opts.connect_timeout)
        except Exception as err:
            client.close()
            raise self._translate(host, err, known_hosts)
        return client

    def _translate(self, host, err, known_hosts):
        kwargs = dict(host=host.name, bmc=host.bmc_label)
        if isinstance(err, paramiko.BadHostKeyException):
            return HostKeyMismatch(known_hosts=known_hosts, **kwargs)
        if isinstance(err, paramiko.AuthenticationException):
            return exception.BMCAuthError(
                reason='SSH key authentication as %s failed: %s'
                       % (self._username(host), err), **kwargs)
        if isinstance(err, (socket.timeout, TimeoutError)):
            return exception.BMCTimeout(
                operation='SSH connect',
                timeout=self.conf.ssh_fencing.connect_timeout, **kwargs)
        if isinstance(err, (OSError, EOFError)):
            # NoValidConnectionsError (refused), unreachable, resolution
            return exception.BMCUnreachable(
                reason='SSH connect: %s' % err, **kwargs)
        if isinstance(err, paramiko.SSHException):
            text = str(err)
            if 'not found in known_hosts' in text:
                return HostKeyUnknown(known_hosts=known_hosts, **kwargs)
            if any(word in text.lower() for word in _LOST_WORDS):
                return exception.BMCUnreachable(
                    reason='SSH connect: %s' % text, **kwargs)
            return exception.FencingError(reason='SSH: %s' % text,
                                          **kwargs)
        return exception.FencingError(
            reason='SSH: %s: %s' % (type(err).__name__, err), **kwargs)

    def _run(self, host, command, operation):
        """Run ``command``; return (exit status, stdout, stderr)."""
        timeout = self.conf.ssh_fencing.command_timeout
        client = self._connect(host)
        try:
            try:
                _stdin, stdout, stderr = client.exec_command(
                    command, timeout=timeout)
                channel = stdout.channel
                channel.shutdown_write()
                if not channel.status_event.wait(timeout):
                    raise exception.BMCTimeout(
                        host=host.name, bmc=host.bmc_label,
                        operation=operation, timeout=timeout)
                status = channel.recv_exit_status()
                out = stdout.read().decode('utf-8', 'replace')
                err = stderr.read().decode('utf-8', 'replace')
            except exception.VmhaError:
                raise
            except Exception as err:
                raise self._translate(host, err, self._known_hosts(host))
        finally:
            client.close()
        LOG.debug('ssh fencing %s on host %s: exit %s', operation,
                  host.name, status)
        return status, out, err

    # -- FencingDriver ------------------------------------------------------

    def get_power_state(self, host):
        status, _out, err = self._run(host, self._opt(host, 'check_command'),
                                      'check command')
        if status == 0:
            return base.POWER_ON
        if status in UNKNOWN_STATUSES:
            LOG.warning('ssh fencing: the check command on host %s could not '
                        'run (exit %s): %s', host.name, status,
                        common.short(err))
            return base.POWER_UNKNOWN
        return base.POWER_OFF

    def power_off(self, host):
        status, out, err = self._run(host, self._opt(host, 'stop_command'),
                                     'stop command')
        if status != 0:
            raise exception.FencingError(
                host=host.name, bmc=host.bmc_label,
                reason='the stop command exited %s: %s' % (
                    status, common.short(err or out) or '(no output)'))

    def power_on(self, host):
        command = self._opt(host, 'start_command')
        if not command:
            raise exception.FencingUnsupported(
                driver=self.name, operation='power on', host=host.name,
                bmc=host.bmc_label,
                reason='no start_command configured ([ssh_fencing] '
                       'start_command or bmc_options start_command)')
        status, out, err = self._run(host, command, 'start command')
        if status != 0:
            raise exception.FencingError(
                host=host.name, bmc=host.bmc_label,
                reason='the start command exited %s: %s' % (
                    status, common.short(err or out) or '(no output)'))
