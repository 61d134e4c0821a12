"""[notification_messaging]: bounds of the oslo.messaging notifier.

The bus itself (transport_url, driver, topics) is configured with
oslo.messaging's own options in ``[oslo_messaging_notifications]``, falling
back to ``[DEFAULT] transport_url``.
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'notification_messaging',
    title='oslo.messaging notification options',
    help='The messaging notification driver publishes versioned '
         'notifications (event types vmha.<object>.<action>) through '
         'oslo.messaging; the bus is set in [oslo_messaging_notifications].')

OPTS = [
    cfg.IntOpt(
        'retry',
        default=1,
        min=0,
        help='How many times a notification is retried when the broker '
             'cannot be reached (0: send once). oslo.messaging retries '
             'forever by default; vmha never does, so that a dead broker '
             'cannot hold notifications back. Retries back off: against a '
             'broker that refuses connections, retry=1 gives up after about '
             '1 s, 2 after 4 s, 3 after 9 s.'),
    cfg.FloatOpt(
        'send_timeout',
        default=5.0,
        min=0.1,
        help='Deadline in seconds for sending one notification, retries '
             'included. A send still running then is reported as failed '
             '(logged and counted); while it stays stuck, later '
             'notifications fail at once instead of waiting again.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
