"""The log driver writes what doc/notifications.md says it writes."""

import json
import logging

import pytest

from vmha.drivers.notification import log as log_driver
from vmha import events


@pytest.mark.parametrize('event_type', events.ALL_TYPES)
def test_one_line_per_event_at_the_priority_level(caplog, event_type):
    caplog.set_level(logging.INFO, logger='vmha.notification')
    event = events.Event(event_type, host='cmp-1', recovery_id='r-1',
                         level=2, payload={'instance_id': 'i-1',
                                           'error': 'boom'})
    log_driver.LogNotifier(None).notify(event)
    [record] = [r for r in caplog.records if r.name == 'vmha.notification']
    expected = {events.INFO: logging.INFO, events.WARNING: logging.WARNING,
                events.ERROR: logging.ERROR}[events.PRIORITIES[event_type]]
    assert record.levelno == expected
    name, _, blob = record.getMessage().partition(' ')
    assert name == event_type
    data = json.loads(blob)
    assert data == event.to_dict()
    assert list(data) == sorted(data)
    assert {'event_type', 'priority', 'host', 'recovery_id', 'level',
            'timestamp', 'instance_id', 'error'} <= set(data)
