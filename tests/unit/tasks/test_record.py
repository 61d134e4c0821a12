"""RecordOutcome: the recovery's final status from its evacuation rows."""

import datetime

import pytest

from vmha.db import api as db_api
from vmha import events
from vmha.tasks import record
from tests.unit.conftest import HOST


# -- RecordOutcome ------------------------------------------------------------

def _outcome(ctx, db, statuses):
    for iid, status in statuses.items():
        db.save_evacuation(ctx.recovery_id, iid, source_host=HOST,
                           status=status)
    return record.RecordOutcome(ctx).execute()


def test_record_outcome_completed(make_ctx, db, dispatcher, host_spec):
    """``skipped`` is only ever a policy exclusion now (ListInstances
    records anything else left on the host as failed, see
    test_list_instances_records_rows_and_skips), so it does not make the
    recovery an error."""
    db.add_host(host_spec)
    ctx = make_ctx()
    result = _outcome(ctx, db, {'a': db_api.EVAC_DONE,
                                'b': db_api.EVAC_SKIPPED})
    assert result == {'state': db_api.COMPLETED,
                      'counts': {db_api.EVAC_DONE: 1, db_api.EVAC_SKIPPED: 1}}
    rec = db.get_recovery(ctx.recovery_id)
    assert rec.state == db_api.COMPLETED
    assert rec.finished_at is not None
    assert db.host_state(HOST) == 'evacuated'
    [event] = dispatcher.of_type(events.RECOVERY_COMPLETED)
    assert event.payload['state'] == db_api.COMPLETED


@pytest.mark.parametrize('bad', [db_api.EVAC_FAILED, db_api.EVAC_PENDING,
                                 db_api.EVAC_IN_PROGRESS])
def test_record_outcome_completed_with_errors(make_ctx, db, dispatcher, bad):
    ctx = make_ctx()
    result = _outcome(ctx, db, {'a': db_api.EVAC_DONE, 'b': bad})
    assert result['state'] == db_api.COMPLETED_WITH_ERRORS
    assert db.get_recovery(ctx.recovery_id).state == \
        db_api.COMPLETED_WITH_ERRORS
    [event] = dispatcher.of_type(events.RECOVERY_COMPLETED_WITH_ERRORS)
    assert event.payload[bad] == 1
    assert event.priority == events.WARNING
    assert not dispatcher.of_type(events.RECOVERY_COMPLETED)


def test_record_outcome_no_instances_is_completed(make_ctx, db):
    ctx = make_ctx()
    assert _outcome(ctx, db, {})['state'] == db_api.COMPLETED


def test_record_outcome_timestamps_from_rows(make_ctx, db):
    ctx = make_ctx()
    t0 = datetime.datetime(2030, 1, 1, 12, 0, 0)
    for n, iid in enumerate(('a', 'b')):
        db.save_evacuation(ctx.recovery_id, iid, source_host=HOST,
                           status=db_api.EVAC_DONE,
                           issued_at=t0 + datetime.timedelta(seconds=n),
                           confirmed_at=t0 + datetime.timedelta(seconds=9 + n))
    record.RecordOutcome(ctx).execute()
    rec = db.get_recovery(ctx.recovery_id)
    assert rec.first_evacuation_at == t0
    assert rec.last_confirmed_at == t0 + datetime.timedelta(seconds=10)


def test_record_outcome_handed_over_is_not_left_behind(make_ctx, db):
    ctx = make_ctx()
    result = _outcome(ctx, db, {'a': db_api.EVAC_DONE,
                                'b': db_api.EVAC_HANDED_OVER,
                                'c': db_api.EVAC_SKIPPED})
    assert result['state'] == db_api.COMPLETED
