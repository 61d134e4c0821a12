"""Masakari in the lab (``tools/lab/lab up --with masakari``), for the
functional test that proves it evacuates and for the benchmark that
compares vmha with it (``tox -e bench -- --compare masakari``).

Masakari is driven through the lab's ``masakari`` commands, which run with
the lab's nova venv (masakari, openstacksdk): ``fail`` powers a host off
through its BMC and posts hostmonitor's COMPUTE_HOST notification to
masakari-api the moment the power-off is confirmed; ``records`` returns
Masakari's own records of it (notification, recovery-workflow progress,
vmoves).
"""

import json
import os
import urllib.error
import urllib.request

import pytest

from tools.lab.access import lab as lablib

API_URL = 'http://127.0.0.1:15868/'
SOURCE = 'hostA'


def api_answers():
    """True when masakari-api serves its version document."""
    try:
        with urllib.request.urlopen(API_URL, timeout=5) as answer:
            return 'versions' in json.loads(answer.read())
    except (OSError, ValueError):
        return False


def up():
    return os.environ.get('VMHA_LAB') == '1' and api_answers()


requires_masakari = pytest.mark.skipif(
    not up(), reason='Masakari is not up in the lab: tools/lab/lab up '
                     '--with masakari, then VMHA_LAB=1')


def _json(out):
    return json.loads(out[out.index('{'):])


def info():
    """Masakari's version, variant and effective timing options."""
    return _json(lablib.lab('masakari', 'info'))


def variant(name):
    """Switch masakari-api and -engine to the ``default`` or ``tuned``
    configuration (restarts them if it changes)."""
    lablib.lab('masakari', 'variant', name)


def fail_and_notify(host=SOURCE):
    """{powered_off_at, answered_at, notification_uuid} (epoch seconds)."""
    return _json(lablib.lab('masakari', 'fail', host))


def records(uuid, wait):
    """Masakari's records of a notification once it is final (waiting at
    most ``wait`` seconds)."""
    return _json(lablib.lab('masakari', 'records', uuid, '--wait', wait,
                            timeout=wait + 120))


def check_recovered(nova, recs, ids, vm_states=None, source=SOURCE):
    """Assert that Masakari recovered every server in ``ids``: its
    notification finished, a succeeded vmove per server, and Nova shows each
    elsewhere, settled, in its state, evacuated exactly once, the source's
    service disabled (Masakari does not force it down)."""
    assert recs['status'] == 'finished', recs
    moves = {v['instance_uuid']: v for v in recs['vmoves']}
    assert set(moves) == set(ids), (sorted(moves), sorted(ids))
    for sid in ids:
        assert moves[sid]['status'] == 'succeeded', moves[sid]
    lablib.assert_evacuated_once(nova, ids, source, vm_states,
                                 forced_down=False)


def prove_evacuation(nova, count=2):
    """Boot ``count`` servers on SOURCE, fail it, notify Masakari (tuned:
    short sleeps), check it recovered them; return its records. The lab
    lock is held by the caller and the lab reset before."""
    ids = [s['id'] for s in lablib.boot(count, SOURCE, prefix='masakari')]
    variant('tuned')
    try:
        posted = fail_and_notify()
        recs = records(posted['notification_uuid'], 240)
        check_recovered(nova, recs, ids)
    finally:
        variant('default')
    return recs
