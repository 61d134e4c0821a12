#!/usr/bin/env python3
"""Example consumer of vmha's oslo.messaging notifications.

Listens on the notification topic(s) of a bus, keeps only vmha's event types
(``^vmha\\.``) and prints one JSON object per notification on stdout::

    {"priority": "WARN", "publisher_id": "vmha:monitor-1",
     "event_type": "vmha.host.failure", "payload": {"version": "1.0", ...},
     "metadata": {"message_id": "...", "timestamp": "..."}}

Usage::

    python3 notification_listener.py \\
        --transport-url rabbit://user:pass@broker:5672/ [--topic notifications]
        [--pool my-consumers] [--count N]

Without ``--count`` it runs until interrupted (Ctrl-C / SIGTERM). With
``--pool`` several consumers share the notifications (each message goes to
one of them); without it the queue is ``<topic>.<priority>`` and every
consumer of that queue competes for the same messages.

Only oslo.messaging is needed (``pip install oslo.messaging``); the payload
schema is described in vmha's doc/notifications.md. Consumers should check
the major number of ``payload["version"]``: fields are only added within a
major version.
"""

import argparse
import json
import signal
import sys
import threading

from oslo_config import cfg
import oslo_messaging

SUPPORTED_MAJOR = '1'


class VmhaEndpoint:
    """Receives vmha's notifications of every priority vmha uses."""

    filter_rule = oslo_messaging.NotificationFilter(event_type=r'^vmha\.')

    def __init__(self, out=sys.stdout, count=None):
        self.out = out
        self.remaining = count
        self.lock = threading.Lock()
        self.done = threading.Event()

    def _handle(self, priority, publisher_id, event_type, payload, metadata):
        version = str(payload.get('version', ''))
        if version.split('.')[0] != SUPPORTED_MAJOR:
            print('skipping %s: payload version %r is not %s.x'
                  % (event_type, version, SUPPORTED_MAJOR), file=sys.stderr)
            return oslo_messaging.NotificationResult.HANDLED
        line = json.dumps({'priority': priority,
                           'publisher_id': publisher_id,
                           'event_type': event_type,
                           'payload': payload,
                           'metadata': metadata}, sort_keys=True)
        with self.lock:
            if self.done.is_set():
                # --count reached; leave the message for the next consumer
                return oslo_messaging.NotificationResult.REQUEUE
            self.out.write(line + '\n')
            self.out.flush()
            if self.remaining is not None:
                self.remaining -= 1
                if self.remaining <= 0:
                    self.done.set()
        return oslo_messaging.NotificationResult.HANDLED

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._handle('INFO', publisher_id, event_type, payload,
                            metadata)

    def warn(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._handle('WARN', publisher_id, event_type, payload,
                            metadata)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._handle('ERROR', publisher_id, event_type, payload,
                            metadata)


def make_listener(transport_url, endpoint, topics=('notifications',),
                  pool=None):
    """A started-later notification listener for ``endpoint``."""
    conf = cfg.ConfigOpts()
    conf([], project='vmha-listener', default_config_files=[])
    transport = oslo_messaging.get_notification_transport(
        conf, url=transport_url)
    targets = [oslo_messaging.Target(topic=topic) for topic in topics]
    listener = oslo_messaging.get_notification_listener(
        transport, targets, [endpoint], executor='threading',
        allow_requeue=True, pool=pool)
    return transport, listener


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--transport-url', required=True,
                        help='oslo.messaging transport URL of the bus')
    parser.add_argument('--topic', action='append', dest='topics',
                        help='notification topic (repeatable; default '
                             '"notifications")')
    parser.add_argument('--pool', help='listener pool name')
    parser.add_argument('--count', type=int,
                        help='exit after printing this many notifications')
    args = parser.parse_args(argv)

    endpoint = VmhaEndpoint(count=args.count)
    transport, listener = make_listener(
        args.transport_url, endpoint, topics=args.topics or
        ['notifications'], pool=args.pool)
    signal.signal(signal.SIGTERM, lambda *_: endpoint.done.set())
    listener.start()
    # the queues are declared once start() returns
    print('listening', file=sys.stderr, flush=True)
    try:
        while not endpoint.done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    listener.stop()
    listener.wait()
    transport.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
