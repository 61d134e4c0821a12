"""A step a resumed run repeats is done again but announced once.

A run killed after a step of the isolation flow recorded its event and
before taskflow saved the step does the step again when it is resumed: the
power-off is sent again (a first "off" is never trusted), the service is
forced down and disabled again. The step's event was recorded by the killed
run, so the resumed one does not record it a second time: consumers would
read two fencings (the crash-resume lab test counted two
``vmha.host.fence.end`` after a kill in that window).
"""

from vmha import events
from vmha import exception
from vmha.tasks import fencing as fencing_tasks
from vmha.tasks import service as service_tasks


def test_a_resumed_fencing_powers_off_again_and_notifies_once(
        make_ctx, db, driver, dispatcher):
    ctx = make_ctx()
    fencing_tasks.FenceHost(ctx).execute()
    driver.calls.clear()
    fencing_tasks.FenceHost(ctx).execute()           # the resumed run
    assert driver.calls == ['status', 'off', 'status']
    assert len(dispatcher.of_type(events.HOST_FENCED)) == 1
    assert [e.event_type for e in db.list_events(
        recovery_id=ctx.recovery_id)].count(events.HOST_FENCED) == 1


def test_resumed_service_steps_are_done_again_and_notified_once(
        make_ctx, compute, dispatcher):
    ctx = make_ctx()
    for _run in range(2):
        service_tasks.ForceDownService(ctx).execute()
        service_tasks.DisableService(ctx).execute()
    assert len(compute.calls_of('force_down')) == 2
    assert len(compute.calls_of('disable')) == 2
    assert len(dispatcher.of_type(events.SERVICE_FORCED_DOWN)) == 1
    assert len(dispatcher.of_type(events.SERVICE_DISABLED)) == 1


def test_an_unreadable_event_log_still_notifies(make_ctx, db, dispatcher,
                                                monkeypatch):
    ctx = make_ctx()

    def unreadable(**kwargs):
        raise exception.DatabaseError(reason='database is locked')

    monkeypatch.setattr(db, 'list_events', unreadable)
    fencing_tasks.FenceHost(ctx).execute()
    assert len(dispatcher.of_type(events.HOST_FENCED)) == 1
