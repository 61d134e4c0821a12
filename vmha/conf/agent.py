"""[agent]: vmha-agent, the heartbeat process on each compute host."""

import socket

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'agent',
    title='Agent options',
    help='vmha-agent runs on every compute host and heartbeats through '
         '[coordination] backend_url so that vmha-monitor notices a dead '
         'host within seconds.')

OPTS = [
    cfg.HostDomainOpt(
        'host',
        default=socket.gethostname(),
        sample_default='<the machine\'s host name>',
        help='This host\'s name as Nova knows it: the "host" of its '
             'nova-compute service (nova.conf [DEFAULT] host, if set there). '
             'The monitor matches heartbeats to compute services by it. '
             'Nova\'s host-name rules apply: not empty, no whitespace, '
             'labels of letters, digits, "-" and "_".'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
