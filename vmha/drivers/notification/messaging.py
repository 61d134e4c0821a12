"""The ``messaging`` notifier: versioned oslo.messaging notifications.

Event types are vmha's own (``vmha.<object>.<action>...``, see
:mod:`vmha.events`), the publisher id is ``vmha:<hostname>``, the priority
is the event's (INFO, WARN, ERROR) and the payload follows the versioned
schema of doc/notifications.md (:func:`build_payload`).

The bus is configured with oslo.messaging's own options:
``[oslo_messaging_notifications] transport_url`` (falling back to
``[DEFAULT] transport_url``), ``driver`` (``messagingv2`` when unset) and
``topics``. vmha bounds every send: ``[notification_messaging] retry``
(oslo.messaging would retry forever) and ``send_timeout``.

oslo.messaging's Notifier logs a failed send and returns normally; so that
failures are counted like any other driver's, this driver collects the
errors oslo.messaging logs from the sending thread during a send and raises
:class:`~vmha.drivers.notification.base.NotificationFailed`.
"""

import concurrent.futures
import contextlib
import json
import logging as std_logging
import queue
import socket
import threading
import time

from oslo_log import log as logging
import oslo_messaging

from vmha.drivers.notification import base
from vmha import events

LOG = logging.getLogger(__name__)

GROUP = 'notification_messaging'

PAYLOAD_VERSION = '1.0'

# payload keys that are part of the schema even when an event lacks them
EVENT_FIELDS = ('instance_id', 'instance_name', 'target_host', 'error',
                'reason')

# vmha priority -> oslo_messaging.Notifier method
_METHODS = {events.INFO: 'info', events.WARNING: 'warn',
            events.ERROR: 'error'}

# oslo.messaging logs delivery failures below this logger
_OSLO_NOTIFY_LOGGER = 'oslo_messaging.notify'


def publisher_id(hostname=None):
    return 'vmha:%s' % (hostname or socket.gethostname())


def build_payload(event):
    """The versioned payload (schema version PAYLOAD_VERSION) of ``event``.

    Every key is always present (None when it does not apply); fields of
    the event that the schema does not name go to ``details``.
    """
    extra = dict(event.payload or {})
    payload = {
        'version': PAYLOAD_VERSION,
        'event_type': event.event_type,
        'priority': event.priority,
        'host': event.host,
        'recovery_id': event.recovery_id,
        'level': event.level,
        'timestamp': event.timestamp.isoformat(),
    }
    for key in EVENT_FIELDS:
        value = extra.pop(key, None)
        payload[key] = None if value is None else str(value)
    payload['details'] = json.loads(json.dumps(extra, default=str))
    return payload


class _SendErrors(std_logging.Handler):
    """Collects the errors oslo.messaging logs in this thread during a send.

    Records of other threads are ignored, so several drivers (or several
    sends) never see each other's failures.
    """

    def __init__(self):
        super().__init__(level=std_logging.ERROR)
        self._local = threading.local()

    def emit(self, record):
        errors = getattr(self._local, 'errors', None)
        if errors is not None:
            errors.append(record)

    @contextlib.contextmanager
    def capturing(self):
        self._local.errors = []
        try:
            yield self._local.errors
        finally:
            self._local.errors = None


def _describe(record):
    if record.exc_info and record.exc_info[1] is not None:
        err = record.exc_info[1]
        return '%s: %s' % (type(err).__name__, err)
    return record.getMessage()[:300]


class MessagingNotifier(base.Notifier):
    """Publishes each event as an oslo.messaging notification."""

    name = 'messaging'

    def __init__(self, conf):
        super().__init__(conf)
        opts = conf[GROUP]
        self.retry = opts.retry
        self.send_timeout = opts.send_timeout
        self.publisher_id = publisher_id()
        self.transport = oslo_messaging.get_notification_transport(conf)
        # get_notification_transport registered [oslo_messaging_notifications]
        configured = conf.oslo_messaging_notifications.driver
        self.notifier = oslo_messaging.Notifier(
            self.transport, publisher_id=self.publisher_id,
            driver=None if configured else 'messagingv2',
            retry=self.retry)
        self._errors = _SendErrors()
        std_logging.getLogger(_OSLO_NOTIFY_LOGGER).addHandler(self._errors)
        # One daemon worker: a send stuck past send_timeout (retries against
        # a silent broker) holds neither the caller nor interpreter exit.
        self._jobs = queue.Queue()
        self._busy_since = None
        self._worker = threading.Thread(target=self._work, daemon=True,
                                        name='vmha-messaging-notifier')
        self._worker.start()

    def notify(self, event):
        payload = build_payload(event)
        method = _METHODS.get(event.priority, 'info')
        busy_since = self._busy_since
        if busy_since is not None and \
                time.monotonic() - busy_since > self.send_timeout:
            # an earlier send is still stuck past its deadline (silent
            # broker): fail at once rather than wait send_timeout again
            raise base.NotificationFailed(
                driver=self.name, event_type=event.event_type,
                host=event.host,
                reason='the broker has not completed an earlier send for '
                       '%.0fs' % (time.monotonic() - busy_since))
        future = concurrent.futures.Future()
        self._jobs.put((future, method, event.event_type, payload))
        self.wait_sent(future, self.send_timeout, event)

    def _work(self):
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, method, event_type, payload = job
            if not future.set_running_or_notify_cancel():
                continue            # its caller gave up already
            self._busy_since = time.monotonic()
            try:
                future.set_result(self._send(method, event_type, payload))
            except BaseException as err:
                future.set_exception(err)
            finally:
                self._busy_since = None

    def _send(self, method, event_type, payload):
        with self._errors.capturing() as records:
            getattr(self.notifier, method)({}, event_type, payload)
        return [_describe(record) for record in records]

    def close(self):
        std_logging.getLogger(_OSLO_NOTIFY_LOGGER).removeHandler(
            self._errors)
        self._jobs.put(None)
        try:
            self.transport.cleanup()
        except Exception:
            LOG.debug('Closing the notification transport failed',
                      exc_info=True)
