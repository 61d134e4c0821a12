"""Tasks on the failed host's nova-compute service.

Force-down tells Nova the host is dead without waiting for its heartbeat
timeout; disable keeps the scheduler from placing anything there until an
operator recovers the host.
"""

from oslo_log import log as logging
from taskflow.types import failure

from vmha import events
from vmha import exception
from vmha.tasks import base

LOG = logging.getLogger(__name__)


def _failed(result):
    return isinstance(result, failure.Failure)


class ForceDownService(base.RecoveryTask):
    """Set forced_down and check Nova reports the service down.

    Revert unsets forced_down, so a recovery that could not go on leaves Nova
    to judge the host by its heartbeats again.
    """

    default_name = 'force-down-service'

    def execute(self):
        try:
            svc = self.ctx.compute.force_down(self.host, True)
            if not svc.is_down:
                conf = self.ctx.conf.recovery
                svc = self.ctx.compute.wait_service_down(
                    self.host, conf.wait_service_down_timeout,
                    conf.wait_service_down_interval)
        except exception.VmhaError as err:
            self.ctx.emit(events.SERVICE_FORCE_DOWN_FAILED, error=str(err))
            raise
        self.ctx.mark_phase('service_down_at', forced_down=True)
        self.ctx.emit_step_done(events.SERVICE_FORCED_DOWN,
                                service_id=svc.id)
        return True

    def revert(self, result, **kwargs):
        try:
            self.ctx.compute.force_down(self.host, False)
            self.ctx.db.update_recovery(self.ctx.recovery_id,
                                        forced_down=False)
            LOG.info('Recovery %s reverted: unset force-down of %s',
                     self.ctx.recovery_id, self.host)
        except exception.VmhaError as err:
            LOG.error('Recovery %s: could not unset force-down of %s while '
                      'reverting: %s', self.ctx.recovery_id, self.host, err)


class QuickForceDown(ForceDownService):
    """Level 1: force-down without fencing, only on two signals.

    Provides ``quick_forced_down``: False sends the flow to the fencing
    fallback instead of failing the recovery -- when the recovery was not
    started on two independent signals that the host stopped (a host that
    may still run its guests is never evacuated unfenced), or when Nova
    refused the force-down.
    """

    default_name = 'quick-force-down'

    def execute(self):
        if not self.ctx.host_stopped:
            LOG.warning('Recovery %s: no two independent signals that %s '
                        'stopped; level 1 fences it first',
                        self.ctx.recovery_id, self.host)
            return False
        try:
            return super().execute()
        except exception.VmhaError as err:
            LOG.warning('Recovery %s: quick force-down of %s failed (%s); '
                        'falling back to fencing', self.ctx.recovery_id,
                        self.host, err)
            return False


class ForceDownOrWait(ForceDownService):
    """After fencing: force the service down, or wait for Nova if it
    refuses (the host is off either way, so waiting is safe, only slow)."""

    default_name = 'force-down-or-wait'

    def execute(self):
        try:
            return super().execute()
        except exception.VmhaError as err:
            LOG.warning('Recovery %s: force-down of fenced host %s failed '
                        '(%s); waiting for Nova to report it down',
                        self.ctx.recovery_id, self.host, err)
        return _wait_until_down(self)


class WaitServiceDown(base.RecoveryTask):
    """Wait until Nova itself reports the service down (heartbeat loss)."""

    default_name = 'wait-service-down'

    def execute(self):
        return _wait_until_down(self)


def _wait_until_down(task):
    """Wait for Nova to report ``task``'s host down; record and notify."""
    conf = task.ctx.conf.recovery
    svc = task.ctx.compute.wait_service_down(
        task.host, conf.wait_service_down_timeout,
        conf.wait_service_down_interval)
    task.ctx.mark_phase('service_down_at')
    task.ctx.emit_step_done(events.SERVICE_DOWN, service_id=svc.id,
                            forced_down=svc.forced_down)
    return True


class DisableService(base.RecoveryTask):
    """Disable the service with a reason; revert enables it again."""

    default_name = 'disable-service'

    def execute(self):
        reason = self.ctx.conf.recovery.disabled_reason
        svc = self.ctx.compute.disable(self.host, reason)
        self.ctx.mark_phase('disabled_at')
        self.ctx.emit_step_done(events.SERVICE_DISABLED, service_id=svc.id,
                                reason=reason)
        return True

    def revert(self, result, **kwargs):
        if _failed(result):
            return
        try:
            self.ctx.compute.enable(self.host)
            LOG.info('Recovery %s reverted: re-enabled %s',
                     self.ctx.recovery_id, self.host)
        except exception.VmhaError as err:
            LOG.error('Recovery %s: could not re-enable %s while reverting: '
                      '%s', self.ctx.recovery_id, self.host, err)
