"""[coordination]: the tooz backend agents heartbeat through.

vmha-agent (on every compute host) and vmha-monitor must share this group:
the monitor reads the membership the agents keep alive.
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'coordination',
    title='Coordination options',
    help='Agent heartbeats travel as tooz group membership: each vmha-agent '
         'is a member of one group and heartbeats to keep its membership; '
         'the coordination backend drops a member that stops heartbeating. '
         'vmha-agent and vmha-monitor must use the same values.')

OPTS = [
    cfg.StrOpt(
        'backend_url',
        default='file://$state_path/coordination',
        secret=True,
        help='tooz backend URL. The default, file://$state_path/coordination,'
             ' needs no coordination server but only works when the agents '
             'and the monitor run on ONE machine (a single node, the demo). '
             'Production: a Redis, etcd3 or ZooKeeper reachable from every '
             'compute host and the monitor, e.g. redis://10.0.0.5:6379?'
             'timeout=5, etcd3+http://10.0.0.5:2379, '
             'zookeeper://10.0.0.5:2181. Do not set the backend\'s '
             'membership expiry in the URL (membership_timeout, or timeout '
             'for file:// and ZooKeeper): vmha derives it from '
             'heartbeat_timeout.'),
    cfg.StrOpt(
        'group_name',
        default='vmha-agents',
        help='tooz group the agents join. Several clouds may share one '
             'backend with different group names.'),
    cfg.FloatOpt(
        'heartbeat_interval',
        default=1.0,
        min=0.1,
        max=60.0,
        help='Seconds between two heartbeats of vmha-agent. Must be at most '
             'half of heartbeat_timeout.'),
    cfg.FloatOpt(
        'heartbeat_timeout',
        default=5.0,
        min=1.0,
        max=600.0,
        help='Seconds without a heartbeat after which an agent\'s host is '
             'suspected failed (vmha-monitor still waits for a second signal '
             'before acting, see [monitor]). The monitor declares such a host '
             'failed at most heartbeat_timeout + [monitor] poll_interval '
             'after its last heartbeat.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
