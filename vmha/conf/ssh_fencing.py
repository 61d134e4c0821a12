"""[ssh_fencing]: the ssh ("soft") fencing driver (paramiko)."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'ssh_fencing',
    title='SSH fencing driver options',
    help='Options of the "ssh" fencing driver, for hosts without a BMC: it '
         'logs in to the host with a key and stops nova-compute and the '
         'instances. This is NOT power fencing: a host that does not answer '
         'SSH cannot be fenced this way (its recovery fails, no evacuation). '
         'A host\'s bmc_options may override key_file, known_hosts_file, '
         'stop_command, check_command and start_command. In the command '
         'options of this file, oslo.config replaces $name with option '
         'values: write $$ for a shell $ ($? is kept as is).')

DEFAULT_STOP = (
    "systemctl kill --signal=SIGKILL nova-compute; "
    "systemctl stop nova-compute && "
    "{ pkill -KILL 'qemu-system-|qemu-kvm'; [ $? -le 1 ]; }")
DEFAULT_CHECK = 'systemctl is-active --quiet nova-compute'

OPTS = [
    cfg.StrOpt(
        'private_key_file',
        help='Private key (unencrypted; RSA, ECDSA or Ed25519) to log in to '
             'the hosts. Only key authentication is used: no password, no '
             'agent, no ~/.ssh keys. A host\'s bmc_options key_file '
             'overrides it.'),
    cfg.StrOpt(
        'known_hosts_file',
        default='~/.ssh/known_hosts',
        help='OpenSSH known_hosts file with the hosts\' keys (for a port '
             'other than 22 the entries read "[address]:port"). A host\'s '
             'bmc_options known_hosts_file overrides it.'),
    cfg.BoolOpt(
        'strict_host_key_checking',
        default=True,
        help='Refuse hosts whose key is not in known_hosts_file. With '
             'False an unknown key is accepted (and logged), which lets '
             'anyone who can impersonate the host make vmha believe it is '
             'fenced. A key that differs from a known one is always '
             'refused.'),
    cfg.StrOpt(
        'username',
        default='root',
        help='Login name for hosts whose inventory entry has no '
             'bmc_username. The user must be allowed to run the commands '
             '(root, or prefix them with "sudo -n").'),
    cfg.FloatOpt(
        'connect_timeout',
        default=5.0,
        min=0.1,
        help='Seconds for the TCP connection, the SSH banner and the '
             'authentication, each.'),
    cfg.FloatOpt(
        'command_timeout',
        default=20.0,
        min=0.1,
        help='Seconds a remote command may run. Mind [fencing] bmc_timeout, '
             'the deadline of every fencing call: it must cover '
             'connect_timeout plus this for the stop command to finish.'),
    cfg.StrOpt(
        'stop_command',
        default=DEFAULT_STOP,
        help='Shell command that fences the host; exit status 0 means done. '
             'The default kills nova-compute (SIGKILL, so that it cannot '
             'take its time), stops its unit (no automatic restart) and '
             'kills every QEMU process (pkill matches the process name, '
             'not the command line; exit 1 "no process" is fine).'),
    cfg.StrOpt(
        'check_command',
        default=DEFAULT_CHECK,
        help='Shell command whose exit status tells whether the host still '
             'runs: 0 means "on", any other status "off", except 126, 127 '
             '(command not runnable) and a missing status, which mean '
             '"unknown" (never confirmed off).'),
    cfg.StrOpt(
        'start_command',
        help='Shell command run by "power on" (e.g. "systemctl start '
             'nova-compute"). Unset: power on is not supported.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
