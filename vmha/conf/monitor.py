"""[monitor]: how vmha-monitor detects failed hosts."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'monitor',
    title='Monitor options',
    help='vmha-monitor watches the compute hosts and recovers failed ones. '
         'The exact rule a host is declared failed by is in the README '
         '("Detection") and in vmha/detection/decision.py.')

OPTS = [
    cfg.ListOpt(
        'detection_sources',
        default=['nova', 'heartbeat'],
        help='Detection sources to run each poll (entry point namespace '
             'vmha.detection). "heartbeat": vmha-agent membership in '
             '[coordination] (seconds; needs vmha-agent on the hosts). '
             '"nova": the nova-compute service state (needs no agent; as slow '
             'as Nova\'s service_down_time). With both, a host with a live '
             'agent is never recovered on Nova\'s word alone, and a host '
             'without an agent is still covered by Nova.'),
    cfg.FloatOpt(
        'poll_interval',
        default=5.0,
        min=0.5,
        help='Seconds between two looks at the detection sources. Failure '
             'detection takes at most [coordination] heartbeat_timeout + '
             'poll_interval with agents.'),
    cfg.IntOpt(
        'max_failed_hosts_percent',
        default=50,
        min=1,
        max=100,
        help='Mass-failure guard: when more than this share of compute hosts '
             'is suspected failed within mass_failure_window, the monitor is '
             'probably the one cut off; it raises one alert '
             '(vmha.host.failure.mass) and evacuates nothing until an '
             'operator acts.'),
    cfg.IntOpt(
        'max_failed_hosts',
        default=0,
        min=0,
        help='Mass-failure guard as an absolute count of hosts suspected '
             'within mass_failure_window (0: no absolute limit).'),
    cfg.FloatOpt(
        'mass_failure_window',
        default=60.0,
        min=1.0,
        help='Seconds within which suspected host failures count together '
             'for the mass-failure guard.'),
    cfg.FloatOpt(
        'nova_report_interval',
        default=10.0,
        min=0.1,
        help='Nova\'s [DEFAULT] report_interval on the compute hosts '
             '(seconds; Nova\'s default is 10). Nova\'s API does not '
             'publish it, so vmha must be told. A nova-compute whose '
             'service record (updated_at) has not changed for '
             'nova_report_interval + nova_report_grace has stopped '
             'reporting: that, together with a lost agent heartbeat, is '
             'what declares a host failed. Set it too low and a slow report '
             'looks like a stop; too high only slows detection.'),
    cfg.FloatOpt(
        'nova_report_grace',
        default=2.0,
        min=0.0,
        help='Seconds of slack on top of nova_report_interval before a '
             'nova-compute that stopped updating its service record counts '
             'as stopped (a report delayed by a busy conductor or database).'),
    cfg.FloatOpt(
        'source_timeout',
        default=10.0,
        min=0.5,
        help='Seconds a detection source may take to answer one poll. A '
             'source that does not answer in time (a coordination backend or '
             'nova-api that accepts and stalls) is "unknown" for that poll: '
             'nothing it would have said is acted on, and the poll goes on '
             'with the other sources.'),
    cfg.IntOpt(
        'max_recoveries',
        default=8,
        min=1,
        deprecated_group='jobboard',
        help='Recoveries one monitor runs at the same time (one thread '
             'each), beside its detection loop: in its own process without '
             'a jobboard, in its conductor with one ([jobboard] '
             'backend_url). Further failed hosts are recorded at once and '
             'wait for a free slot (or, with a jobboard, another monitor); '
             'detection never waits for a recovery. Was [jobboard] '
             'max_recoveries.'),
    cfg.IntOpt(
        'retry_failed_after',
        default=300,
        min=0,
        help='Seconds before a host whose last recovery failed (e.g. fencing '
             'not confirmed) is tried again.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
