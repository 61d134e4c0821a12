"""The ``log`` notifier: one structured log line per event."""

import json

from oslo_log import log as logging

from vmha.drivers.notification import base
from vmha import events

LOG = logging.getLogger('vmha.notification')

_LEVELS = {events.INFO: logging.INFO, events.WARNING: logging.WARNING,
           events.ERROR: logging.ERROR}


class LogNotifier(base.Notifier):

    def notify(self, event):
        LOG.log(_LEVELS.get(event.priority, logging.INFO), '%s %s',
                event.event_type,
                json.dumps(event.to_dict(), sort_keys=True, default=str))
