"""[notification]: which notifiers hear about failures and recoveries."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'notification',
    title='Notification options',
    help='Every event of a recovery is recorded in the database and sent '
         'through each configured notification driver.')

OPTS = [
    cfg.ListOpt(
        'drivers',
        default=['log'],
        help='Notification drivers (entry point names in the '
             'vmha.notification namespace), all used at once: log, '
             'messaging, snmp, or third-party ones. A failing driver is '
             'logged, counted and recorded in the event log '
             '(vmha.notification.error), and never blocks a recovery.'),
    cfg.FloatOpt(
        'flush_timeout',
        default=10.0,
        min=0.0,
        help='Each driver sends on a thread of its own, so a recovery never '
             'waits for a notification while it works. Once it has '
             'finished, it waits at most this many seconds for its '
             'notifications to be delivered before it returns (so that a '
             'vmha-manage run does not exit before they are out, and a dead '
             'receiver cannot hold the monitor longer); what is still '
             'queued then keeps going in the background. Closing the '
             'notifier (process exit) waits at most as long again.'),
    cfg.FloatOpt(
        'redeliver_after',
        default=120.0,
        min=10.0,
        help='Every event is recorded together with the deliveries owed '
             'to each driver (the outbox), and a delivery leaves the '
             'outbox once its driver sent it or failed to. A delivery '
             'still owed this many seconds after it was queued belongs to '
             'a process that died (killed mid-recovery) or is stuck: '
             'vmha-monitor then sends it again through its own drivers of '
             'the same name. Keep it above what a driver may take to send '
             'a backlog, as a live but slow process could otherwise send '
             'a notification twice (notifications are delivered at least '
             'once).'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
