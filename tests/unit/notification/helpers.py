"""Config helpers of the notification unit tests."""

from oslo_messaging import opts as messaging_opts

from tests.unit.conftest import make_conf


def messaging_conf(url='fake://', driver=None, topics=None, **overrides):
    """vmha's options plus oslo.messaging's, with the bus at ``url``.

    ``overrides`` are [notification_messaging] options.
    """
    config = make_conf(**{'notification_messaging__' + k: v
                          for k, v in overrides.items()})
    return set_bus(config, url, driver, topics)


def set_bus(config, url='fake://', driver=None, topics=None):
    """Point ``config``'s [oslo_messaging_notifications] at ``url``."""
    # oslo.messaging registers its options when the transport is made;
    # register them now to set them (as a config file would)
    for group, opts in messaging_opts.list_opts():
        if group in (None, 'oslo_messaging_notifications'):
            config.register_opts(opts, group=group)
    config.set_override('transport_url', url, 'oslo_messaging_notifications')
    if driver is not None:
        config.set_override('driver', driver, 'oslo_messaging_notifications')
    if topics is not None:
        config.set_override('topics', topics, 'oslo_messaging_notifications')
    return config
