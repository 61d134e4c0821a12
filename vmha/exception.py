"""vmha's exceptions: every failure an operator may read names what is wrong.

Messages never contain secrets (BMC passwords, tokens): only host names,
addresses, ids and the peer's own error text.
"""


class VmhaError(Exception):
    """Base class; ``msg_fmt`` is formatted with the keyword arguments."""

    msg_fmt = 'An unknown vmha error occurred.'

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError):
                message = self.msg_fmt
        super().__init__(message)

    @property
    def message(self):
        return str(self)


# --- configuration and input -------------------------------------------------

class ConfigError(VmhaError):
    msg_fmt = 'Invalid configuration: %(reason)s'


class DriverNotFound(ConfigError):
    msg_fmt = ('No %(kind)s driver named "%(name)s" is installed '
               '(entry point namespace %(namespace)s); installed: '
               '%(available)s.')


class DriverLoadError(ConfigError):
    msg_fmt = 'The %(kind)s driver "%(name)s" failed to load: %(reason)s'


class InvalidInput(VmhaError):
    msg_fmt = 'Invalid input: %(reason)s'


class NotFound(VmhaError):
    msg_fmt = '%(what)s %(name)s not found.'


class UnknownHost(NotFound):
    msg_fmt = ('Host %(name)s is unknown: it is not in vmha\'s inventory and '
               'Nova has no %(binary)s service on it.')


class Conflict(VmhaError):
    msg_fmt = '%(reason)s'


# --- fencing ----------------------------------------------------------------

class FencingError(VmhaError):
    """A BMC (or fencing peer) call failed; names host and BMC address."""

    msg_fmt = 'Fencing host %(host)s via %(bmc)s failed: %(reason)s'


class BMCUnreachable(FencingError):
    msg_fmt = 'BMC %(bmc)s of host %(host)s is unreachable: %(reason)s'


class BMCAuthError(FencingError):
    msg_fmt = ('BMC %(bmc)s of host %(host)s refused the credentials: '
               '%(reason)s')


class BMCTimeout(FencingError):
    msg_fmt = ('BMC %(bmc)s of host %(host)s did not answer %(operation)s '
               'within %(timeout)ss')


class FencingUnsupported(FencingError):
    msg_fmt = ('Fencing driver %(driver)s cannot %(operation)s host '
               '%(host)s: %(reason)s')


class PowerOffUnconfirmed(FencingError):
    msg_fmt = ('Host %(host)s (BMC %(bmc)s) is not confirmed off after '
               '%(polls)d polls in %(elapsed).1fs (last state: '
               '%(state)s%(last_error)s); its instances are NOT evacuated.')


class NoPowerControl(FencingError):
    """The host has no BMC vmha can use (fencing driver ``watchdog``)."""

    msg_fmt = ('Host %(host)s has no BMC (fencing driver %(driver)s): only '
               'its watchdog can fence it')


class WatchdogError(VmhaError):
    """The agent's watchdog could not be armed, petted or disarmed."""

    msg_fmt = 'Watchdog %(device)s (driver %(driver)s): %(reason)s'


class WatchdogUnproven(FencingError):
    """The watchdog proof does not hold: the host's heartbeat came back,
    or its absence could not be observed until the reset was certain."""

    msg_fmt = ('Host %(host)s is not proven reset by its watchdog: '
               '%(reason)s; its instances are NOT evacuated.')


class HostNotFenceable(VmhaError):
    """Refused before anything is recorded or fenced: vmha never fences
    a host through defaults (a driver without an address may use a local
    device and power off the wrong machine)."""

    msg_fmt = ('Host %(host)s cannot be fenced: %(reason)s; not recovering '
               'it.')


# --- nova -------------------------------------------------------------------

class NovaError(VmhaError):
    msg_fmt = 'Nova request failed: %(reason)s'


class NovaUnavailable(NovaError):
    msg_fmt = 'Nova is unreachable: %(reason)s'


class ComputeServiceNotFound(NovaError):
    msg_fmt = ('Nova has no %(binary)s service on host %(host)s '
               '(unknown host?)')


class InstanceNotFound(NovaError):
    msg_fmt = 'Instance %(instance)s not found in Nova.'


class EvacuateRefused(NovaError):
    msg_fmt = 'Nova refused to evacuate instance %(instance)s: %(reason)s'


class TargetHostNotFound(EvacuateRefused):
    msg_fmt = ('Nova refused to evacuate instance %(instance)s: target host '
               '%(host)s not found (check [evacuation] target_hosts)')


class ServiceNotDown(NovaError):
    msg_fmt = ('Nova still reports %(binary)s on %(host)s up after '
               '%(timeout)ss')


class ForceDownFailed(NovaError):
    msg_fmt = ('Forcing %(binary)s on %(host)s down failed: %(reason)s')


class UnsupportedMicroversion(NovaError):
    msg_fmt = ('Compute API microversion %(version)s is not usable: '
               '%(reason)s')


# --- evacuation and recovery ------------------------------------------------

class EvacuationTimeout(VmhaError):
    msg_fmt = ('Instance %(instance)s did not complete its evacuation within '
               '%(timeout)ss (last: status=%(status)s host=%(host)s '
               'task_state=%(task_state)s)')


class EvacuationFailed(VmhaError):
    msg_fmt = 'Evacuation of instance %(instance)s failed: %(reason)s'


class HandedOver(VmhaError):
    """The instance left the failed host for a host that failed too."""

    msg_fmt = ('now on %(host)s, whose own recovery takes it over '
               '(%(why)s)')


class RecoveryInProgress(Conflict):
    msg_fmt = ('Host %(host)s already has recovery %(recovery_id)s in state '
               '%(state)s')


class RecoveryOwned(Conflict):
    """Another live process runs this recovery (it holds its lease)."""

    msg_fmt = ('Recovery %(recovery_id)s of host %(host)s is being run by '
               '%(owner)s (lease valid until %(until)s UTC); not running it '
               'a second time')


class RecoveryTakenOver(RecoveryOwned):
    """This process lost the lease while running the recovery."""

    msg_fmt = ('Recovery %(recovery_id)s of host %(host)s was taken over: '
               '%(owner)s could not renew its lease within %(ttl)ss and '
               'stopped without changing anything more')


class DatabaseError(VmhaError):
    msg_fmt = 'vmha database unavailable or failing: %(reason)s'


# --- detection and operations -----------------------------------------------

class CoordinationError(VmhaError):
    msg_fmt = ('Coordination backend %(backend)s failed to %(action)s: '
               '%(reason)s')


class HostStillFailing(Conflict):
    msg_fmt = 'Host %(host)s is still failing: %(reason)s'
