"""ForceDownService, QuickForceDown, WaitServiceDown, DisableService: the
failed host's nova-compute service."""

import pytest
from taskflow.types import failure

from vmha import events
from vmha import exception
from vmha.tasks import service
from tests.unit import fakes
from tests.unit.conftest import HOST
from tests.unit.tasks import helpers


# -- ForceDownService / QuickForceDown ----------------------------------------

class StaysUpCompute(fakes.FakeCompute):
    """force_down is accepted but Nova keeps reporting the service up."""

    def force_down(self, host, forced=True):
        self._record('force_down', host, forced)
        self.services[host]['forced_down'] = forced
        return self._service(host)


def test_force_down_service(make_ctx, compute, db, dispatcher):
    ctx = make_ctx()
    assert service.ForceDownService(ctx).execute() is True
    assert compute.calls_of('force_down') == [('force_down', HOST, True)]
    assert not compute.calls_of('wait_service_down')
    rec = helpers.recovery(db, ctx)
    assert rec.forced_down is True
    assert rec.service_down_at is not None
    [event] = dispatcher.of_type(events.SERVICE_FORCED_DOWN)
    assert event.payload['service_id'] == 'svc-' + HOST


def test_force_down_waits_when_service_not_reported_down(make_ctx, db,
                                                         dispatcher):
    fc = StaysUpCompute()
    ctx = make_ctx(compute=fc)
    with pytest.raises(exception.ServiceNotDown):
        service.ForceDownService(ctx).execute()
    assert [c[0] for c in fc.calls] == ['force_down', 'wait_service_down']
    assert helpers.recovery(db, ctx).service_down_at is None
    assert dispatcher.types() == [events.SERVICE_FORCE_DOWN_FAILED]


def test_force_down_failure_raises(make_ctx, compute, dispatcher):
    compute.fail['force_down'] = exception.ForceDownFailed(
        host=HOST, binary='nova-compute', reason='HTTP 500')
    with pytest.raises(exception.ForceDownFailed):
        service.ForceDownService(make_ctx()).execute()
    [event] = dispatcher.of_type(events.SERVICE_FORCE_DOWN_FAILED)
    assert HOST in event.payload['error']


def test_force_down_revert_unsets(make_ctx, compute, db):
    ctx = make_ctx()
    task = service.ForceDownService(ctx)
    task.execute()
    task.revert(result=True)
    assert compute.calls_of('force_down') == [('force_down', HOST, True),
                                              ('force_down', HOST, False)]
    assert compute.services[HOST]['forced_down'] is False
    assert helpers.recovery(db, ctx).forced_down is False


def test_force_down_revert_failure_is_swallowed(make_ctx, compute, db):
    ctx = make_ctx()
    task = service.ForceDownService(ctx)
    task.execute()
    compute.fail['force_down'] = exception.NovaUnavailable(reason='down')
    task.revert(result=True)      # logged, not raised
    assert compute.calls_of('force_down')[-1] == ('force_down', HOST, False)
    assert helpers.recovery(db, ctx).forced_down is True


def test_quick_force_down_success(make_ctx, compute):
    ctx = make_ctx(level=1, host_stopped=True)
    assert service.QuickForceDown(ctx).execute() is True
    assert compute.calls_of('force_down') == [('force_down', HOST, True)]


def test_quick_force_down_needs_two_signals(make_ctx, compute, dispatcher):
    """Without them it does nothing and sends the flow to fencing."""
    assert service.QuickForceDown(make_ctx(level=1)).execute() is False
    assert compute.calls_of('force_down') == []
    assert dispatcher.types() == []


def test_quick_force_down_returns_false_instead_of_raising(make_ctx, compute,
                                                           dispatcher, db):
    compute.fail['force_down'] = exception.ForceDownFailed(
        host=HOST, binary='nova-compute', reason='HTTP 500')
    ctx = make_ctx(level=1, host_stopped=True)
    assert service.QuickForceDown(ctx).execute() is False
    assert dispatcher.types() == [events.SERVICE_FORCE_DOWN_FAILED]
    assert helpers.recovery(db, ctx).forced_down is None


def test_quick_force_down_not_reported_down_returns_false(make_ctx):
    fc = StaysUpCompute()
    ctx = make_ctx(level=1, compute=fc, host_stopped=True)
    assert service.QuickForceDown(ctx).execute() is False
    assert fc.calls_of('force_down') == [('force_down', HOST, True)]


# -- WaitServiceDown ----------------------------------------------------------

def test_wait_service_down(make_ctx, compute, db, dispatcher):
    compute.services[HOST]['state'] = 'down'
    ctx = make_ctx(level=3)
    assert service.WaitServiceDown(ctx).execute() is True
    assert helpers.recovery(db, ctx).service_down_at is not None
    [event] = dispatcher.of_type(events.SERVICE_DOWN)
    assert event.payload == {'service_id': 'svc-' + HOST,
                             'forced_down': False}


def test_wait_service_down_timeout(make_ctx, compute, db, dispatcher):
    ctx = make_ctx(level=3)
    with pytest.raises(exception.ServiceNotDown) as err:
        service.WaitServiceDown(ctx).execute()
    assert HOST in str(err.value)
    assert helpers.recovery(db, ctx).service_down_at is None
    assert not dispatcher.of_type(events.SERVICE_DOWN)


def test_wait_service_down_passes_configured_timeout(make_ctx, conf):
    seen = []

    class Recording(fakes.FakeCompute):
        def wait_service_down(self, host, timeout, interval=1.0):
            seen.append((host, timeout, interval))
            self.services[host]['state'] = 'down'
            return super().wait_service_down(host, timeout, interval)

    service.WaitServiceDown(make_ctx(level=3, compute=Recording())).execute()
    assert seen == [(HOST, conf.recovery.wait_service_down_timeout,
                     conf.recovery.wait_service_down_interval)]


# -- DisableService -----------------------------------------------------------

def test_disable_service(make_ctx, compute, conf, db, dispatcher):
    ctx = make_ctx()
    assert service.DisableService(ctx).execute() is True
    reason = conf.recovery.disabled_reason
    assert compute.calls_of('disable') == [('disable', HOST, reason)]
    assert compute.services[HOST]['status'] == 'disabled'
    assert helpers.recovery(db, ctx).disabled_at is not None
    [event] = dispatcher.of_type(events.SERVICE_DISABLED)
    assert event.payload['reason'] == reason


def test_disable_service_revert_enables(make_ctx, compute):
    task = service.DisableService(make_ctx())
    task.execute()
    task.revert(result=True)
    assert compute.calls_of('enable') == [('enable', HOST)]
    assert compute.services[HOST]['status'] == 'enabled'


def test_disable_service_revert_skipped_after_failure(make_ctx, compute):
    task = service.DisableService(make_ctx())
    task.revert(result=failure.Failure.from_exception(
        exception.NovaUnavailable(reason='x')))
    assert not compute.calls_of('enable')


def test_disable_service_revert_error_is_swallowed(make_ctx, compute):
    task = service.DisableService(make_ctx())
    task.execute()
    compute.fail['enable'] = exception.NovaUnavailable(reason='x')
    task.revert(result=True)
    assert compute.calls_of('enable') == [('enable', HOST)]
