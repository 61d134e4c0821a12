"""[metrics]: the Prometheus endpoint of vmha-monitor and vmha-agent."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'metrics',
    title='Metrics options',
    help='vmha-monitor, and vmha-agent if asked, serve Prometheus metrics '
         'over HTTP at /metrics: hosts by state, heartbeats lost, '
         'declarations, recoveries and their phase durations, evacuations, '
         'notification failures, Nova and BMC call latencies. The '
         'endpoint has no authentication: keep it on a loopback or '
         'management address. A port that cannot be bound is logged and '
         'the process goes on without metrics. Every metric is described '
         'in the documentation (Metrics reference).')

OPTS = [
    cfg.BoolOpt(
        'enabled',
        default=False,
        help='Serve metrics from vmha-monitor (its long-running mode; not '
             'with --once).'),
    cfg.HostAddressOpt(
        'host',
        default='127.0.0.1',
        help='Address the metrics endpoints listen on (vmha-monitor and '
             'vmha-agent). 0.0.0.0 or :: listens on every address.'),
    cfg.PortOpt(
        'port',
        default=9716,
        help='TCP port of vmha-monitor\'s metrics endpoint (0: any free '
             'port, logged at start).'),
    cfg.BoolOpt(
        'agent_enabled',
        default=False,
        help='Serve metrics from vmha-agent too (heartbeats sent and '
             'failed, time of the last one).'),
    cfg.PortOpt(
        'agent_port',
        default=9717,
        help='TCP port of vmha-agent\'s metrics endpoint; different from '
             'port, so that an agent and a monitor can share a machine.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
