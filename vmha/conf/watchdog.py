"""[watchdog]: self-fencing of compute hosts by a watchdog vmha-agent pets.

Read by vmha-agent (which driver, which timeout) and by vmha-monitor (the
margin it adds before it counts an armed host as reset).
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'watchdog',
    title='Watchdog options',
    help='vmha-agent can arm a watchdog on its compute host and pet it only '
         'while its heartbeats reach [coordination] backend_url. A host cut '
         'off from the coordination backend, or whose agent died, then '
         'resets itself within a known time, and vmha-monitor may recover '
         'it even when its BMC cannot be reached. The price: an agent that '
         'dies on an armed host takes the host down. See doc/watchdog.md.')

OPTS = [
    cfg.StrOpt(
        'driver',
        default='none',
        help='Watchdog driver of vmha-agent (entry point name in the '
             'vmha.watchdog namespace): "none" arms nothing (the default); '
             '"linux" drives a Linux watchdog device (softdog, iTCO_wdt, a '
             'BMC\'s watchdog) through the watchdog ioctls; "lab" talks to '
             'the functional lab\'s stand-in watchdog process (tests only).'),
    cfg.IntOpt(
        'timeout',
        default=30,
        min=2,
        max=3600,
        help='Seconds the watchdog waits for a pet before it resets the '
             'host (WDIOC_SETTIMEOUT). Some devices only support some '
             'values: vmha-agent reads back the timeout the device took '
             '(WDIOC_GETTIMEOUT) and reports that one to the monitor. An '
             'armed host resets at most timeout + margin after the start of '
             'its last heartbeat that reached the coordination backend.'),
    cfg.FloatOpt(
        'margin',
        default=2.0,
        min=0.1,
        help='Clock and scheduling slack, in seconds. vmha-agent pets only '
             'right after a heartbeat that succeeded and started at most '
             'margin seconds ago (a stalled agent, or a heartbeat that took '
             'long, does not pet); it must be less than half of timeout. '
             'vmha-monitor adds its own margin: it counts an armed host '
             'whose heartbeat is lost as reset once the agent\'s timeout + '
             'the agent\'s margin + this margin have passed since the last '
             'moment the host\'s heartbeat can have reached the backend.'),
    cfg.StrOpt(
        'device',
        default='/dev/watchdog',
        help='The watchdog: for the "linux" driver the device path (a '
             'regular file stands in for it in tests: the ioctls are then '
             'skipped and logged); for the "lab" driver the path of the lab '
             'stand-in watchdog\'s unix socket.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
