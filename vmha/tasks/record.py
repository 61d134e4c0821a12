"""RecordOutcome: close the recovery with its final state and figures."""

from vmha import events
from vmha import states
from vmha.tasks import base


# evacuation statuses that leave an instance behind on the failed host
UNFINISHED = (states.EVAC_FAILED, states.EVAC_PENDING,
              states.EVAC_IN_PROGRESS, states.EVAC_WAITING)


def summarize(evacuations):
    """Counts per evacuation status and the recovery's final state."""
    counts = {}
    for evac in evacuations:
        counts[evac.status] = counts.get(evac.status, 0) + 1
    unfinished = sum(counts.get(status, 0) for status in UNFINISHED)
    state = (states.COMPLETED_WITH_ERRORS if unfinished
             else states.COMPLETED)
    return state, counts


def left_behind(evacuations):
    """Which instances were not evacuated, and why: the error text of a
    recovery that completed with errors, so that an operator reading one
    trap or log line knows what to look at."""
    left = ['%s (%s): %s' % (evac.instance_name, evac.instance_id,
                             evac.reason or evac.status)
            for evac in evacuations if evac.status in UNFINISHED]
    return '%d instance(s) not evacuated: %s' % (len(left), '; '.join(left))


class RecordOutcome(base.RecoveryTask):
    """Final state from the evacuation records, which are the truth.

    "completed" only when every instance that was to be evacuated is
    confirmed on another host; anything still pending counts as an error, so
    a recovery never says "finished" with instances left behind.
    """

    default_name = 'record-outcome'

    def execute(self):
        rows = self.ctx.db.list_evacuations(self.ctx.recovery_id)
        state, counts = summarize(rows)
        issued = [r.issued_at for r in rows if r.issued_at]
        confirmed = [r.confirmed_at for r in rows if r.confirmed_at]
        self.ctx.db.update_recovery(
            self.ctx.recovery_id, state=state,
            first_evacuation_at=min(issued) if issued else None,
            last_confirmed_at=max(confirmed) if confirmed else None)
        self.ctx.mark_phase('finished_at')
        self.ctx.db.update_host_state(self.host, states.HOST_EVACUATED)
        if state == states.COMPLETED:
            self.ctx.emit(events.RECOVERY_COMPLETED, state=state, **counts)
        else:
            self.ctx.emit(events.RECOVERY_COMPLETED_WITH_ERRORS, state=state,
                          error=left_behind(rows), **counts)
        return {'state': state, 'counts': counts}
