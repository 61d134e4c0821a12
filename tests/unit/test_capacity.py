"""Capacity: NoValidHost evacuations wait and are retried; reserved hosts."""

import dataclasses
import datetime
import threading

import pytest

from vmha import capacity
from vmha import compute as compute_mod
from vmha.db import api as db_api
from vmha import events
from vmha import exception
from vmha import inventory
from vmha import metrics
from vmha import reserved
from vmha.tasks import evacuation
from vmha.tasks import instances
from vmha.tasks import record
from tests.unit.conftest import HOST
from tests.unit import fakes

NO_VALID_HOST = ('No valid host was found. There are not enough hosts '
                 'available.')


class RoomyCompute(fakes.FakeCompute):
    """FakeCompute whose evacuations need room, as Nova's scheduler does.

    A target is usable when its service is enabled, up, not forced down,
    not the source, and has room (``room``: host -> free slots; missing:
    unlimited). Without a usable target, Nova accepts the evacuation and
    gives up: migration ``error``, vm_state ERROR, fault NoValidHost, the
    instance still on the failed host (nova/conductor/manager.py).
    """

    def __init__(self, hosts=('hostA', 'hostB', 'hostC'), room=None,
                 **kwargs):
        super().__init__(hosts=hosts, **kwargs)
        self.room = dict(room or {})
        self.faults = {}
        self.aggregates = {}        # id -> (name, set of hosts)

    def usable(self, host, source):
        svc = self.services.get(host)
        return (svc is not None and host != source
                and svc['status'] == 'enabled' and svc['state'] == 'up'
                and not svc['forced_down'] and self.room.get(host, 1) > 0)

    def evacuate(self, iid, target_host=None, on_shared_storage=False):
        self._record('evacuate', iid, target_host)
        source = self.instances[iid]['host']
        candidates = [target_host] if target_host else sorted(self.services)
        usable = [h for h in candidates if self.usable(h, source)]
        with self.mutex:
            if not usable:
                self.instances[iid].update(vm_state='error', task_state=None)
                self.faults[iid] = NO_VALID_HOST
                self.migrations.setdefault(iid, []).insert(
                    0, fakes.FakeMigration(
                        source_compute=source, status='error',
                        created_at=db_api.utcnow().isoformat()))
                return
            host = usable[0]
            if host in self.room:
                self.room[host] -= 1
            self.instances[iid]['task_state'] = 'rebuilding'
            self._pending[iid] = {'polls': self.rebuild_polls,
                                  'target': host}

    def _inst(self, data):
        return dataclasses.replace(super()._inst(data),
                                   fault=self.faults.get(data['id']))

    def host_aggregates(self, host):
        self._record('host_aggregates', host)
        return {aid: name for aid, (name, hosts) in self.aggregates.items()
                if host in hosts}

    def add_to_aggregate(self, aggregate_id, host):
        self._record('add_to_aggregate', aggregate_id, host)
        self.aggregates[aggregate_id][1].add(host)


@pytest.fixture
def nova():
    """hostA failed; hostB and hostC disabled: no room anywhere."""
    fc = RoomyCompute()
    fc.add_instance('i-active')
    fc.add_instance('i-stopped', vm_state='stopped')
    for host in ('hostB', 'hostC'):
        fc.services[host]['status'] = 'disabled'
    return fc


@pytest.fixture
def recoverer(make_recoverer, nova, db):
    db.add_host(inventory.HostSpec(name=HOST))
    return make_recoverer(compute=nova)


def _statuses(db, recovery_id):
    return {e.instance_id: e.status for e in db.list_evacuations(recovery_id)}


def _where(nova):
    return {iid: (i['host'], i['vm_state'], i['task_state'])
            for iid, i in nova.instances.items()}


def _recover_without_room(recoverer, db, dispatcher):
    report = recoverer.recover(HOST, level=2)
    assert report.state == db_api.COMPLETED_WITH_ERRORS
    assert _statuses(db, report.id) == {'i-active': db_api.EVAC_WAITING,
                                        'i-stopped': db_api.EVAC_WAITING}
    return report


# -- recognising NoValidHost -------------------------------------------------

@pytest.mark.parametrize('err, expected', [
    (exception.EvacuateRefused(instance='i', reason='HTTP 400 No valid host '
                               'was found. (Request-ID: req-1)'), True),
    (exception.EvacuationFailed(instance='i', reason='rebuild ended on the '
                                'failed host in state error (%s)'
                                % NO_VALID_HOST), True),
    (exception.EvacuationFailed(instance='i', reason='landed in state '
                                'paused'), False),
    (exception.EvacuateRefused(instance='i', reason='HTTP 409 Cannot '
                               "'evacuate' instance while it is in "
                               'task_state rebuilding'), False),
])
def test_is_no_valid_host(err, expected):
    assert capacity.is_no_valid_host(err) is expected


# -- back-off ----------------------------------------------------------------

def _capacity_conf(**values):
    base = dict(retry_interval=60, retry_max_interval=900,
                retry_max_attempts=5, retry_max_age=3600)
    base.update(values)
    return type('CapacityConf', (), base)


T0 = datetime.datetime(2026, 1, 1, 12, 0, 0)


def _later(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def test_next_retry_doubles_up_to_the_max_interval():
    conf = _capacity_conf()
    assert capacity.next_retry(conf, 0, T0, T0) == _later(60)
    assert capacity.next_retry(conf, 1, T0, T0) == _later(120)
    assert capacity.next_retry(conf, 3, T0, T0) == _later(480)
    assert capacity.next_retry(conf, 4, T0, T0) == _later(900)


def test_next_retry_stops_after_max_attempts_and_age():
    conf = _capacity_conf()
    assert capacity.next_retry(conf, 5, T0, T0) is None
    assert capacity.next_retry(conf, 0, T0, _later(3550)) is None
    assert capacity.next_retry(conf, 0, T0, _later(3500)) == _later(3560)
    unlimited = _capacity_conf(retry_max_attempts=0, retry_max_age=0)
    assert capacity.next_retry(unlimited, 500, T0, T0) == _later(900)


# -- capacity changed --------------------------------------------------------

def _svc(host, status='enabled', state='up', forced_down=False):
    return compute_mod.Service(id=host, host=host, binary='nova-compute',
                               status=status, state=state,
                               forced_down=forced_down)


def test_capacity_changed():
    before = [_svc('hostA', state='down', forced_down=True),
              _svc('hostB', status='disabled'), _svc('hostC')]
    assert not capacity.capacity_changed(before, before)
    assert not capacity.capacity_changed(before, before[1:])  # one gone
    assert capacity.capacity_changed(before, before + [_svc('hostD')])
    assert capacity.capacity_changed(
        before, [before[0], _svc('hostB'), before[2]])        # enabled
    assert capacity.capacity_changed(
        [_svc('hostB', state='down')], [_svc('hostB')])       # up again
    assert not capacity.capacity_changed(
        before, before + [_svc('hostD', status='disabled')])


# -- NoValidHost during a recovery -------------------------------------------

def test_no_room_waits_keeping_the_original_state(recoverer, nova, db,
                                                   dispatcher, conf):
    before = db_api.utcnow()
    report = _recover_without_room(recoverer, db, dispatcher)
    for evac in report.evacuations:
        assert evac['reason'].startswith('no capacity (')
        assert NO_VALID_HOST in evac['reason']
        assert 'next automatic retry at' in evac['reason']
    rows = {e.instance_id: e for e in db.list_evacuations(report.id)}
    assert rows['i-active'].original_vm_state == 'active'
    assert rows['i-stopped'].original_vm_state == 'stopped'
    for row in rows.values():
        assert row.waiting_since >= before
        assert row.retries == 0
        wait = (row.next_retry_at - row.waiting_since).total_seconds()
        assert 0 < wait <= conf.capacity.retry_interval + 5
    # Nova set them ERROR, still on the failed host
    assert _where(nova) == {'i-active': ('hostA', 'error', None),
                            'i-stopped': ('hostA', 'error', None)}
    waiting = dispatcher.of_type(events.INSTANCE_EVACUATE_WAITING)
    assert sorted(e.payload['instance_id'] for e in waiting) == [
        'i-active', 'i-stopped']
    assert {e.payload['original_vm_state'] for e in waiting} == {
        'active', 'stopped'}
    assert not dispatcher.of_type(events.INSTANCE_EVACUATE_FAILED)
    [end] = dispatcher.of_type(events.RECOVERY_COMPLETED_WITH_ERRORS)
    assert end.payload['waiting'] == 2
    assert 'no capacity' in end.payload['error']


def test_refused_at_once_for_no_valid_host_waits_too(make_ctx, db, nova):
    nova.fail_evacuate['i-active'] = exception.EvacuateRefused(
        instance='i-active', reason='HTTP 400 ' + NO_VALID_HOST)
    ctx = make_ctx(compute=nova)
    entry = {e['id']: e for e in
             instances.ListInstances(ctx).execute()}['i-active']
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_WAITING
    assert db.get_evacuation(ctx.recovery_id,
                             'i-active').status == db_api.EVAC_WAITING


def test_other_refusals_still_fail(make_ctx, db, nova):
    nova.fail_evacuate = {}
    nova.services['hostB']['status'] = 'enabled'
    ctx = make_ctx(compute=nova)
    nova.fail['evacuate'] = exception.EvacuateRefused(
        instance='i-active', reason='HTTP 409 task_state rebuilding')
    entry = {e['id']: e for e in
             instances.ListInstances(ctx).execute()}['i-active']
    result = evacuation.EvacuateInstance(ctx, entry).execute()
    assert result['status'] == db_api.EVAC_FAILED


def test_waiting_counts_as_left_behind():
    rows = [type('R', (), dict(status=db_api.EVAC_WAITING, instance_name='a',
                               instance_id='1', reason='no capacity'))]
    assert record.summarize(rows)[0] == db_api.COMPLETED_WITH_ERRORS
    assert 'no capacity' in record.left_behind(rows)


# -- retries -----------------------------------------------------------------

def test_retry_after_a_host_returns_restores_the_original_states(
        recoverer, nova, db, dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    nova.services['hostB']['status'] = 'enabled'
    nova.calls.clear()
    dispatcher.events.clear()
    first = metrics.REGISTRY.get_sample_value(
        'vmha_recoveries_total',
        {'level': '2', 'outcome': db_api.COMPLETED}) or 0.0
    retries = metrics.REGISTRY.get_sample_value(
        'vmha_recovery_retries_total',
        {'level': '2', 'outcome': db_api.COMPLETED}) or 0.0
    [retried] = capacity.retry_waiting(recoverer)
    assert retried.id == report.id
    # the retry's outcome is counted; the recovery's first one stays
    assert metrics.REGISTRY.get_sample_value(
        'vmha_recovery_retries_total',
        {'level': '2', 'outcome': db_api.COMPLETED}) == retries + 1
    assert (metrics.REGISTRY.get_sample_value(
        'vmha_recoveries_total',
        {'level': '2', 'outcome': db_api.COMPLETED}) or 0.0) == first
    assert retried.state == db_api.COMPLETED
    assert db.get_recovery(report.id).state == db_api.COMPLETED
    assert _where(nova) == {'i-active': ('hostB', 'active', None),
                            'i-stopped': ('hostB', 'stopped', None)}
    # reset from Nova's ERROR before evacuating, never restored to ERROR
    assert sorted(nova.calls_of('reset_state')) == [
        ('reset_state', 'i-active', 'active'),
        ('reset_state', 'i-stopped', 'active')]
    assert nova.calls_of('stop') == [('stop', 'i-stopped')]
    rows = {e.instance_id: e for e in db.list_evacuations(report.id)}
    assert all(r.status == db_api.EVAC_DONE and r.retries == 1
               and r.evacuate_calls == 2 for r in rows.values())
    types = dispatcher.types()
    assert types[0] == events.RECOVERY_RETRY_STARTED
    assert types.count(events.INSTANCE_EVACUATED) == 2
    assert types[-1] == events.RECOVERY_COMPLETED
    assert capacity.retry_waiting(recoverer) == []   # nothing left


def test_retry_goes_on_when_the_reset_fails(recoverer, nova, db,
                                            dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    nova.services['hostB']['status'] = 'enabled'
    nova.fail['reset_state'] = exception.NovaError(reason='HTTP 500')
    [done] = capacity.retry_waiting(recoverer)
    assert done.state == db_api.COMPLETED
    # Nova evacuated them from ERROR; the original states are restored
    assert _where(nova) == {'i-active': ('hostB', 'active', None),
                            'i-stopped': ('hostB', 'stopped', None)}
    assert db.get_evacuation(report.id, 'i-stopped').status == (
        db_api.EVAC_DONE)


def test_original_error_instance_comes_back_in_error(recoverer, nova, db,
                                                     dispatcher):
    nova.add_instance('i-error', vm_state='error')
    report = recoverer.recover(HOST, level=2)
    assert _statuses(db, report.id)['i-error'] == db_api.EVAC_WAITING
    nova.services['hostC']['status'] = 'enabled'
    nova.calls.clear()
    capacity.retry_waiting(recoverer)
    assert _where(nova)['i-error'] == ('hostC', 'error', None)
    assert ('reset_state', 'i-error', 'active') not in nova.calls
    assert ('reset_state', 'i-error', 'error') in nova.calls


def test_retry_without_room_waits_again_with_a_longer_back_off(
        recoverer, nova, db, dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    first = db.get_evacuation(report.id, 'i-active')
    [again] = capacity.retry_waiting(recoverer)
    assert again.state == db_api.COMPLETED_WITH_ERRORS
    row = db.get_evacuation(report.id, 'i-active')
    assert row.status == db_api.EVAC_WAITING
    assert row.retries == 1
    assert row.waiting_since == first.waiting_since
    assert (row.next_retry_at - first.next_retry_at).total_seconds() >= 60
    assert row.original_vm_state == 'active'


def test_retry_filters_by_recovery_and_host(recoverer, nova, db, dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    nova.services['hostB']['status'] = 'enabled'
    assert capacity.retry_waiting(recoverer, host='hostB') == []
    assert capacity.retry_waiting(recoverer, recovery_id='other') == []
    assert not nova.calls_of('reset_state')
    [done] = capacity.retry_waiting(recoverer, recovery_id=report.id)
    assert done.state == db_api.COMPLETED


def test_retry_leaves_a_recovery_another_process_retries(recoverer, nova,
                                                         db, dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    assert db.take_lease(report.id, 'other-monitor', 60)
    nova.services['hostB']['status'] = 'enabled'
    nova.calls.clear()
    assert capacity.retry_waiting(recoverer) == []
    assert not nova.calls_of('evacuate')
    assert set(_statuses(db, report.id).values()) == {db_api.EVAC_WAITING}


def test_retry_releases_the_lease(recoverer, nova, db, dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    capacity.retry_waiting(recoverer)
    assert db.get_recovery(report.id).lease_owner is None


def test_retry_waits_while_the_host_is_recovered_again(recoverer, nova, db,
                                                       dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    db.create_recovery('again', HOST, 2)
    nova.services['hostB']['status'] = 'enabled'
    nova.calls.clear()
    assert capacity.retry_waiting(recoverer) == []
    assert not nova.calls_of('evacuate')
    assert set(_statuses(db, report.id).values()) == {db_api.EVAC_WAITING}


def test_retry_when_the_failed_host_came_back_records_the_truth(
        recoverer, nova, db, dispatcher):
    _recover_without_room(recoverer, db, dispatcher)
    nova.services[HOST].update(state='up', forced_down=False,
                               status='enabled')
    nova.calls.clear()
    [done] = capacity.retry_waiting(recoverer)
    assert done.state == db_api.COMPLETED_WITH_ERRORS
    assert not nova.calls_of('evacuate') and not nova.calls_of('reset_state')
    for evac in done.evacuations:
        assert evac['status'] == db_api.EVAC_FAILED
        assert 'back in service' in evac['reason']
    assert len(dispatcher.of_type(events.INSTANCE_EVACUATE_FAILED)) == 2


def test_retry_of_one_recovery_failing_leaves_it_waiting(recoverer, nova,
                                                         db, dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    nova.services['hostB']['status'] = 'enabled'
    nova.fail['get_service'] = exception.NovaError(reason='HTTP 503')
    assert capacity.retry_waiting(recoverer) == []
    assert set(_statuses(db, report.id).values()) == {db_api.EVAC_WAITING}
    assert db.get_recovery(report.id).lease_owner is None
    del nova.fail['get_service']
    [done] = capacity.retry_waiting(recoverer)
    assert done.state == db_api.COMPLETED


def test_retry_resumes_an_evacuation_a_dead_retrier_left(recoverer, nova,
                                                         db, dispatcher):
    """A retrier died after it marked the instance evacuating: the next
    retry (once its lease expired) takes it over, and the task sees the
    evacuation it requested instead of asking Nova again."""
    report = _recover_without_room(recoverer, db, dispatcher)
    nova.services['hostB']['status'] = 'enabled'
    db.save_evacuation(report.id, 'i-active',
                       status=db_api.EVAC_IN_PROGRESS, next_retry_at=None)
    nova.reset_state('i-active', 'active')
    nova.start_rebuild('i-active', target='hostB')   # it did reach Nova
    nova.calls.clear()
    waiting = db.waiting_evacuations(due=db_api.utcnow()
                                     - datetime.timedelta(hours=1))
    assert [r.instance_id for r in waiting] == ['i-active']
    [done] = capacity.retry_waiting(recoverer)
    assert done.state == db_api.COMPLETED
    assert [c[1] for c in nova.calls_of('evacuate')] == ['i-stopped']


def test_waiting_evacuations_only_of_finished_recoveries(make_ctx, db, nova):
    ctx = make_ctx(compute=nova)     # a running recovery
    instances.ListInstances(ctx).execute()
    db.save_evacuation(ctx.recovery_id, 'i-active',
                       status=db_api.EVAC_WAITING,
                       waiting_since=db_api.utcnow(),
                       next_retry_at=db_api.utcnow())
    assert db.waiting_evacuations() == []
    db.update_recovery(ctx.recovery_id, state=db_api.COMPLETED_WITH_ERRORS)
    assert [r.instance_id for r in db.waiting_evacuations()] == ['i-active']
    past = db_api.utcnow() - datetime.timedelta(minutes=5)
    assert db.waiting_evacuations(due=past) == []
    assert db.waiting_evacuations(host='hostB') == []


# -- reserved hosts ----------------------------------------------------------

def _spare(db, nova, name='hostC'):
    db.add_host(inventory.HostSpec(name=name, reserved=True))
    nova.services[name]['status'] = 'disabled'


def test_reserved_host_takes_the_instances(recoverer, nova, db, dispatcher):
    _spare(db, nova)
    report = recoverer.recover(HOST, level=2)
    assert report.state == db_api.COMPLETED
    assert _where(nova) == {'i-active': ('hostC', 'active', None),
                            'i-stopped': ('hostC', 'stopped', None)}
    assert nova.calls_of('enable') == [('enable', 'hostC')]
    assert nova.services['hostC']['status'] == 'enabled'
    assert db.get_host('hostC').reserved_for == report.id
    [enabled] = dispatcher.of_type(events.RESERVED_HOST_ENABLED)
    assert enabled.payload['target_host'] == 'hostC'
    # the first NoValidHost enabled the spare and retried to it by name,
    # after Nova's ERROR was reset; the other instance may have found it
    # through the scheduler already
    targets = [c[2] for c in nova.calls_of('evacuate')]
    assert targets[0] is None and 'hostC' in targets
    assert sorted(nova.calls_of('reset_state')) == sorted(
        ('reset_state', c[1], 'active') for c in nova.calls_of('evacuate')
        if c[2] == 'hostC')
    assert all(e['target_host'] == 'hostC' for e in report.evacuations)
    assert not dispatcher.of_type(events.INSTANCE_EVACUATE_WAITING)


def test_reserved_hosts_off(recoverer, nova, db, dispatcher, conf):
    conf.set_override('use_reserved_hosts', False, 'capacity')
    _spare(db, nova)
    _recover_without_room(recoverer, db, dispatcher)
    assert not nova.calls_of('enable')
    assert db.get_host('hostC').reserved_for is None


def test_full_spare_leads_to_the_next_one(recoverer, nova, db, dispatcher):
    nova.services['hostD'] = {'state': 'up', 'status': 'disabled',
                              'forced_down': False}
    _spare(db, nova, 'hostC')
    _spare(db, nova, 'hostD')
    nova.room['hostC'] = 1
    report = recoverer.recover(HOST, level=2)
    assert report.state == db_api.COMPLETED
    hosts = sorted(i['host'] for i in nova.instances.values())
    assert hosts == ['hostC', 'hostD']
    assert {db.get_host(h).reserved_for for h in ('hostC', 'hostD')} == {
        report.id}


def test_spare_whose_service_is_down_is_given_back(recoverer, nova, db,
                                                   dispatcher):
    _spare(db, nova)
    nova.services['hostC']['state'] = 'down'
    report = _recover_without_room(recoverer, db, dispatcher)
    assert not nova.calls_of('enable')
    assert db.get_host('hostC').reserved_for is None
    failed = dispatcher.of_type(events.RESERVED_HOST_FAILED)
    assert failed and 'down' in failed[0].payload['error']
    assert report.state == db_api.COMPLETED_WITH_ERRORS


def test_spare_joins_the_failed_hosts_aggregates(recoverer, nova, db, conf):
    conf.set_override('reserved_host_aggregates', True, 'capacity')
    nova.aggregates = {'1': ('ssd', {HOST, 'hostB'}),
                       '2': ('gpu', {HOST, 'hostC'}),
                       '3': ('other', {'hostB'})}
    _spare(db, nova)
    report = recoverer.recover(HOST, level=2)
    assert report.state == db_api.COMPLETED
    assert nova.calls_of('add_to_aggregate') == [
        ('add_to_aggregate', '1', 'hostC')]
    # aggregates first, then the service is enabled
    names = [c[0] for c in nova.calls]
    assert names.index('add_to_aggregate') < names.index('enable')


def test_a_spare_is_never_claimed_twice(db):
    db.add_host(inventory.HostSpec(name='spare1', reserved=True))
    db.add_host(inventory.HostSpec(name='busy', reserved=True,
                                   maintenance=True))
    for rid in ('r1', 'r2'):
        db.create_recovery(rid, 'host-' + rid, 2)
    got = []
    barrier = threading.Barrier(8)

    def claim(rid):
        barrier.wait()
        got.append(db.claim_reserved_host(rid))

    threads = [threading.Thread(target=claim, args=('r%d' % (n % 2 + 1),))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert (got.count('spare1'), got.count(None)) == (1, 7)
    owner = db.get_host('spare1').reserved_for
    assert owner in ('r1', 'r2')
    assert db.reserved_hosts_of(owner) == ['spare1']
    db.release_reserved_host('spare1', 'not-the-owner')
    assert db.get_host('spare1').reserved_for == owner
    db.release_reserved_host('spare1', owner)
    assert db.claim_reserved_host('r1', exclude=('spare1',)) is None
    assert db.claim_reserved_host('r1') == 'spare1'


def test_room_for_reuses_the_recoverys_spare(make_ctx, nova, db,
                                             dispatcher):
    _spare(db, nova)
    ctx = make_ctx(compute=nova)
    assert reserved.room_for(ctx) == 'hostC'
    assert reserved.room_for(ctx) == 'hostC'
    assert reserved.room_for(ctx, tried=['hostC']) is None
    assert nova.calls_of('enable') == [('enable', 'hostC')]
    assert len(dispatcher.of_type(events.RESERVED_HOST_ENABLED)) == 1


def test_room_for_enables_a_spare_claimed_before_a_crash(make_ctx, nova, db,
                                                         dispatcher):
    """Claimed, then the process died before enabling it: the resumed
    recovery enables it rather than evacuating to a disabled host."""
    _spare(db, nova)
    ctx = make_ctx(compute=nova)
    assert db.claim_reserved_host(ctx.recovery_id) == 'hostC'
    assert reserved.room_for(ctx) == 'hostC'
    assert nova.services['hostC']['status'] == 'enabled'


# -- the monitor's hook ------------------------------------------------------

def test_scheduler_does_nothing_while_nothing_waits(recoverer, nova):
    scheduler = capacity.RetryScheduler(recoverer, background=False)
    assert scheduler.tick() is None
    assert not nova.calls_of('list_services')


def test_scheduler_retries_on_back_off_when_due(recoverer, nova, db,
                                                dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    now = [db_api.utcnow()]
    scheduler = capacity.RetryScheduler(recoverer, background=False,
                                        clock=lambda: now[0])
    assert scheduler.tick() is None          # not due yet
    nova.services['hostB']['status'] = 'enabled'
    now[0] += datetime.timedelta(hours=1)
    # the first tick with services only sets the baseline: the back-off
    # is what triggers here
    scheduler._services = None
    assert scheduler.tick() == capacity.TRIGGER_BACKOFF
    assert db.get_recovery(report.id).state == db_api.COMPLETED


def test_scheduler_retries_when_a_host_is_enabled(recoverer, nova, db,
                                                  dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    scheduler = capacity.RetryScheduler(recoverer, background=False)
    assert scheduler.tick() is None          # baseline, nothing due
    nova.services['hostB']['status'] = 'enabled'
    assert scheduler.tick() == capacity.TRIGGER_CAPACITY
    assert db.get_recovery(report.id).state == db_api.COMPLETED


def test_scheduler_uses_the_services_it_is_given(recoverer, nova, db,
                                                 dispatcher):
    _recover_without_room(recoverer, db, dispatcher)
    scheduler = capacity.RetryScheduler(recoverer, background=False)
    services = nova.list_services()
    nova.calls.clear()
    assert scheduler.tick(services) is None
    assert not nova.calls_of('list_services')


def test_scheduler_runs_in_the_background_one_at_a_time(recoverer, nova, db,
                                                        dispatcher):
    report = _recover_without_room(recoverer, db, dispatcher)
    scheduler = capacity.RetryScheduler(recoverer)
    scheduler.tick()
    nova.services['hostB']['status'] = 'enabled'
    gate = threading.Event()
    real = nova.evacuate

    def slow(*args, **kwargs):
        gate.wait(30)
        return real(*args, **kwargs)

    nova.evacuate = slow
    assert scheduler.tick() == capacity.TRIGGER_CAPACITY
    assert scheduler.busy
    assert scheduler.tick() is None          # one retry thread at a time
    gate.set()
    scheduler.join(30)
    assert not scheduler.busy
    assert db.get_recovery(report.id).state == db_api.COMPLETED


def test_scheduler_survives_nova_being_unreachable(recoverer, nova, db,
                                                   dispatcher):
    _recover_without_room(recoverer, db, dispatcher)
    scheduler = capacity.RetryScheduler(recoverer, background=False)
    nova.fail['list_services'] = exception.NovaUnavailable(reason='down')
    assert scheduler.tick() is None


# -- schema ------------------------------------------------------------------

def test_migration_0004_keeps_existing_rows(tmp_path):
    from vmha.db import migration
    url = 'sqlite:///%s' % (tmp_path / 'old.sqlite')
    migration.upgrade(url, '0002')
    old = db_api.Database(url)
    with old.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO hosts (name, bmc_options, maintenance, state, "
            "created_at) VALUES ('hostA', '{}', 0, 'healthy', "
            "'2026-01-01 00:00:00')")
    old.dispose()
    migration.upgrade(url, '0004')
    assert migration.current_revision(url) == '0004'
    migration.upgrade(url)
    db = db_api.Database(url)
    spec = db.get_host('hostA')
    assert (spec.reserved, spec.reserved_for) == (False, None)
    db.dispose()
    migration.upgrade(url)                    # idempotent
