"""The host listing stands in for each instance's read before its request.

Issue 16: every evacuation used to send ``GET /servers/{id}`` before its
evacuate request (0.03 CPU-s of nova-api each, measured on the lab), though
the listing that planned the recovery had read every instance of the
isolated host a moment earlier. A task now takes its instance from that
listing (vmha.context.Listing) while it is fresh; a resumed run, a stale
listing and a second request read. When Nova refuses a request decided on
the listing because somebody acted on the instance since, the task reads it
and decides again; nothing is ever asked twice for a refusal that is not
about such a change.
"""

import pytest

from vmha import context
from vmha.db import api as db_api
from vmha import exception
from vmha.tasks import evacuation
from tests.unit import fakes
from tests.unit.conftest import HOST
from tests.unit.tasks import helpers


def run(ctx, entry):
    return evacuation.EvacuateInstance(ctx, entry).execute()


def reads_before_request(compute):
    """The GETs sent before the first evacuate request (a task run without
    the process's watcher reads its instance while it waits, later)."""
    names = [call[0] for call in compute.calls]
    first = names.index('evacuate') if 'evacuate' in names else len(names)
    return [call for call in compute.calls[:first]
            if call[0] == 'get_instance']


def test_a_fresh_listing_answers_the_check_before_the_request(
        make_ctx, compute, db):
    compute.add_instance('i1')
    compute.add_instance('p1', vm_state='paused')
    ctx = make_ctx()
    plan = helpers.plan(ctx, compute)
    compute.calls.clear()
    assert run(ctx, plan['i1'])['status'] == db_api.EVAC_DONE
    assert reads_before_request(compute) == []
    compute.calls.clear()
    assert run(ctx, plan['p1'])['status'] == db_api.EVAC_DONE
    assert reads_before_request(compute) == []
    # what the listing showed still decides: the paused one is reset first
    assert compute.calls_of('reset_state') == [('reset_state', 'p1',
                                                'active')]
    assert compute.calls_of('evacuate') == [('evacuate', 'p1', None)]


def test_a_stale_listing_is_not_trusted(make_ctx, compute):
    compute.add_instance('i1')
    clock = fakes.Clock()
    ctx = make_ctx()
    ctx.listing = context.Listing(clock=clock)
    entry = helpers.plan(ctx, compute)['i1']
    clock.now += context.LISTING_FRESH_FOR + 1
    compute.calls.clear()
    assert run(ctx, entry)['status'] == db_api.EVAC_DONE
    assert reads_before_request(compute) == [('get_instance', 'i1')]


def test_a_resumed_run_reads_each_instance(make_ctx, compute):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute, resumed=True)['i1']
    compute.calls.clear()
    assert run(ctx, entry)['status'] == db_api.EVAC_DONE
    assert reads_before_request(compute) == [('get_instance', 'i1')]


def test_the_listing_serves_one_request_only(make_ctx, compute):
    listing = context.Listing()
    compute.add_instance('i1')
    listing.remember([compute.get_instance('i1')])
    assert listing.take('i1').id == 'i1'
    assert listing.take('i1') is None          # a second request reads
    assert listing.take('unknown') is None


def test_moved_to_a_live_host_since_the_listing(make_ctx, compute, db):
    """Somebody evacuated it since: Nova refuses (its host is in use), the
    task reads it, finds it elsewhere and asks nothing more."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    compute.instances['i1']['host'] = 'hostC'
    compute.fail_evacuate['i1'] = exception.EvacuateRefused(
        instance='i1', reason='HTTP 400 Compute service of hostC is still '
        'in use.')
    compute.calls.clear()
    result = run(ctx, entry)
    assert result == {'id': 'i1', 'status': db_api.EVAC_DONE,
                      'target_host': 'hostC'}
    assert len(compute.calls_of('evacuate')) == 1
    assert compute.calls_of('get_instance') == [('get_instance', 'i1')]


def test_evacuated_by_somebody_else_since_the_listing(make_ctx, compute,
                                                      db):
    """A rebuild of theirs runs (Nova's record is live): Nova refuses the
    request (409, task state), the task follows theirs."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    compute.start_rebuild('i1', polls=2)
    compute.migrations['i1'] = [fakes.FakeMigration(
        source_compute=HOST, status='pre-migrating',
        created_at='2026-01-01T00:00:00')]
    compute.calls.clear()
    result = run(ctx, entry)
    assert result['status'] == db_api.EVAC_DONE
    assert result['target_host'] == 'hostB'
    assert len(compute.calls_of('evacuate')) == 1      # the refused one
    assert not compute.calls_of('reset_state')


def test_deleted_since_the_listing(make_ctx, compute):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    compute.fail_evacuate['i1'] = exception.InstanceNotFound(instance='i1')
    result = run(ctx, entry)
    assert result['status'] == db_api.EVAC_FAILED
    assert 'i1 not found' in result['error']


@pytest.mark.parametrize('reason, status', [
    ('HTTP 400 No valid host was found.', db_api.EVAC_WAITING),
    ("HTTP 403 Policy doesn't allow os_compute_api:os-evacuate to be "
     'performed.', db_api.EVAC_FAILED)])
def test_a_refusal_that_is_no_change_since_is_not_asked_again(
        make_ctx, compute, reason, status):
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    compute.fail_evacuate['i1'] = exception.EvacuateRefused(
        instance='i1', reason=reason)
    compute.calls.clear()
    result = run(ctx, entry)
    assert result['status'] == status
    assert len(compute.calls_of('evacuate')) == 1
    # read once after the refusal, to see whether somebody acted on it
    assert compute.calls_of('get_instance')[0] == ('get_instance', 'i1')


def test_a_recovery_run_lists_once_and_reads_none(make_recoverer,
                                                   compute):
    for n in range(4):
        compute.add_instance('i%d' % n)
    report = make_recoverer().recover(HOST, level=2)
    assert report.state == db_api.COMPLETED
    assert compute.calls_of('list_instances') == [('list_instances', HOST)]
    assert compute.calls_of('get_instance') == []


def test_a_refusal_is_judged_as_it_is_when_the_instance_cannot_be_read(
        make_ctx, compute):
    """The read after a refusal failing does not hide the refusal: a
    NoValidHost still waits for room."""
    compute.add_instance('i1')
    ctx = make_ctx()
    entry = helpers.plan(ctx, compute)['i1']
    compute.fail_evacuate['i1'] = exception.EvacuateRefused(
        instance='i1', reason='HTTP 400 No valid host was found.')
    compute.fail['get_instance'] = exception.NovaUnavailable(
        reason='connection refused')
    result = run(ctx, entry)
    assert result['status'] == db_api.EVAC_WAITING
    assert len(compute.calls_of('evacuate')) == 1
