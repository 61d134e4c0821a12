"""[capacity]: instances Nova found no room for, and reserved hosts."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'capacity',
    title='Capacity options',
    help='What vmha does when Nova finds no host with room for an evacuated '
         'instance (NoValidHost): the instance waits and is retried, and '
         'reserved hosts from the inventory may be enabled to make room.')

OPTS = [
    cfg.BoolOpt(
        'use_reserved_hosts',
        default=True,
        help='When Nova finds no host for an evacuation, enable one reserved '
             'host of the inventory (vmha-manage host add NAME --reserved: a '
             'spare compute kept disabled in Nova) and evacuate to it. A '
             'spare serves one failure only. Without reserved hosts in the '
             'inventory this does nothing.'),
    cfg.BoolOpt(
        'reserved_host_aggregates',
        default=False,
        help='Before evacuating to a reserved host, add it to every host '
             'aggregate of the failed host, so that flavors and images bound '
             'to those aggregates can land on it.'),
    cfg.IntOpt(
        'retry_interval',
        default=60,
        min=1,
        help='Seconds before the first automatic retry of an evacuation '
             'that waits for capacity. Each further retry waits twice as '
             'long, up to retry_max_interval. A host returning to service '
             '(vmha-manage host reinstate, or a compute service Nova newly '
             'reports enabled and up) triggers a retry at once.'),
    cfg.IntOpt(
        'retry_max_interval',
        default=900,
        min=1,
        help='Longest wait, in seconds, between two automatic retries.'),
    cfg.IntOpt(
        'retry_max_attempts',
        default=20,
        min=0,
        help='Automatic retries of one waiting evacuation before vmha stops '
             'retrying it on its own (0: no limit). It stays waiting: a host '
             'returning to service or vmha-manage recovery retry still '
             'retries it.'),
    cfg.IntOpt(
        'retry_max_age',
        default=86400,
        min=0,
        help='Seconds after which a waiting evacuation is no longer retried '
             'automatically (0: no limit); as for retry_max_attempts, it '
             'stays waiting for a manual or capacity-triggered retry.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
