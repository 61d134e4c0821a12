"""Recoverer: persistence and resume, guards, dry run, level choice."""

import dataclasses
import logging
import uuid

import pytest

from vmha import api
from vmha.context import RecoveryContext
from vmha.db import api as db_api
from vmha import events
from vmha import exception
from vmha import fencing
from vmha import flows
from vmha import inventory
from vmha import notifier
from vmha import policy
from vmha import recovery
from tests.unit import fakes
from tests.unit.conftest import HOST
from tests.unit.conftest import nova_calls


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in vmha or
    taskflow handles it and the recovery is left as a kill would leave it."""


class CrashingCompute(fakes.FakeCompute):
    """Dies once, on evacuating ``crash_on``: before or after Nova got it."""

    def __init__(self, crash_on, after_request=True, **kwargs):
        super().__init__(**kwargs)
        self.crash_on = crash_on
        self.after_request = after_request

    def evacuate(self, iid, target_host=None, on_shared_storage=False):
        crash = iid == self.crash_on
        if crash:
            self.crash_on = None
            if not self.after_request:
                raise Crash()
        super().evacuate(iid, target_host, on_shared_storage)
        if crash:
            raise Crash()


def _counts(compute):
    counts = {}
    for call in nova_calls(compute):
        key = call[0] if call[0] != 'evacuate' else 'evacuate:' + call[1]
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize('level', [1, 2])
@pytest.mark.parametrize('after_request', [True, False])
def test_resume_after_crash_mid_evacuation(make_recoverer, conf, db, driver,
                                           level, after_request):
    conf.set_override('max_workers', 2, 'evacuation')
    fc = CrashingCompute('i2', after_request=after_request)
    driver.journal = fc.calls
    iids = ['i%d' % n for n in range(5)]
    for iid in iids:
        fc.add_instance(iid)
    with pytest.raises(Crash):
        make_recoverer(compute=fc).recover(HOST, level=level,
                                           host_stopped=level == 1)
    [rec] = db.list_recoveries()
    assert rec.state == db_api.RUNNING
    assert db.get_evacuation(rec.id, 'i2').status == db_api.EVAC_IN_PROGRESS

    # a new process: new Recoverer, same database
    report = make_recoverer(compute=fc).resume(rec.id)
    assert report.state == db_api.COMPLETED, report.error
    counts = _counts(fc)
    for iid in iids:
        assert counts['evacuate:%s' % iid] == 1, iid
        assert fc.instances[iid]['host'] == 'hostB'
    assert counts['disable'] == 1
    assert counts['list_instances'] == 1
    assert counts['force_down'] == 1
    assert fc.calls.count(('fence.off', HOST)) == (0 if level == 1 else 1)
    row = db.get_evacuation(rec.id, 'i2')
    assert row.status == db_api.EVAC_DONE
    # the crash before Nova got the request cost one counted, unsent call
    assert row.evacuate_calls == (1 if after_request else 2)
    assert db.get_recovery(rec.id).owner == 'unit-test'


def test_resume_after_isolation_only(make_recoverer, conf, db, compute,
                                     driver, dispatcher, host_spec):
    """The process died right after the isolate flow was saved."""
    for iid in ('i1', 'i2', 'i3'):
        compute.add_instance(iid)
    first = make_recoverer()
    recovery_id = str(uuid.uuid4())
    db.create_recovery(recovery_id, HOST, 2)
    book = first._new_logbook(recovery_id)
    db.update_recovery(recovery_id, logbook_id=book.uuid,
                       state=db_api.RUNNING)
    ctx = RecoveryContext(conf=conf, compute=compute, db=db,
                          dispatcher=dispatcher,
                          fencer=fencing.Fencer.from_conf(conf, driver),
                          host=inventory.HostSpec(name=HOST),
                          recovery_id=recovery_id, level=2)
    first._run_flow(book, flows.isolate_flow(ctx), engine='serial')
    assert not compute.calls_of('evacuate')
    assert db.unfinished_recoveries()[0].id == recovery_id

    reports = make_recoverer().resume_all()
    assert [r.id for r in reports] == [recovery_id]
    assert reports[0].state == db_api.COMPLETED
    counts = _counts(compute)
    assert counts['force_down'] == 1
    assert counts['disable'] == 1
    assert counts['list_instances'] == 1
    assert driver.calls.count('off') == 1
    assert sorted(c[1] for c in compute.calls_of('evacuate')) == [
        'i1', 'i2', 'i3']
    assert db.unfinished_recoveries() == []


def test_resume_all_goes_on_past_a_recovery_that_cannot_resume(
        make_recoverer, db, compute, host_spec):
    """'ghost' needs a fencing driver that is not installed (it was
    uninstalled after the recovery was recorded): it cannot resume, 'r-ok'
    must still be finished."""
    compute.add_instance('i1')
    db.add_host(dataclasses.replace(host_spec, name='ghost',
                                    fencing_driver='not-installed'))
    db.create_recovery('r-broken', 'ghost', 2)
    db.create_recovery('r-ok', HOST, 2)   # died before saving its logbook
    reports = {r.id: r for r in
               make_recoverer(fencing_driver=None).resume_all()}
    assert set(reports) == {'r-broken', 'r-ok'}
    assert reports['r-ok'].state == db_api.COMPLETED
    assert reports['r-broken'].state not in db_api.FINAL_STATES
    assert [c[1] for c in compute.calls_of('evacuate')] == ['i1']
    assert [r.id for r in db.unfinished_recoveries()] == ['r-broken']
    assert db.get_recovery('r-broken').lease_owner is None   # released


def test_resume_with_crash_during_isolation(make_recoverer, db, compute,
                                            driver):
    class DiesOnDisable(fakes.FakeCompute):
        dead = False

        def disable(self, host, reason):
            if not self.dead:
                self.dead = True
                raise Crash()
            return super().disable(host, reason)

    fc = DiesOnDisable()
    driver.journal = fc.calls
    fc.add_instance('i1')
    with pytest.raises(Crash):
        make_recoverer(compute=fc).recover(HOST, level=2)
    [rec] = db.list_recoveries()
    assert rec.state == db_api.RUNNING
    report = make_recoverer(compute=fc).resume(rec.id)
    assert report.state == db_api.COMPLETED, report.error
    assert driver.calls.count('off') == 1
    assert len(fc.calls_of('force_down')) == 1
    assert len(fc.calls_of('disable')) == 1
    assert len(fc.calls_of('evacuate')) == 1


def test_resume_of_finished_recovery_is_noop(make_recoverer, compute, db,
                                             dispatcher):
    compute.add_instance('i1')
    report = make_recoverer().recover(HOST, level=2)
    calls = list(compute.calls)
    n_events = len(dispatcher.events)
    again = make_recoverer().resume(report.id)
    assert compute.calls == calls
    assert len(dispatcher.events) == n_events
    assert again.state == db_api.COMPLETED
    assert again.to_dict() == report.to_dict()


def test_resume_of_failed_recovery_is_noop(make_recoverer, compute, db):
    drv = fakes.FakeFencingDriver(stays_on=True)
    report = make_recoverer(fencing_driver=drv).recover(HOST, level=2)
    assert report.state == db_api.FAILED
    drv.stays_on = False
    again = make_recoverer(fencing_driver=drv).resume(report.id)
    assert again.state == db_api.FAILED
    assert drv.calls.count('off') == 1
    assert not compute.calls_of('evacuate')


def test_resume_unknown_recovery(make_recoverer):
    with pytest.raises(exception.NotFound):
        make_recoverer().resume('no-such-recovery')


def test_recovery_in_progress(make_recoverer, compute, db, driver):
    db.create_recovery('other', HOST, 2)
    with pytest.raises(exception.RecoveryInProgress) as err:
        make_recoverer().recover(HOST, level=2)
    assert 'other' in str(err.value) and HOST in str(err.value)
    assert compute.calls == [] and driver.calls == []
    assert [r.id for r in db.list_recoveries()] == ['other']


def test_maintenance_host_refused(make_recoverer, compute, db, driver,
                                  host_spec):
    host_spec.maintenance = True
    db.add_host(host_spec)
    with pytest.raises(exception.Conflict) as err:
        make_recoverer().recover(HOST)
    assert 'maintenance' in str(err.value)
    assert compute.calls == [] and driver.calls == []
    assert db.list_recoveries() == []
    with pytest.raises(exception.Conflict):
        make_recoverer().dry_run(HOST)


def test_bad_level_refused_before_anything(make_recoverer, compute, db):
    with pytest.raises(exception.ConfigError) as err:
        make_recoverer().recover(HOST, level=7)
    assert 'quick_evacuate_level' in str(err.value)
    assert db.list_recoveries() == [] and compute.calls == []


@pytest.mark.parametrize('level', [1, 2])
def test_uninstalled_fencing_driver_refused_before_recording(
        conf, db, compute, dispatcher, host_spec, make_recoverer, level):
    """A host whose driver cannot load must not leave a 'running' recovery
    behind (it would block every later recovery of the host)."""
    host_spec.fencing_driver = 'not-installed'
    db.add_host(host_spec)
    rec = recovery.Recoverer(conf, compute=compute, db=db,
                             dispatcher=dispatcher)
    try:
        with pytest.raises(exception.DriverNotFound) as err:
            rec.recover(HOST, level=level)
    finally:
        rec.backend.close()
    assert 'not-installed' in str(err.value)
    assert db.list_recoveries() == []
    assert db.host_state(HOST) == 'healthy'
    assert compute.calls == []
    # once fixed, the host can be recovered
    db.update_host(HOST, fencing_driver='noop')
    report = make_recoverer(fencing_driver=None).recover(HOST, level=level)
    assert report.state == db_api.COMPLETED


@pytest.mark.parametrize('conf_level, host_level, arg, expected', [
    (3, None, None, 3),       # [recovery] quick_evacuate_level
    (3, 1, None, 1),          # the host's own level wins over the option
    (3, 1, 2, 2),             # an explicit level wins over both
])
def test_level_choice(make_recoverer, conf, compute, db, host_spec,
                      conf_level, host_level, arg, expected):
    conf.set_override('quick_evacuate_level', conf_level, 'recovery')
    host_spec.level = host_level
    db.add_host(host_spec)
    compute.services[HOST]['state'] = 'down'
    report = make_recoverer().recover(HOST, level=arg)
    assert report.level == expected
    assert db.get_recovery(report.id).level == expected


def test_inventory_host_state_and_detected_at(make_recoverer, db, compute,
                                              host_spec):
    import datetime
    db.add_host(host_spec)
    detected = datetime.datetime(2020, 5, 1, 10, 0, 0)
    report = make_recoverer().recover(HOST, level=2, detected_at=detected)
    assert report.phases['detected_at'] == detected
    assert report.phases['started_at'] > detected
    assert db.host_state(HOST) == 'evacuated'


def test_events_recorded_and_delivered_through_dispatcher(conf, db, compute,
                                                          driver,
                                                          make_recoverer):
    listener = fakes.ListNotifier()
    dispatcher = notifier.Dispatcher({'list': listener}, record=db.add_event)
    compute.add_instance('i1')
    report = make_recoverer(dispatcher=dispatcher).recover(HOST, level=2)
    expected = [events.RECOVERY_STARTED, events.HOST_FENCED,
                events.SERVICE_FORCED_DOWN, events.SERVICE_DISABLED,
                events.INSTANCE_EVACUATE_STARTED, events.INSTANCE_EVACUATED,
                events.RECOVERY_COMPLETED]
    # recover() flushes: every event reached the driver before it returned
    assert [e.event_type for e in listener.events] == expected
    assert [e.event_type for e in db.list_events(recovery_id=report.id)] \
        == expected
    assert all(e.recovery_id == report.id and e.level == 2
               for e in listener.events)


def test_report_to_dict_is_json_ready(make_recoverer, compute):
    import json
    compute.add_instance('i1')
    data = make_recoverer().recover(HOST, level=2).to_dict()
    decoded = json.loads(json.dumps(data))
    assert decoded['state'] == db_api.COMPLETED
    assert decoded['phases']['fenced_at'] is not None
    assert decoded['evacuations'][0]['confirmed_at'] is not None


def test_api_recover_host_with_collaborators(conf, db, compute, driver,
                                             dispatcher):
    db.add_host(inventory.HostSpec(name=HOST))
    compute.add_instance('i1')
    report = api.recover_host(conf, HOST, level=2, compute=compute, db=db,
                              dispatcher=dispatcher, fencing_driver=driver,
                              detected_by='embedder')
    assert report.state == db_api.COMPLETED
    detected = dispatcher.events[0]
    assert detected.event_type == events.HOST_FAILURE_DETECTED
    assert (detected.recovery_id, detected.payload['source']) == (
        report.id, 'embedder')
    plan = api.recover_host(conf, HOST, level=2, dry_run=True,
                            compute=compute, db=db, dispatcher=dispatcher,
                            fencing_driver=driver)
    assert isinstance(plan, recovery.DryRunReport)


# -- dry run ------------------------------------------------------------------

def test_dry_run_plans_without_writing(make_recoverer, compute, driver, db,
                                       conf):
    conf.set_override('evacuate_all_instances', False, 'evacuation')
    compute.add_instance('ha1', metadata={'HA_Enabled': 'True'})
    compute.add_instance('plain')
    compute.add_instance('p1', vm_state='paused',
                         metadata={'HA_Enabled': 'True'})
    compute.add_instance('b1', vm_state='building',
                         metadata={'HA_Enabled': 'True'})
    report = make_recoverer().dry_run(HOST, level=2)
    assert report.steps == flows.steps(2)
    assert report.level == 2
    assert report.fencing_driver == 'fake'
    assert report.power_state == 'on'
    assert report.target_host == '(scheduler)'
    plan = {e['id']: e for e in report.instances}
    assert plan['ha1']['action'] == policy.EVACUATE
    assert plan['ha1']['reason'] is None
    assert plan['plain']['action'] == policy.SKIP
    assert 'evacuate_all_instances' in plan['plain']['reason']
    # the dry run says which instances are reset, and how they come back
    assert plan['p1']['action'] == policy.EVACUATE
    assert plan['p1']['reset_to'] == 'active'
    assert plan['p1']['restore'] == 'active'
    assert 'reset from vm_state paused' in plan['p1']['reason']
    assert plan['b1']['action'] == policy.LEAVE
    assert 'being built' in plan['b1']['reason']
    assert plan['ha1']['reset_to'] is None
    assert report.instances[0]['id'] == 'ha1'
    # reads only
    assert {c[0] for c in compute.calls} <= {'list_instances', 'get_service',
                                             'get_instance', 'fence.status'}
    assert set(driver.calls) == {'status'}
    assert db.list_recoveries() == []
    assert db.list_events() == []
    service = compute.services[HOST]
    assert (service['state'], service['status'], service['forced_down']) == (
        'up', 'enabled', False)


def test_dry_run_level1_and_fixed_target(make_recoverer, conf):
    conf.set_override('target_host_policy', 'fixed', 'evacuation')
    conf.set_override('target_hosts', {HOST: 'spare1'}, 'evacuation')
    report = make_recoverer().dry_run(HOST, level=1)
    assert report.fencing_driver == 'fake (only if force-down fails)'
    assert report.target_host == 'spare1'
    assert report.to_dict()['steps'] == flows.steps(1)


def test_dry_run_reports_bmc_error(make_recoverer, compute):
    drv = fakes.FakeFencingDriver(error=exception.BMCAuthError(
        host=HOST, bmc='192.0.2.10', reason='bad credentials'))
    report = make_recoverer(fencing_driver=drv).dry_run(HOST, level=2)
    assert report.power_state.startswith('error: ')
    assert 'refused the credentials' in report.power_state
    assert not compute.calls_of('evacuate')


def test_dry_run_validates_host(make_recoverer, db, host_spec):
    host_spec.bmc_port = 70000
    db.add_host(host_spec)
    with pytest.raises(exception.InvalidInput) as err:
        make_recoverer().dry_run(HOST)
    assert 'bmc_port' in str(err.value)


# -- hosts vmha would fence through defaults (issue 12) -----------------------

class NeedsAddress(fakes.FakeFencingDriver):
    required_fields = ('bmc_address',)


@pytest.mark.parametrize('dry_run', [False, True])
def test_host_missing_from_the_inventory_is_refused(conf, db, compute,
                                                    dispatcher, dry_run):
    """The evidence of issue 12: such a host was fenced through the
    default ipmi driver with no address, i.e. the local /dev/ipmi0."""
    conf.set_override('default_driver', 'ipmi', 'fencing')
    compute.add_instance('i1')
    rec = recovery.Recoverer(conf, compute=compute, db=db,
                             dispatcher=dispatcher)
    try:
        with pytest.raises(exception.HostNotFenceable) as err:
            if dry_run:
                rec.dry_run(HOST)
            else:
                rec.recover(HOST)
    finally:
        rec.close()
    assert "not in vmha's inventory" in str(err.value)
    assert db.list_recoveries() == [] and compute.calls == []
    assert dispatcher.events == []


@pytest.mark.parametrize('dry_run', [False, True])
def test_inventory_host_lacking_its_driver_fields_is_refused(
        make_recoverer, db, compute, dispatcher, dry_run):
    db.add_host(inventory.HostSpec(name=HOST))
    drv = NeedsAddress()
    rec = make_recoverer(fencing_driver=drv)
    with pytest.raises(exception.HostNotFenceable) as err:
        rec.dry_run(HOST) if dry_run else rec.record(HOST)
    assert 'fake needs bmc_address' in str(err.value)
    assert db.list_recoveries() == [] and compute.calls == []
    assert drv.calls == [] and dispatcher.events == []


def test_explicit_noop_on_an_inventory_host_is_allowed(make_recoverer, db,
                                                       compute):
    db.add_host(inventory.HostSpec(name=HOST, fencing_driver='noop'))
    report = make_recoverer(fencing_driver=None).recover(HOST, level=2)
    assert report.state == db_api.COMPLETED, report.error


def test_resumed_recovery_of_a_host_that_lost_its_details_is_not_fenced(
        make_recoverer, db, compute, dispatcher):
    """The inventory entry changed between record and run: the Fencer
    checks again, and the recovery fails without a BMC call."""
    drv = NeedsAddress()
    rec = make_recoverer(fencing_driver=drv)
    recovery_id = rec.record(HOST, level=2)
    db.update_host(HOST, bmc_address=None)
    report = rec.run(recovery_id)
    assert report.state == db_api.FAILED
    assert 'cannot be fenced' in report.error
    assert drv.calls == []
    assert not compute.calls_of('evacuate')


# -- secrets ------------------------------------------------------------------

@pytest.mark.parametrize('stays_on', [False, True])
def test_password_never_logged_during_recovery(make_recoverer, db, compute,
                                               caplog, host_spec, stays_on):
    caplog.set_level(logging.DEBUG)
    for name in ('vmha', 'taskflow'):
        caplog.set_level(logging.DEBUG, logger=name)
    db.add_host(host_spec)
    compute.add_instance('i1')
    compute.add_instance('i2')
    compute.fail_evacuate['i2'] = exception.EvacuateRefused(
        instance='i2', reason='HTTP 400')
    drv = fakes.FakeFencingDriver(stays_on=stays_on)
    rec = make_recoverer(fencing_driver=drv)
    report = rec.recover(HOST, level=2)
    rec.dry_run(HOST, level=2)
    assert report.state == (db_api.FAILED if stays_on
                            else db_api.COMPLETED_WITH_ERRORS)
    assert len(caplog.records) > 5          # the capture works
    assert 'Sup3rSecret' not in caplog.text
    assert len(db.list_events()) >= 3       # the loop below checks some
    for event in db.list_events():
        assert 'Sup3rSecret' not in repr(event.payload)
    assert 'Sup3rSecret' not in repr(report.to_dict())


def test_fixed_target_below_2_29_is_refused_before_recording(
        make_recoverer, conf, db):
    conf.set_override('target_host_policy', 'fixed', 'evacuation')
    conf.set_override('target_hosts', {HOST: 'spare1'}, 'evacuation')
    conf.set_override('api_version', '2.28', 'nova')
    recoverer = make_recoverer()
    with pytest.raises(exception.ConfigError) as err:
        recoverer.recover(HOST, level=2)
    assert 'target_host_policy = fixed' in str(err.value)
    with pytest.raises(exception.ConfigError):
        recoverer.dry_run(HOST, level=2)
    assert db.list_recoveries() == []
