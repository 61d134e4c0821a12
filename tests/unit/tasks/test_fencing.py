"""FenceHost and the Fencer under it: power off, confirm, never power on."""

import pytest

from vmha import events
from vmha import exception
from vmha import fencing
from vmha.tasks import fencing as fencing_tasks
from tests.unit import fakes
from tests.unit.conftest import HOST
from tests.unit.tasks import helpers


# -- FenceHost ----------------------------------------------------------------

def test_fence_host_confirms_off(make_ctx, db, driver, dispatcher):
    ctx = make_ctx()
    result = fencing_tasks.FenceHost(ctx).execute()
    assert driver.calls == ['status', 'off', 'status']
    assert result['first_state'] == 'on'
    assert result['polls'] == 1
    assert result['driver'] == 'fake'
    rec = helpers.recovery(db, ctx)
    assert rec.fence_confirmed is True
    assert rec.fencing_driver == 'fake'
    assert rec.fenced_at is not None
    [event] = dispatcher.of_type(events.HOST_FENCED)
    assert event.payload['polls'] == 1
    assert event.payload['first_state'] == 'on'
    assert event.recovery_id == ctx.recovery_id
    assert event.host == HOST


def test_fence_host_already_off_still_powers_off(make_ctx, driver,
                                                dispatcher):
    """Issue 12: a first "off" is recorded, never trusted (this test used
    to assert that no power-off was sent)."""
    driver.state = 'off'
    result = fencing_tasks.FenceHost(make_ctx()).execute()
    assert driver.calls == ['status', 'off', 'status']
    assert result['first_state'] == 'off'
    [event] = dispatcher.of_type(events.HOST_FENCED)
    assert event.payload['first_state'] == 'off'


def test_fence_host_off_after_several_polls(make_ctx):
    drv = fakes.FakeFencingDriver(states=['on', 'on', 'on', 'off'])
    result = fencing_tasks.FenceHost(make_ctx(fencing_driver=drv)).execute()
    assert drv.calls == ['status', 'off', 'status', 'status', 'status']
    assert result['polls'] == 3


@pytest.mark.parametrize('drv, error', [
    (fakes.FakeFencingDriver(stays_on=True), exception.PowerOffUnconfirmed),
    (fakes.FakeFencingDriver(off_error=exception.BMCUnreachable(
        host=HOST, bmc='192.0.2.10:623', reason='connection refused')),
     exception.BMCUnreachable),
    # status reads failing to the end: unconfirmed, the error named
    (fakes.FakeFencingDriver(error=exception.BMCUnreachable(
        host=HOST, bmc='192.0.2.10:623', reason='connection refused')),
     exception.PowerOffUnconfirmed),
])
def test_fence_host_failure_raises_and_records(make_ctx, db, dispatcher,
                                               drv, error):
    ctx = make_ctx(fencing_driver=drv)
    with pytest.raises(error) as err:
        fencing_tasks.FenceHost(ctx).execute()
    assert HOST in str(err.value)
    rec = helpers.recovery(db, ctx)
    assert rec.fence_confirmed is False
    assert rec.fenced_at is None
    [event] = dispatcher.of_type(events.HOST_FENCE_FAILED)
    assert event.payload['error'] == str(err.value)
    assert event.payload['driver'] == 'fake'
    assert event.priority == events.ERROR
    assert not dispatcher.of_type(events.HOST_FENCED)


def test_fence_unconfirmed_polls_the_configured_count(make_ctx, conf):
    drv = fakes.FakeFencingDriver(stays_on=True)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencing_tasks.FenceHost(make_ctx(fencing_driver=drv)).execute()
    count = conf.fencing.power_off_confirm_count
    assert drv.calls == ['status', 'off'] + ['status'] * count
    assert 'NOT evacuated' in str(err.value)
    assert '192.0.2.10:623' in str(err.value)


def test_fence_host_revert_does_not_power_on(make_ctx, driver):
    task = fencing_tasks.FenceHost(make_ctx())
    task.execute()
    task.revert(result={'host': HOST})
    assert 'on' not in driver.calls
    assert driver.state == 'off'


def test_fencer_sleeps_between_polls_only():
    clock = fakes.Clock(0.0)
    drv = fakes.FakeFencingDriver(stays_on=True)
    fencer = fencing.Fencer(drv, confirm_count=4, confirm_interval=2.5,
                            call_timeout=5, sleep=clock.sleep, clock=clock)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(fakes_host())
    assert clock.sleeps == [2.5, 2.5, 2.5]
    assert err.value.kwargs['elapsed'] == 7.5
    assert err.value.kwargs['state'] == 'on'


def test_fencer_deadline_on_hung_bmc():
    import threading

    release = threading.Event()

    class Hung(fakes.FakeFencingDriver):
        def get_power_state(self, host):
            release.wait(5)
            return 'on'

    fencer = fencing.Fencer(Hung(), confirm_count=1, confirm_interval=0,
                            call_timeout=0.05)
    try:
        with pytest.raises(exception.PowerOffUnconfirmed) as err:
            fencer.fence(fakes_host())
    finally:
        release.set()
    assert 'did not answer power status within 0.05s' in str(err.value)
    assert HOST in str(err.value)


def test_fencer_unknown_power_state_is_not_off():
    drv = fakes.FakeFencingDriver(states=['on', 'weird', 'weird'])
    fencer = fencing.Fencer(drv, confirm_count=2, confirm_interval=0,
                            call_timeout=5)
    with pytest.raises(exception.PowerOffUnconfirmed) as err:
        fencer.fence(fakes_host())
    assert err.value.kwargs['state'] == 'unknown'


def fakes_host():
    from vmha import inventory
    return inventory.HostSpec(name=HOST, bmc_address='192.0.2.10')
