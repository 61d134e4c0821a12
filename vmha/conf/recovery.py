"""[recovery]: how a failed host is taken out of service before evacuation."""

from oslo_config import cfg

from vmha import levels

GROUP = cfg.OptGroup(
    'recovery',
    title='Host recovery options',
    help='How vmha makes sure a failed host is dead before it evacuates.')

#: the level numbers, by their names in vmha.levels
LEVEL_FASTEST = levels.FASTEST.number
LEVEL_FASTER = levels.FASTER.number
LEVEL_SAFE = levels.SAFE.number

OPTS = [
    cfg.IntOpt(
        'quick_evacuate_level',
        default=levels.DEFAULT.number,
        choices=[(level.number, level.summary)
                 for level in levels.LEVELS.values()],
        help='Quick evacuation level: how the failed host is isolated before '
             'its instances are rebuilt elsewhere. Whatever the level, a host '
             'whose power-off cannot be confirmed is never evacuated.'),
    cfg.IntOpt(
        'wait_service_down_timeout',
        default=300,
        min=1,
        help='Seconds to wait for Nova to report the failed host\'s '
             'nova-compute service down (level 3, the level 1 fallback, and '
             'the check after a force-down). Should exceed Nova\'s '
             'service_down_time.'),
    cfg.FloatOpt(
        'wait_service_down_interval',
        default=1.0,
        min=0.1,
        help='Seconds between two polls of the service state while waiting '
             'for Nova to report the service down.'),
    cfg.StrOpt(
        'disabled_reason',
        default='vmha: host failure, instances evacuated',
        help='Reason recorded in Nova when vmha disables a failed host\'s '
             'nova-compute service.'),
    cfg.StrOpt(
        'compute_binary',
        default='nova-compute',
        help='Binary name of the compute service vmha forces down and '
             'disables.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
