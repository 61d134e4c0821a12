"""Which requests nova-api served while a case was measured.

nova-api's request log (``nova.api.openstack.requestlog``, one line per
request in the lab's ``logs/nova-api.out``) tells what a recovery asked of
Nova, which CPU seconds alone cannot: issue 16's nova-api CPU target is met
or missed by the *number and kind* of requests vmha sends per evacuation.
A snapshot is the log's size; the requests of a case are the lines written
between two snapshots, counted per request template (ids replaced by
``{id}``, query strings reduced to their parameter names).
"""

import os
import re

_REQUEST = re.compile(r'"(?P<method>[A-Z]+) (?P<path>[^" ]+)" status: '
                      r'(?P<status>\d+).*? time: (?P<time>[0-9.]+)')
_ID = re.compile(r'/[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?'
                 r'[0-9a-f]{12}|/[0-9a-f]{32}|/\d+(?=/|$)')


def log_path():
    """The lab's nova-api log (None when there is no lab here)."""
    root = os.environ.get('VMHA_LAB_DIR') or '/var/tmp/vmha-lab'
    path = os.path.join(root, 'logs', 'nova-api.out')
    return path if os.path.exists(path) else None


def mark():
    """Where the log ends now: (path, size), or None without a lab."""
    path = log_path()
    return (path, os.path.getsize(path)) if path else None


def template(method, path):
    """``GET /v2.1/servers/<uuid>/action?x=1`` -> ``GET /servers/{id}/
    action?x``: one name per kind of request."""
    path, _, query = path.partition('?')
    path = _ID.sub('/{id}', re.sub(r'^/v2(\.1)?', '', path))
    names = sorted({p.split('=', 1)[0] for p in query.split('&') if p})
    return '%s %s%s' % (method, path, '?' + '&'.join(names) if names else '')


def _lines(before, after):
    """The request-log text written between two marks ('' without a lab,
    or if the log was replaced in between)."""
    if not before or not after or before[0] != after[0] \
            or after[1] < before[1]:
        return ''
    with open(before[0], 'rb') as log:
        log.seek(before[1])
        return log.read(after[1] - before[1]).decode('utf-8', 'replace')


def count(before, after):
    """{template: [requests, seconds nova-api spent in them]} logged
    between two marks, most frequent first. The seconds are wall time
    inside nova-api (waits for its database and a busy CPU included): a
    weight, not CPU."""
    counts = {}
    for found in _REQUEST.finditer(_lines(before, after)):
        name = template(found['method'], found['path'])
        entry = counts.setdefault(name, [0, 0.0])
        entry[0] += 1
        entry[1] = round(entry[1] + float(found['time']), 3)
    return dict(sorted(counts.items(), key=lambda item: -item[1][0]))
