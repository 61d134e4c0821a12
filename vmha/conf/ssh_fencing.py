"""[ssh_fencing]: the ssh ("soft") fencing driver (paramiko)."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'ssh_fencing',
    title='SSH fencing driver options',
    help='Options of the "ssh" fencing driver, for hosts without a BMC: it '
         'logs in to the host with a key, stops nova-compute, kills the '
         'guests and confirms that no guest process is left. This is NOT '
         'power fencing: a host that does not answer SSH cannot be fenced '
         'this way (its recovery fails, no evacuation). A host\'s '
         'bmc_options may override key_file, known_hosts_file, '
         'stop_command, check_command and start_command (used as given: '
         'no $name replacement there). In the command options of this '
         'file, oslo.config replaces $name with option values: write $$ '
         'for a shell $ ($? is kept as is).')

# The guests are what must not run twice, so "off" means "no guest process"
# (not "nova-compute stopped": a host whose nova-compute crashed still runs
# its guests). The pattern matches the command line's program (argv[0],
# with or without a path), so that the shell running pgrep/pkill, whose own
# command line holds the pattern, never matches itself.
DEFAULT_GUEST_PATTERN = '^([^ ]*/)?(qemu-system-|qemu-kvm)'
# kill nova-compute first (it could start a guest again), keep its unit
# stopped, kill the guests even if the unit would not stop, and fail if
# either failed (pkill: 1 is "no process", fine)
DEFAULT_STOP = (
    "systemctl kill --signal=SIGKILL nova-compute; "
    "systemctl stop nova-compute; stopped=$$?; "
    "pkill -KILL -f '$guest_process_pattern'; "
    "[ $? -le 1 ] && [ $$stopped -eq 0 ]")
# pgrep: 0 a guest runs ("on"), 1 none ("off"), anything else is an error
# that must never read "off" (126: "unknown")
DEFAULT_CHECK = (
    "pgrep -f '$guest_process_pattern' >/dev/null; "
    "case $? in 0) exit 0;; 1) exit 1;; *) exit 126;; esac")

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
        'guest_process_pattern',
        default=DEFAULT_GUEST_PATTERN,
        help='Extended regular expression (pgrep/pkill -f) that matches the '
             'command line of a guest process: the default stop and check '
             'commands use it as $guest_process_pattern. The default '
             'matches QEMU/KVM guests (qemu-system-<arch>, qemu-kvm), as '
             'libvirt starts them for Nova. Anchor it at the start of the '
             'command line ("^"), or the shell running pgrep matches it '
             'too; no single quotes; write $$ for a regex $.'),
    cfg.StrOpt(
        'stop_command',
        default=DEFAULT_STOP,
        help='Shell command that fences the host; exit status 0 means done. '
             'The default SIGKILLs nova-compute (so that it cannot start a '
             'guest again), stops its unit (no automatic restart), then '
             'kills every guest process (guest_process_pattern), and fails '
             'if the unit would not stop or pkill failed: stopping the '
             'guests is what fencing is for, stopping nova-compute only is '
             'not enough.'),
    cfg.StrOpt(
        'check_command',
        default=DEFAULT_CHECK,
        help='Shell command whose exit status tells whether the host still '
             'runs guests: 0 means "on", any other status "off", except '
             '126, 127 (command not runnable) and a missing status, which '
             'mean "unknown" (never confirmed off). The default reads "on" '
             'while any process matches guest_process_pattern: it checks '
             'the guests, not nova-compute, because a host whose '
             'nova-compute died may still run them.'),
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
