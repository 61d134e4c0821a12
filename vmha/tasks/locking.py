"""Lock an instance while vmha evacuates it, so no user action races it.

An owner who starts, stops, deletes or resizes an instance while Nova
rebuilds it elsewhere gets an error at best and a broken instance at worst.
vmha locks each instance (an admin lock, which vmha's own calls pass) from
before its evacuation until it is confirmed, failed or handed over.

The lock carries a reason that marks it as vmha's (``locked_reason``,
microversion 2.73): that is how a recovery resumed after a crash, or the
recovery of the next host in a cascade, knows the lock is vmha's to lift,
while a lock the owner had set is left exactly as it was. Below 2.73 Nova
cannot tell the two apart, so vmha does not lock at all. Locking is a
courtesy, never a condition: a lock or unlock that fails is logged and the
evacuation goes on.
"""

from oslo_log import log as logging

from vmha import exception

LOG = logging.getLogger(__name__)

#: every lock vmha sets has a reason starting with this
REASON_PREFIX = 'vmha: evacuating'


def reason(host, recovery_id):
    return '%s from failed host %s (recovery %s)' % (REASON_PREFIX, host,
                                                     recovery_id)


def is_vmhas(instance):
    return bool(instance.locked and instance.locked_reason
                and instance.locked_reason.startswith(REASON_PREFIX))


class InstanceLock:
    """vmha's lock of one instance for one evacuation."""

    def __init__(self, ctx, instance_id):
        self.ctx = ctx
        self.instance_id = instance_id
        #: does vmha hold the lock (and so must lift it)?
        self.held = False

    def take(self, instance):
        """Lock ``instance`` unless it is locked already; a lock vmha set
        earlier (crash, cascade) is taken over, the owner's left alone."""
        if not self.ctx.compute.locks_with_reason:
            return
        if is_vmhas(instance):
            self.held = True
            return
        if instance.locked:
            LOG.info('Instance %s was locked by its owner: leaving the lock',
                     instance.id)
            return
        try:
            self.ctx.compute.lock(instance.id,
                                  reason(self.ctx.host.name,
                                         self.ctx.recovery_id))
        except exception.VmhaError as err:
            LOG.warning('Could not lock instance %s during its evacuation '
                        '(%s); evacuating it unlocked', instance.id, err)
            return
        self.held = True

    def release(self):
        """Lift vmha's lock, if it holds one."""
        if not self.held:
            return
        try:
            self.ctx.compute.unlock(self.instance_id)
        except exception.VmhaError as err:
            LOG.error('Could not unlock instance %s after its evacuation '
                      '(%s): unlock it by hand (openstack server unlock)',
                      self.instance_id, err)
            return
        self.held = False

    def release_if_left(self):
        """Lift a lock a killed run of this task left (resume). Only this
        recovery's own lock: by then another recovery (a cascade) may hold
        one of its own."""
        if not self.ctx.compute.locks_with_reason:
            return
        try:
            instance = self.ctx.compute.get_instance(self.instance_id)
        except exception.VmhaError as err:
            LOG.warning('Cannot check the lock of instance %s: %s',
                        self.instance_id, err)
            return
        self.held = bool(instance.locked) and instance.locked_reason == \
            reason(self.ctx.host.name, self.ctx.recovery_id)
        self.release()
