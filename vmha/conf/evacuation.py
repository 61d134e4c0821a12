"""[evacuation]: which instances are rebuilt, where, and how fast."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'evacuation',
    title='Evacuation options',
    help='Which instances of a failed host are evacuated, to where, how '
         'many at once, and how their completion is confirmed.')

POLICY_SCHEDULER = 'scheduler'
POLICY_FIXED = 'fixed'

OPTS = [
    cfg.IntOpt(
        'max_workers',
        default=16,
        min=1,
        max=256,
        help='Evacuations of one recovery run in parallel, at most this '
             'many at once. 1 evacuates one instance after the other.'),
    cfg.IntOpt(
        'max_in_flight',
        default=32,
        min=1,
        max=1024,
        help='Ceiling of the evacuations in flight (requested and not yet '
             'landed) across every recovery this process runs at the same '
             'time. With adaptive_in_flight the limit moves below it with '
             'what Nova takes (see vmha/pacing.py); without, it is the '
             'limit. Evacuations beyond it wait in one queue: HA-enabled '
             'first, then by priority_metadata_key, then in order.'),
    cfg.BoolOpt(
        'adaptive_in_flight',
        default=True,
        help='Adapt the limit on evacuations in flight to Nova: grow it '
             'while evacuations land within in_flight_latency_factor times '
             'the fastest recent one, halve it on a late landing, an HTTP '
             '409 or 5xx, a request without answer or a confirmation '
             'timeout (AIMD, never above max_in_flight nor below '
             'min_in_flight). False: the limit is max_in_flight.'),
    cfg.IntOpt(
        'initial_in_flight',
        default=16,
        min=1,
        max=1024,
        help='With adaptive_in_flight: the limit the process starts with '
             '(at most max_in_flight).'),
    cfg.IntOpt(
        'min_in_flight',
        default=2,
        min=1,
        max=1024,
        help='With adaptive_in_flight: the limit never goes below this.'),
    cfg.FloatOpt(
        'in_flight_latency_factor',
        default=3.0,
        min=1.1,
        help='With adaptive_in_flight: an evacuation that needed more than '
             'this many times the shortest of the last 64 (from request '
             'to landed) is a sign that Nova queues work: the limit is '
             'halved.'),
    cfg.StrOpt(
        'priority_metadata_key',
        default='HA_Priority',
        help='Instance metadata key giving an evacuation priority, 1 to '
             '1000, higher first (after HA-enabled instances first). Other '
             'values are ignored with a warning.'),
    cfg.StrOpt(
        'target_host_policy',
        default=POLICY_SCHEDULER,
        choices=[
            (POLICY_SCHEDULER, 'Nova\'s scheduler picks the target host.'),
            (POLICY_FIXED, 'Each failed host has a fixed target host in '
             'target_hosts (a reserved/spare host); Nova still validates '
             'it. Needs compute API microversion 2.29 or later (below it '
             'Nova forces the host past its scheduler): refused with a '
             'configuration error otherwise.'),
        ],
        help='How the target host of an evacuation is chosen.'),
    cfg.DictOpt(
        'target_hosts',
        default={},
        help='With target_host_policy=fixed: failed host -> target host, e.g. '
             '"compute1:spare1,compute2:spare1".'),
    cfg.StrOpt(
        'ha_enabled_metadata_key',
        default='HA_Enabled',
        help='Instance metadata key marking an instance for evacuation '
             '(a boolean, case-insensitive: "True", "yes", "1", "on"... as '
             'in Masakari).'),
    cfg.BoolOpt(
        'evacuate_all_instances',
        default=True,
        help='Evacuate every instance of the failed host. When false, only '
             'instances whose ha_enabled_metadata_key metadata is true are '
             'evacuated; the others are recorded as skipped.'),
    cfg.BoolOpt(
        'skip_error_instances',
        default=False,
        help='Leave instances in ERROR state on the failed host (recorded as '
             'skipped). When false they are evacuated and come back in '
             'ERROR state, as they were.'),
    cfg.BoolOpt(
        'on_shared_storage',
        default=False,
        help='Whether instance disks live on shared storage. Only sent to '
             'Nova below compute API microversion 2.14; newer Nova detects '
             'it by itself.'),
    cfg.IntOpt(
        'confirm_timeout',
        default=300,
        min=1,
        help='Seconds to wait, per instance, for an evacuation to complete '
             '(instance on another host, no task, original power state '
             'restored) before it is recorded as failed.'),
    cfg.FloatOpt(
        'confirm_interval',
        default=1.0,
        min=0.1,
        help='Seconds between two rounds of confirmation: each round, '
             'one listing of the instances Nova changed (all recoveries of '
             'the process together) wakes the evacuations whose instance '
             'changed.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
