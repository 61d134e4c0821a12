"""FenceHost: power the failed host off and confirm it is off."""

from oslo_log import log as logging

from vmha import events
from vmha import exception
from vmha.tasks import base

LOG = logging.getLogger(__name__)


class FenceHost(base.RecoveryTask):
    """Confirmed power-off through the host's fencing driver.

    The power-off is always sent; the state read before it is only
    recorded (``first_state`` in the ``vmha.host.fence.end`` event).

    Raises when power-off is not confirmed, which fails (and reverts) the
    isolation flow: a host that may still run its instances is never
    evacuated. Never reverted: a host that was powered off stays off until an
    operator recovers it (powering it back on could start a second copy of
    instances that are being rebuilt elsewhere).
    """

    default_name = 'fence-host'

    def execute(self):
        try:
            result = self.ctx.fencer.fence(self.ctx.host)
        except exception.VmhaError as err:
            self.ctx.db.update_recovery(self.ctx.recovery_id,
                                        fence_confirmed=False)
            self.ctx.emit(events.HOST_FENCE_FAILED, error=str(err),
                          driver=self.ctx.fencer.driver.name)
            raise
        self.ctx.mark_phase('fenced_at', fence_confirmed=True,
                            fencing_driver=result.driver)
        self.ctx.emit(events.HOST_FENCED, driver=result.driver,
                      polls=result.polls, elapsed=round(result.elapsed, 3),
                      first_state=result.first_state)
        return result.to_dict()

    def revert(self, result, **kwargs):
        LOG.warning('Recovery %s reverted: host %s is left as fencing left '
                    'it (not powered back on).', self.ctx.recovery_id,
                    self.host)
