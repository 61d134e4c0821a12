"""Helpers of the notification tests: configuration, a killed process."""

import datetime
import json
import signal
import subprocess
import sys

from oslo_messaging import opts as messaging_opts
import sqlalchemy as sa

from vmha.db import models

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


# a process that records an event with the outbox and waits for a driver
# that never answers: killed, it leaves the delivery owed
_RECORD_AND_WAIT = '''
import json, sys, threading
from vmha.db import api as db_api
from vmha import events, notifier

class Unsent:
    def notify(self, event):
        threading.Event().wait()
    def close(self):
        pass

url, driver, fields = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
dispatcher = notifier.Dispatcher({driver: Unsent()},
                                 outbox=db_api.Database(url),
                                 owner='killed:1')
dispatcher.emit(events.Event(**fields))
print('recorded', flush=True)
threading.Event().wait()
'''


def killed_after_recording(db_url, driver, **event_fields):
    """Run a real process that records an event (``event_fields``: those
    of vmha.events.Event) for ``driver``, and SIGKILL it before ``driver``
    sent it."""
    child = subprocess.Popen(
        [sys.executable, '-c', _RECORD_AND_WAIT, db_url, driver,
         json.dumps(event_fields)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == 'recorded'
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)


def age_outbox(db, seconds):
    """Every owed delivery of ``db`` was queued ``seconds`` earlier."""
    with db.session() as session:
        for row in session.scalars(sa.select(models.Outbox)):
            row.claimed_at -= datetime.timedelta(seconds=seconds)
