"""EvacuateInstance: rebuild one instance elsewhere and confirm it.

One task per instance, run in parallel (bounded by ``[evacuation]
max_workers``). A failure is recorded and returned, never raised: one
instance that cannot be evacuated must not stop (or revert) the others.
"""

import datetime
import time

from oslo_log import log as logging

from vmha import capacity
from vmha import compute
from vmha.db import api as db_api
from vmha import events
from vmha import exception
from vmha import policy
from vmha.tasks import base

LOG = logging.getLogger(__name__)

REBUILD_TASK_STATES = ('rebuilding', 'rebuild_block_device_mapping',
                       'rebuild_spawning')
# evacuation migration statuses that mean "a rebuild was really requested"
LIVE_MIGRATION_STATUSES = ('accepted', 'pre-migrating', 'migrating', 'done',
                           'completed')
FAILED_MIGRATION_STATUSES = ('failed', 'error')


class EvacuateInstance(base.RecoveryTask):
    """Evacuate, confirm on another host, restore the original state.

    Idempotent: before asking Nova, it checks whether the instance already
    left the failed host, is being rebuilt, or whether an evacuate request
    counted in the database reached Nova (its migration record) — so a
    resumed recovery never evacuates an instance twice.
    """

    def __init__(self, ctx, entry, sleep=time.sleep, clock=time.monotonic):
        super().__init__(ctx, name='evacuate-%s' % entry['id'])
        self.entry = entry
        self._sleep = sleep
        self._clock = clock

    @property
    def instance_id(self):
        return self.entry['id']

    def execute(self):
        done = self._confirmed_before()
        if done:
            return done
        conf = self.ctx.conf.evacuation
        deadline = self._clock() + conf.confirm_timeout
        self._save(status=db_api.EVAC_IN_PROGRESS, started_at=db_api.utcnow())
        try:
            self._request_evacuation()
            final = self._wait_landed(deadline)
            final = self._restore_state(final, deadline)
        except Exception as err:  # one instance never stops the others
            if capacity.is_no_valid_host(err):   # waits for room, or a spare
                return capacity.no_room(self, err)
            return self._failed(err)
        self._save(status=db_api.EVAC_DONE, target_host=final.host,
                   confirmed_at=db_api.utcnow(), reason=None)
        self.ctx.emit(events.INSTANCE_EVACUATED, instance_id=final.id,
                      instance_name=final.name, target_host=final.host,
                      vm_state=final.vm_state)
        return {'id': final.id, 'status': db_api.EVAC_DONE,
                'target_host': final.host}

    def revert(self, result, **kwargs):
        LOG.warning('Recovery %s reverted after instance %s was handled '
                    '(%s); an evacuation cannot be undone.',
                    self.ctx.recovery_id, self.instance_id, result)

    # -- steps --------------------------------------------------------------

    def _confirmed_before(self):
        """The result of an earlier run killed after it confirmed the
        instance but before taskflow saved that: nothing to do again, and
        no second "evacuated" notification."""
        record = self.ctx.db.get_evacuation(self.ctx.recovery_id,
                                            self.instance_id)
        if record is None or record.status != db_api.EVAC_DONE:
            return None
        LOG.info('Instance %s was already evacuated and confirmed on %s',
                 self.instance_id, record.target_host)
        return {'id': self.instance_id, 'status': db_api.EVAC_DONE,
                'target_host': record.target_host}

    def _request_evacuation(self):
        inst = self.ctx.compute.get_instance(self.instance_id)
        if inst.host != self.host:
            LOG.info('Instance %s already left %s (now on %s)', inst.id,
                     self.host, inst.host)
            return
        if inst.task_state in REBUILD_TASK_STATES:
            LOG.info('Instance %s is already being rebuilt', inst.id)
            return
        if self._request_reached_nova():
            LOG.info('Evacuation of instance %s was already requested',
                     inst.id)
            return
        self.ctx.db.count_evacuate_call(self.ctx.recovery_id, inst.id)
        self.ctx.mark_phase('first_evacuation_at')
        try:
            self.ctx.compute.evacuate(
                inst.id,
                target_host=(self.entry.get('target_host') or  # a spare
                             policy.target_host(self.ctx.conf, self.host)),
                on_shared_storage=self.ctx.conf.evacuation.on_shared_storage)
        except exception.NovaUnavailable as err:
            # the connection broke: did Nova take the request before it did?
            if not self._request_reached_nova():
                raise
            LOG.warning('Evacuate call for instance %s lost its answer (%s) '
                        'but Nova recorded the evacuation; following it',
                        inst.id, err)
        self.ctx.emit(events.INSTANCE_EVACUATE_STARTED, instance_id=inst.id,
                      instance_name=inst.name)

    def _request_reached_nova(self):
        """Did an earlier run of this task get an evacuate through to Nova?"""
        record = self.ctx.db.get_evacuation(self.ctx.recovery_id,
                                            self.instance_id)
        if record is None or not record.evacuate_calls:
            return False
        # a minute of slack for clock skew between vmha and nova-api
        since = (record.issued_at - datetime.timedelta(minutes=1)).isoformat()
        for migration in self.ctx.compute.list_evacuations(self.instance_id):
            if (migration.source_compute == self.host
                    and migration.status in LIVE_MIGRATION_STATUSES
                    and migration.created_at >= since[:19]):
                return True
        return False

    def _poll(self, check, deadline):
        """Poll get_instance until ``check(instance)`` is truthy."""
        interval = self.ctx.conf.evacuation.confirm_interval
        while True:
            inst = self.ctx.compute.get_instance(self.instance_id)
            if check(inst):
                return inst
            if self._clock() >= deadline:
                raise exception.EvacuationTimeout(
                    instance=inst.id,
                    timeout=self.ctx.conf.evacuation.confirm_timeout,
                    status=inst.status, host=inst.host,
                    task_state=inst.task_state)
            self._sleep(interval)

    def _wait_landed(self, deadline):
        """Wait until the rebuild finished; fail if it left it on the host.

        Nova moves ``host`` to the destination only at the very end of a
        rebuild: when it brings the instance to a stopped state (always from
        2.95) the instance shows no task state on the failed host for a
        moment. So "on the failed host with no task" means failure only once
        Nova's evacuation record says so.
        """
        inst = self._poll(self._landed_or_failed, deadline)
        if inst.host == self.host:
            raise exception.EvacuationFailed(
                instance=inst.id,
                reason='rebuild ended on the failed host in state %s%s' % (
                    inst.vm_state,
                    ' (%s)' % inst.fault if inst.fault else ''))
        return inst

    def _landed_or_failed(self, inst):
        if inst.task_state is not None:
            return False
        return inst.host != self.host or self._rebuild_failed()

    def _rebuild_failed(self):
        """Did Nova give up the newest evacuation of this instance?"""
        for migration in self.ctx.compute.list_evacuations(self.instance_id):
            if migration.source_compute == self.host:   # newest first
                return migration.status in FAILED_MIGRATION_STATUSES
        return True   # no record: nothing is rebuilding it

    def _restore_state(self, inst, deadline):
        """Bring the instance back to its pre-failure vm_state.

        From microversion 2.95 Nova leaves evacuated instances stopped: start
        those that were running. ERROR instances are set back to ERROR.
        """
        original = self.entry['vm_state']
        if original == inst.vm_state:
            return inst
        if (original == compute.VM_ACTIVE
                and inst.vm_state == compute.VM_STOPPED):
            self.ctx.compute.start(inst.id)
        elif (original == compute.VM_STOPPED
              and inst.vm_state == compute.VM_ACTIVE):
            self.ctx.compute.stop(inst.id)
        elif original == compute.VM_ERROR:
            self.ctx.compute.reset_state(inst.id, 'error')
        else:
            raise exception.EvacuationFailed(
                instance=inst.id, reason='landed on %s in state %s, expected '
                '%s' % (inst.host, inst.vm_state, original))
        return self._poll(lambda i: (i.vm_state == original
                                     and i.task_state is None), deadline)

    # -- bookkeeping --------------------------------------------------------

    def _save(self, **fields):
        self.ctx.db.save_evacuation(self.ctx.recovery_id, self.instance_id,
                                    **fields)

    def _failed(self, err):
        LOG.error('Recovery %s: evacuation of instance %s failed: %s',
                  self.ctx.recovery_id, self.instance_id, err)
        self._save(status=db_api.EVAC_FAILED, reason=str(err))
        self.ctx.emit(events.INSTANCE_EVACUATE_FAILED,
                      instance_id=self.instance_id,
                      instance_name=self.entry['name'], error=str(err))
        return {'id': self.instance_id, 'status': db_api.EVAC_FAILED,
                'error': str(err)}
