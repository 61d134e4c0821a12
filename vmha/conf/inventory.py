"""[inventory]: how the host inventory keeps its BMC credentials."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'inventory',
    title='Inventory options',
    help='The host inventory (vmha-manage host add/update) holds each '
         'host\'s BMC credentials. They are stored encrypted, never in '
         'plaintext.')

OPTS = [
    cfg.StrOpt(
        'credential_key_file',
        help='Path of the file holding the Fernet key(s) that encrypt the '
             'BMC passwords and secret bmc_options (the IPMI kg key, any '
             'option whose name contains password, secret or token) in the '
             'database. One key per line; the first encrypts, all decrypt '
             '(rotation: "vmha-manage credentials generate-key --prepend", '
             'copy the file to every host running vmha, then "vmha-manage '
             'credentials rotate"). The file must be readable by its owner '
             'only (mode 0600 or 0400): vmha refuses it otherwise. Create '
             'one with "vmha-manage credentials generate-key --output '
             'PATH". Every vmha-monitor and vmha-manage sharing a database '
             'needs the same file. Unset: a host with a BMC password or a '
             'secret option cannot be stored (the command says so and '
             'stores nothing), and a stored one cannot be read.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
