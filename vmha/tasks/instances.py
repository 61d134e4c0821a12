"""ListInstances: what is on the failed host, and what will be done with it."""

from vmha import evacuation_plan
from vmha import events
from vmha import states
from vmha.tasks import base


class ListInstances(base.RecoveryTask):
    """List the host's instances (all tenants) and plan their evacuation.

    Runs after the service is disabled and down, so nothing new lands on the
    host after the list is taken. Records one evacuation row per instance
    (pending or skipped, with why) and provides the plan to the evacuation
    flow.
    """

    default_name = 'list-instances'

    def __init__(self, ctx, **kwargs):
        super().__init__(ctx, provides='instance_plan', **kwargs)

    def execute(self):
        instances = self.ctx.compute.list_instances(self.host)
        self.ctx.listing.remember(instances)
        entries = evacuation_plan.plan(instances, self.ctx.conf.evacuation)
        for entry in entries:
            self._record(entry)
        self.ctx.mark_phase('instances_listed_at')
        return entries

    def _record(self, entry):
        """One row per instance: pending (with the reset it will need, if
        any), skipped by policy, or failed when it cannot be evacuated at
        all (that makes the recovery ``completed_with_errors``)."""
        status = _STATUS[entry['action']]
        self.ctx.db.save_evacuation(
            self.ctx.recovery_id, entry['id'], instance_name=entry['name'],
            source_host=self.host, original_vm_state=entry['vm_state'],
            status=status, reason=entry['reason'])
        if status == states.EVAC_SKIPPED:
            self.ctx.emit(events.INSTANCE_SKIPPED, instance_id=entry['id'],
                          instance_name=entry['name'],
                          reason=entry['reason'])
        elif status == states.EVAC_FAILED:
            self.ctx.emit(events.INSTANCE_EVACUATE_FAILED,
                          instance_id=entry['id'],
                          instance_name=entry['name'],
                          error=entry['reason'])


_STATUS = {evacuation_plan.EVACUATE: states.EVAC_PENDING,
           evacuation_plan.SKIP: states.EVAC_SKIPPED,
           evacuation_plan.LEAVE: states.EVAC_FAILED}
