"""vmha.service_states: one listing of the compute services for every
evacuation task of the process (issue 16: nova-api requests per
evacuation)."""

import pytest

from vmha.db import api as db_api
from vmha import exception
from vmha import service_states
from vmha.tasks import evacuation
from tests.unit import fakes
from tests.unit.conftest import HOST


def test_one_listing_per_ttl_answers_every_host(compute):
    clock = fakes.Clock()
    states = service_states.ServiceStates(compute, 0.5, clock=clock)
    compute.services['hostB'].update(forced_down=True, state='down')
    assert states.get('hostB').forced_down is True
    assert states.get(HOST).forced_down is False
    assert states.get('nowhere') is None
    assert states.failed_others(HOST) == ['hostB']
    assert states.listings == 1 and not compute.calls_of('get_service')
    clock.advance(0.5)
    compute.services['hostB'].update(forced_down=False, state='up')
    assert states.failed_others(HOST) == []
    assert states.listings == 2


def test_a_failed_listing_is_unknown_and_not_kept(compute):
    states = service_states.ServiceStates(compute, 60.0)
    compute.fail['list_services'] = exception.NovaUnavailable(
        reason='HTTP 503')
    with pytest.raises(exception.NovaUnavailable):
        states.get('hostB')
    del compute.fail['list_services']
    assert states.get('hostB') is not None and states.listings == 1


def _slow_evacuation(make_ctx, compute, services):
    """Evacuate one instance whose rebuild lasts about four dead-end check
    periods; returns the result."""
    slow = 40                                  # observations until it lands
    compute.rebuild_polls = slow
    compute.add_instance('i1')
    ctx = make_ctx(services=services)
    clock = fakes.Clock()
    entry = _plan(ctx)['i1']
    compute.calls.clear()
    return evacuation.EvacuateInstance(ctx, entry, sleep=clock.sleep,
                                       clock=clock).execute()


def _plan(ctx):
    from vmha.tasks import instances
    return {e['id']: e for e in instances.ListInstances(ctx).execute()}


def test_no_migration_reads_while_no_other_host_failed(make_ctx, compute):
    """A rebuild can only be heading to a dead end if another host failed:
    while none did, the task does not read its instance's migrations every
    dead-end period (two requests per instance each time before)."""
    services = service_states.ServiceStates(compute, 0.0)
    result = _slow_evacuation(make_ctx, compute, services)
    assert result['status'] == db_api.EVAC_DONE, result
    assert not compute.calls_of('list_evacuations')
    assert not compute.calls_of('get_service')
    assert services.listings >= 3          # it did look, once per period


def test_migrations_are_read_once_another_host_failed(make_ctx, compute):
    compute.services['hostC'] = {'state': 'down', 'status': 'enabled',
                                 'forced_down': True}
    result = _slow_evacuation(make_ctx, compute,
                              service_states.ServiceStates(compute, 0.0))
    assert result['status'] == db_api.EVAC_DONE, result
    assert len(compute.calls_of('list_evacuations')) >= 3


def test_another_hosts_recovery_counts_as_a_failure(make_ctx, compute, db):
    db.create_recovery('rec-c', 'hostC', 2, owner='unit-test')
    result = _slow_evacuation(make_ctx, compute, None)     # no sharing
    assert result['status'] == db_api.EVAC_DONE, result
    assert compute.calls_of('list_evacuations')


def test_unknown_services_count_as_a_failure(make_ctx, compute):
    compute.fail['list_services'] = exception.NovaUnavailable(
        reason='HTTP 503')
    result = _slow_evacuation(make_ctx, compute,
                              service_states.ServiceStates(compute, 0.0))
    assert result['status'] == db_api.EVAC_DONE, result
    assert compute.calls_of('list_evacuations')
