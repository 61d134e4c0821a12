"""[redfish]: the Redfish fencing driver (sushy)."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'redfish',
    title='Redfish fencing driver options',
    help='Options of the "redfish" fencing driver. A host\'s bmc_address is '
         'the BMC base URL (https://10.0.0.5 or http://bmc:8000); its '
         'bmc_options may hold system_id and verify.')

OPTS = [
    cfg.StrOpt(
        'ca_bundle',
        help='CA bundle file (or directory of CA certificates) that signs '
             'the BMCs\' TLS certificates. Unset: the system trust store. '
             'A host\'s bmc_options "verify" (true, false or a path) '
             'overrides it.'),
    cfg.FloatOpt(
        'connect_timeout',
        default=5.0,
        min=0.1,
        help='Seconds to wait for the TCP/TLS connection to a BMC.'),
    cfg.FloatOpt(
        'read_timeout',
        default=8.0,
        min=0.1,
        help='Seconds to wait for a BMC\'s answer once connected. Keep it '
             'below [fencing] bmc_timeout so an abandoned call ends.'),
    cfg.IntOpt(
        'retries',
        default=1,
        min=1,
        help='Attempts per request on a connection error or a 5xx answer '
             '(1: no retry). sushy\'s own default (10 x 3 s) makes an '
             'unreachable BMC take half a minute to report.'),
    cfg.FloatOpt(
        'retry_delay',
        default=0.5,
        min=0.1,
        help='Seconds between two attempts of one request.'),
    cfg.StrOpt(
        'auth_type',
        default='auto',
        choices=[('basic', 'HTTP basic authentication on every request'),
                 ('session', 'a Redfish session (X-Auth-Token)'),
                 ('auto', 'a Redfish session, else basic authentication')],
        help='How to authenticate to the BMC.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
