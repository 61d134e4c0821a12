"""FenceHost: power the failed host off and confirm it is off -- or, when
its BMC cannot confirm and the host was armed, wait for its watchdog."""

from oslo_log import log as logging

from vmha import events
from vmha import exception
from vmha.tasks import base
from vmha import watchdog

LOG = logging.getLogger(__name__)


class FenceHost(base.RecoveryTask):
    """Confirmed power-off through the host's fencing driver.

    The power-off is always sent; the state read before it is only
    recorded (``first_state`` in the ``vmha.host.fence.end`` event).

    When the monitor recorded watchdog evidence (the host's agent had armed
    a watchdog and its heartbeat is lost, see :mod:`vmha.watchdog`), the
    host's absence from the agents' group is watched from the start, while
    the BMC is tried; if the BMC cannot confirm power-off (unreachable,
    timed out, no BMC), the host counts as fenced once its watchdog has
    certainly reset it. The proof used is recorded (``fence_proof``).

    Raises when neither proof holds, which fails (and reverts) the
    isolation flow: a host that may still run its instances is never
    evacuated. Never reverted: a host that was powered off stays off until an
    operator recovers it (powering it back on could start a second copy of
    instances that are being rebuilt elsewhere).
    """

    default_name = 'fence-host'

    def execute(self):
        watch = self._watch()
        try:
            try:
                result = self.ctx.fencer.fence(self.ctx.host)
            except exception.VmhaError as err:
                return self._watchdog_proof(err, watch)
        finally:
            if watch is not None:
                watch.stop()
        self._fenced(watchdog.PROOF_BMC, result.driver, polls=result.polls,
                     elapsed=round(result.elapsed, 3),
                     first_state=result.first_state)
        return dict(result.to_dict(), proof=watchdog.PROOF_BMC)

    def _watch(self):
        """Start watching the host's absence if it was armed."""
        if self.ctx.watchdog is None:
            return None
        make = self.ctx.heartbeat_watch or watchdog.HeartbeatWatch
        return make(self.ctx.conf, self.host, self.ctx.watchdog).start()

    def _watchdog_proof(self, err, watch):
        """After the BMC failed with ``err``: the watchdog proof, or raise."""
        driver = self.ctx.fencer.driver.name
        if watch is None or not watchdog.bmc_cannot_confirm(err):
            self._failed(err, driver)
        LOG.warning('Recovery %s: the BMC of %s cannot confirm power-off '
                    '(%s); the host was armed: waiting until its watchdog '
                    'has certainly reset it (about %s)', self.ctx.recovery_id,
                    self.host, err, watchdog.to_utc(watch.deadline).isoformat(
                        timespec='seconds'))
        try:
            proven_at = watch.wait()
        except exception.WatchdogUnproven as unproven:
            self._failed(exception.WatchdogUnproven(
                host=self.host, bmc='(watchdog)',
                reason='%s; BMC: %s' % (unproven.kwargs['reason'], err)),
                driver)
        expired = watchdog.to_utc(watch.deadline)
        self.ctx.db.update_recovery(self.ctx.recovery_id,
                                    watchdog_expires_at=expired)
        LOG.warning('Recovery %s: host %s counts as fenced by its watchdog '
                    '(absent from the agents\' group until %s)',
                    self.ctx.recovery_id, self.host,
                    watchdog.to_utc(proven_at).isoformat(
                        timespec='seconds'))
        self._fenced(watchdog.PROOF_WATCHDOG, driver, bmc_error=str(err),
                     watchdog_expired_at=expired.isoformat())
        return {'host': self.host, 'driver': driver,
                'proof': watchdog.PROOF_WATCHDOG,
                'watchdog_expired_at': expired.isoformat()}

    def _fenced(self, proof, driver, **details):
        self.ctx.mark_phase('fenced_at', fence_confirmed=True,
                            fencing_driver=driver, fence_proof=proof)
        self.ctx.emit_step_done(events.HOST_FENCED, driver=driver,
                                proof=proof, **details)

    def _failed(self, err, driver):
        self.ctx.db.update_recovery(self.ctx.recovery_id,
                                    fence_confirmed=False)
        self.ctx.emit(events.HOST_FENCE_FAILED, error=str(err),
                      driver=driver)
        raise err

    def revert(self, result, **kwargs):
        LOG.warning('Recovery %s reverted: host %s is left as fencing left '
                    'it (not powered back on).', self.ctx.recovery_id,
                    self.host)
