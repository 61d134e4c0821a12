"""[fencing]: powering a failed host off and confirming it is off."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'fencing',
    title='Fencing options',
    help='Fencing makes evacuation safe: a host\'s instances are rebuilt '
         'elsewhere only once the host is certainly off.')

OPTS = [
    cfg.StrOpt(
        'default_driver',
        default='ipmi',
        help='Fencing driver (entry point name in the vmha.fencing namespace) '
             'for hosts whose inventory entry names none. Installed drivers: '
             'ipmi, redfish, ssh, noop, watchdog (no BMC: only the host\'s '
             'watchdog fences it, see [watchdog]); third-party packages '
             'may add more.'),
    cfg.IntOpt(
        'power_off_confirm_count',
        default=10,
        min=1,
        deprecated_opts=[cfg.DeprecatedOpt('ipmi_check_max_count',
                                           group='fencing')],
        help='How many times the power status is polled after the '
             'power-off request before fencing is declared unconfirmed '
             '(formerly ipmi_check_max_count). The power-off is always '
             'sent: a status read before it is recorded, never trusted. A '
             'poll that fails (BMC error or bmc_timeout) counts as one and '
             'the next poll retries, so the confirmation takes at most '
             'count x (power_off_confirm_interval + bmc_timeout).'),
    cfg.FloatOpt(
        'power_off_confirm_interval',
        default=1.0,
        min=0.0,
        deprecated_opts=[cfg.DeprecatedOpt('ipmi_check_interval',
                                           group='fencing')],
        help='Seconds between two power status polls while confirming a '
             'power-off (formerly ipmi_check_interval).'),
    cfg.FloatOpt(
        'bmc_timeout',
        default=10.0,
        min=0.5,
        help='Deadline in seconds for one call to a BMC (status, off, on). '
             'Some BMCs never answer a bad login; vmha gives up after this '
             'and leaves the call to a daemon thread, which never keeps '
             'vmha from exiting.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
