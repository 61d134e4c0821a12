"""vmha.confirm: one listing per round confirms every followed instance."""

import dataclasses
import datetime
import threading

import pytest

from vmha import compute
from vmha import confirm
from vmha.db import api as db_api
from vmha import exception
from tests.unit import fakes
from tests.unit.conftest import HOST


class ListingCompute:
    """Instances by id; list_changed_instances returns those whose
    ``updated`` is at or after ``since`` (Nova's rule), or raises
    ``fail_listing``. Counts every call."""

    def __init__(self):
        self.instances = {}
        self.calls = []
        self.fail_listing = None
        self.fail_get = {}

    def put(self, iid, updated='2026-01-01T00:00:10Z', **fields):
        base = dict(id=iid, name=iid, status='ACTIVE', vm_state='active',
                    task_state=None, host=HOST, updated=updated)
        base.update(fields)
        self.instances[iid] = compute.Instance(**base)
        return self.instances[iid]

    def list_changed_instances(self, since):
        self.calls.append(('list', since))
        if self.fail_listing:
            raise self.fail_listing
        return [i for i in self.instances.values()
                if i.updated >= since]

    def get_instance(self, iid):
        self.calls.append(('get', iid))
        if iid in self.fail_get:
            raise self.fail_get[iid]
        if iid not in self.instances:
            raise exception.InstanceNotFound(instance=iid)
        return self.instances[iid]

    def count(self, kind):
        return len([c for c in self.calls if c[0] == kind])


NOW = datetime.datetime(2026, 1, 1, 0, 1, 0)


def _watcher(nova, clock=None, **kwargs):
    return confirm.Watcher(nova, 0.5, background=False,
                           clock=clock or fakes.Clock(), utcnow=lambda: NOW,
                           **kwargs)


@pytest.fixture
def nova():
    return ListingCompute()


def test_one_listing_confirms_many_and_wakes_only_the_changed(nova):
    before = [nova.put('i%d' % n) for n in range(5)]
    watcher = _watcher(nova)
    with contextlib_follow(watcher, before) as watches:
        nova.put('i1', updated='2026-01-01T00:00:50Z', host='hostB')
        nova.put('i3', updated='2026-01-01T00:00:51Z',
                 task_state='rebuilding')
        watcher.tick()
        assert nova.count('list') == 1 and nova.count('get') == 0
        assert [w.fresh for w in watches] == [False, True, False, True,
                                              False]
        assert watches[1].next(0).host == 'hostB'
        assert watches[1].fresh is False       # taken
        # nothing changed since: nobody new wakes (i3 was not taken yet)
        watcher.tick()
        assert nova.count('list') == 2 and nova.count('get') == 0
        assert [w.fresh for w in watches] == [False, False, False, True,
                                              False]


class contextlib_follow:
    """Follow several instances at once (ExitStack over follow())."""

    def __init__(self, watcher, baselines):
        self.watcher = watcher
        self.baselines = baselines
        self._exits = []

    def __enter__(self):
        watches = []
        for inst in self.baselines:
            cm = self.watcher.follow(inst.id, inst)
            watches.append(cm.__enter__())
            self._exits.append(cm)
        return watches

    def __exit__(self, *exc):
        for cm in reversed(self._exits):
            cm.__exit__(*exc)


def test_changes_since_follows_novas_clock(nova):
    """First round: the last FIRST_WINDOW seconds of vmha's clock; then the
    newest ``updated`` Nova showed less the slack, never going back; after
    an idle spell, a fresh window again."""
    inst = nova.put('i1')
    watcher = _watcher(nova)
    with watcher.follow('i1', inst):
        watcher.tick()
        assert nova.calls[-1] == ('list', '2026-01-01T00:00:00Z')
        nova.put('i1', updated='2026-01-01T00:05:00Z', task_state='x')
        watcher.tick()   # the first answer's newest (00:00:10) less 5 s
        assert nova.calls[-1] == ('list', '2026-01-01T00:00:05Z')
        watcher.tick()   # the newest change seen, less 5 s
        assert nova.calls[-1] == ('list', '2026-01-01T00:04:55Z')
        nova.instances.clear()
        watcher.tick()   # an empty answer does not move it back
        assert nova.calls[-1] == ('list', '2026-01-01T00:04:55Z')
    nova.put('i2')
    with watcher.follow('i2', nova.instances['i2']):
        watcher.tick()
        assert nova.calls[-1] == ('list', '2026-01-01T00:00:00Z')


def test_deleted_in_the_listing_or_404_is_gone(nova):
    a, b = nova.put('a'), nova.put('b')
    watcher = _watcher(nova)
    with contextlib_follow(watcher, [a, b]) as (wa, wb):
        nova.put('a', updated='2026-01-01T00:00:59Z', status='DELETED',
                 vm_state='deleted')
        watcher.tick()
        with pytest.raises(exception.InstanceNotFound):
            wa.next(0)
        del nova.instances['b']                  # purged: 404 on a GET
        nova.fail_listing = exception.NovaError(reason='HTTP 500')
        watcher.tick()
        with pytest.raises(exception.InstanceNotFound):
            wb.next(0)


def test_a_failed_listing_falls_back_to_one_get_each(nova, caplog):
    a, b = nova.put('a'), nova.put('b')
    watcher = _watcher(nova)
    with contextlib_follow(watcher, [a, b]) as (wa, wb):
        nova.fail_listing = exception.NovaUnavailable(reason='timed out')
        nova.put('a', updated='2026-01-01T00:00:59Z', host='hostB')
        nova.fail_get['b'] = exception.NovaError(reason='HTTP 503')
        watcher.tick()
        assert nova.count('list') == 1 and nova.count('get') == 2
        assert watcher.listing_failures == 1
        assert wa.next(0).host == 'hostB'
        # b could not be read: unknown, neither changed nor gone
        assert wb.fresh is False and wb.gone is False
        assert wb.latest == b
        assert 'reading the 2 followed instance(s) one by one' in caplog.text
        # the next round lists again
        nova.fail_listing = None
        watcher.tick()
        assert nova.count('list') == 2 and nova.count('get') == 2


def test_an_instance_no_listing_shows_is_read_directly(nova):
    """The safety net: a listing that would miss a change (clocks far
    apart) delays a confirmation, never loses it."""
    clock = fakes.Clock()
    inst = nova.put('i1')
    watcher = _watcher(nova, clock=clock)
    with watcher.follow('i1', inst) as watch:
        nova.put('i1', updated='2025-01-01T00:00:00Z', host='hostB')
        watcher.tick()
        assert nova.count('get') == 0 and not watch.fresh
        clock.advance(watcher.direct_after)
        watcher.tick()
        assert nova.count('get') == 1
        assert watch.next(0).host == 'hostB'


def test_direct_watcher_reads_each_instance(nova):
    inst = nova.put('i1')
    watcher = confirm.Watcher.direct(nova, 0.5)
    with watcher.follow('i1', inst) as watch:
        assert watch.next(0) == inst             # unchanged after the wait
        assert nova.calls == [('get', 'i1')]


def test_background_watcher_wakes_the_waiting_task(nova):
    inst = nova.put('i1')
    watcher = confirm.Watcher(nova, 0.01, utcnow=lambda: NOW)
    with watcher.follow('i1', inst) as watch:
        landed = threading.Timer(0.05, nova.put, ('i1',), dict(
            updated='2026-01-01T00:00:59Z', host='hostB'))
        landed.start()
        got = watch.next(30)
        landed.join()
    assert got.host == 'hostB'
    assert nova.count('get') == 0 and nova.count('list') >= 1


def test_background_watcher_times_out_with_the_last_state(nova):
    inst = nova.put('i1')
    watcher = confirm.Watcher(nova, 0.01, utcnow=lambda: NOW)
    with watcher.follow('i1', inst) as watch:
        assert watch.next(0.05) == inst


def test_a_recovery_confirms_through_listings(make_recoverer, compute):
    """Issue 16: no instance is read on its own: the host listing that
    planned the recovery answers the check before each evacuate request
    (vmha.context.Listing), then listings confirm."""
    compute.rebuild_polls = 3
    for n in range(6):
        compute.add_instance('i%d' % n)
    recoverer = make_recoverer()
    report = recoverer.recover(HOST, level=2)
    assert report.state == db_api.COMPLETED
    assert compute.calls_of('get_instance') == []
    assert len(compute.calls_of('list_instances')) == 1
    assert compute.calls_of('list_changed_instances')
    assert recoverer.watcher.direct_reads == 0


def test_a_recovery_survives_failing_listings(make_recoverer, compute):
    """Every listing fails: the watcher reads each instance instead, and
    the recovery completes."""
    compute.fail['list_changed_instances'] = exception.NovaError(
        reason='HTTP 403 policy does not allow all_tenants')
    for n in range(3):
        compute.add_instance('i%d' % n)
    recoverer = make_recoverer()
    report = recoverer.recover(HOST, level=2)
    assert report.state == db_api.COMPLETED
    assert recoverer.watcher.listing_failures >= 1
    assert recoverer.watcher.direct_reads >= 3


def test_a_timeout_is_per_instance(make_recoverer, compute, conf):
    """One instance that never lands fails at its own deadline; the others
    are confirmed."""
    conf.set_override('confirm_timeout', 1, 'evacuation')
    for n in range(3):
        compute.add_instance('i%d' % n)
    compute.never_lands.add('i1')
    report = make_recoverer().recover(HOST, level=2)
    status = {e['instance_id']: e['status'] for e in report.evacuations}
    assert status == {'i0': db_api.EVAC_DONE, 'i1': db_api.EVAC_FAILED,
                      'i2': db_api.EVAC_DONE}
    [failed] = [e for e in report.evacuations if e['instance_id'] == 'i1']
    assert 'did not complete its evacuation within 1s' in failed['reason']


@pytest.mark.parametrize('vm_state, end_stopped', [
    ('stopped', True), ('stopped', False), ('error', True)])
def test_states_are_kept_through_the_watcher(make_recoverer, compute,
                                             vm_state, end_stopped):
    compute.end_stopped = compute.evacuates_to_stopped = end_stopped
    compute.add_instance('s1', vm_state=vm_state)
    compute.add_instance('a1')
    report = make_recoverer().recover(HOST, level=2)
    assert report.state == db_api.COMPLETED
    assert compute.instances['s1']['vm_state'] == vm_state
    assert compute.instances['a1']['vm_state'] == 'active'
    assert not [c for c in compute.calls_of('start') if c[1] == 's1']


def test_instance_dataclass_reads_updated():
    server = type('S', (), {'id': 'x', 'name': 'n', 'status': 'DELETED',
                            'updated': '2026-01-01T00:00:00Z',
                            'OS-EXT-STS:vm_state': 'deleted'})()
    inst = compute.Instance.from_nova(server)
    assert inst.updated == '2026-01-01T00:00:00Z'
    assert inst.deleted
    assert not dataclasses.replace(inst, status='ACTIVE',
                                   vm_state='active').deleted


def test_parse_nova_time():
    assert confirm.parse_nova_time('2026-01-01T00:00:05Z') == \
        datetime.datetime(2026, 1, 1, 0, 0, 5)
    assert confirm.parse_nova_time('2026-01-01T01:00:05+01:00') == \
        datetime.datetime(2026, 1, 1, 0, 0, 5)
    assert confirm.parse_nova_time('garbage') is None
    assert confirm.parse_nova_time(None) is None


def test_an_unexpected_listing_error_still_confirms_by_one_get_each(nova):
    """A compute API without the listing (an embedding service's own, an
    older fake) or a bug in it must not stall confirmation: the round reads
    each instance instead (the jobboard functional tests found this)."""
    a = nova.put('a')
    watcher = _watcher(nova)
    with contextlib_follow(watcher, [a]) as (wa,):
        nova.fail_listing = AttributeError('no list_changed_instances')
        nova.put('a', updated='2026-01-01T00:00:59Z', host='hostB')
        watcher.tick()
        assert watcher.listing_failures == 1 and nova.count('get') == 1
        assert wa.next(0).host == 'hostB'


def test_a_listing_sent_before_the_task_followed_tells_it_nothing(nova):
    """A listing already on its way when an evacuate call returned shows
    the instance as it was before that call: on the failed host with no
    task state, which the task would take for "the rebuild ended on the
    failed host". A round hands its answers only to the watches it listed
    for (those that followed before it was sent)."""
    clock = fakes.Clock()
    stale = nova.put('a')                       # before the evacuate call
    watcher = _watcher(nova, clock=clock)
    followed = {}
    real_list = nova.list_changed_instances

    def listing_overtaken_by_a_follow(since):
        answer = real_list(since)               # Nova answered...
        clock.advance(0.1)                      # ...the task followed
        followed['cm'] = contextlib_follow(
            watcher, [dataclasses.replace(stale, task_state='rebuilding')])
        followed['watches'] = followed['cm'].__enter__()
        return answer

    with contextlib_follow(watcher, [nova.put('other')]):
        nova.list_changed_instances = listing_overtaken_by_a_follow
        watcher.tick()
        (wa,) = followed['watches']
        assert wa.fresh is False and wa.latest.task_state == 'rebuilding'
        nova.list_changed_instances = real_list
        clock.advance(0.5)
        nova.put('a', updated='2026-01-01T00:00:59Z', host='hostB')
        watcher.tick()                          # sent after: it counts
        assert wa.fresh is True and wa.latest.host == 'hostB'
        followed['cm'].__exit__(None, None, None)
