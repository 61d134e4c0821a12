"""The fencing procedure shared by every driver.

Read the power state once, for the record only; request power-off whatever
it said (the request is idempotent, and a status that reads ``off`` may be
wrong: the SSH driver's check, a BMC that reports stale state); then poll the
state up to ``power_off_confirm_count`` times, ``power_off_confirm_interval``
apart, until it reads ``off``. A poll that fails (driver error, BMC timeout)
is retried at the next poll rather than failing the fence. Every BMC call
runs under a deadline (``bmc_timeout``) because some BMCs never answer a bad
login. Only a confirmed ``off`` makes evacuation safe; anything else raises
PowerOffUnconfirmed (or the power-off request's own error) and the caller
does not evacuate.

A host is fenced only through the details vmha's inventory gives for it:
:func:`check_fenceable` refuses a host that is missing from the inventory or
lacks what its driver needs, because a driver without an address may fall
back to a local default (pyghmi and ipmitool use the local ``/dev/ipmi0``)
and power off the wrong machine.

The other modules named fencing: ``vmha.tasks.fencing`` is the recovery's
taskflow step that calls this procedure (and its watchdog alternative);
``vmha.drivers.fencing`` holds the drivers, one per BMC protocol, and
``vmha.conf.fencing`` the ``[fencing]`` options.
"""

import dataclasses
import time

from oslo_log import log as logging

from vmha.drivers import loader
from vmha.drivers.fencing import base
from vmha import exception
from vmha import metrics
from vmha import threads

LOG = logging.getLogger(__name__)

#: ``first_state`` when the read before the power-off failed.
FIRST_READ_FAILED = 'error'


@dataclasses.dataclass
class FenceResult:
    """Outcome of a confirmed power-off.

    ``first_state`` is what the host read before the power-off was sent
    (``on``, ``off``, ``unknown``, or ``error`` when that read failed): a
    record for the operator, never a reason to skip the power-off.
    """

    host: str
    driver: str
    first_state: str
    polls: int
    elapsed: float

    def to_dict(self):
        return dataclasses.asdict(self)


def driver_name_for(conf, host):
    """The driver a host uses: its own, else ``[fencing] default_driver``."""
    return host.fencing_driver or conf.fencing.default_driver


def load_driver(conf, host):
    """The driver of ``host``: one instance per process (per ConfigOpts),
    shared by every recovery, so that its BMC sessions are reused."""
    return loader.get(loader.FENCING_NAMESPACE, driver_name_for(conf, host),
                      conf)


def require_details(driver, host):
    """Raise HostNotFenceable when ``host`` lacks a field ``driver`` needs.

    Checked again right before every fence (a recovery resumed after the
    inventory changed, an embedding service that builds its own HostSpec),
    not only when a recovery is recorded.
    """
    missing = [f for f in getattr(driver, 'required_fields', ())
               if not getattr(host, f, None)]
    if missing:
        raise exception.HostNotFenceable(
            host=host.name,
            reason='its fencing driver %s needs %s, which its inventory '
                   'entry lacks' % (driver.name, ', '.join(missing)))


def check_fenceable(conf, host, in_inventory, driver=None):
    """Refuse, before anything is recorded or fenced, a host that vmha
    would have to fence through a default.

    ``in_inventory`` is False for a host that vmha's inventory does not
    hold (``host`` is then a bare HostSpec built from its name): refused
    whatever the driver, since every field would be a default. A host of
    the inventory is refused when it lacks a field its driver requires
    (:func:`require_details`); a driver that requires nothing, such as
    ``noop`` named by the entry or by ``[fencing] default_driver``, is the
    operator's explicit choice and is allowed. ``driver`` is the loaded
    driver (loaded from ``conf`` when not given).
    """
    if not in_inventory:
        raise exception.HostNotFenceable(
            host=host.name,
            reason="it is not in vmha's inventory (add it with "
                   "'vmha-manage host add %s' and its BMC details)"
                   % host.name)
    require_details(driver or load_driver(conf, host), host)


def call_with_deadline(func, host, timeout, operation):
    """Run ``func(host)`` and give up after ``timeout`` seconds.

    The call runs in a daemon thread; an abandoned call is left to finish
    on its own (drivers set client timeouts so it does not linger) and never
    delays the exit of the process. A driver error that is not a vmha error
    (a third-party driver's bug, say) becomes a FencingError, so that it is
    recorded and notified like any other.
    """
    try:
        return threads.call(func, host, timeout=timeout,
                            name='vmha-bmc-%s' % host.name)
    except threads.DeadlineExceeded:
        raise exception.BMCTimeout(host=host.name, bmc=host.bmc_label,
                                   operation=operation, timeout=timeout)
    except exception.VmhaError:
        raise
    except Exception as err:
        LOG.error('Fencing driver failed on %s of host %s: %s: %s',
                  operation, host.name, type(err).__name__, err,
                  exc_info=(type(err), err, err.__traceback__))
        raise exception.FencingError(
            host=host.name, bmc=host.bmc_label,
            reason='%s: unexpected %s: %s' % (operation, type(err).__name__,
                                              err)) from err


class Fencer:
    """Runs the shared fencing sequence with one driver."""

    def __init__(self, driver, confirm_count, confirm_interval, call_timeout,
                 sleep=time.sleep, clock=time.monotonic):
        self.driver = driver
        self.confirm_count = confirm_count
        self.confirm_interval = confirm_interval
        self.call_timeout = call_timeout
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_conf(cls, conf, driver):
        return cls(driver, conf.fencing.power_off_confirm_count,
                   conf.fencing.power_off_confirm_interval,
                   conf.fencing.bmc_timeout)

    def power_state(self, host):
        state = self._call(self.driver.get_power_state, host, 'power status')
        if state not in base.POWER_STATES:
            LOG.warning('Fencing driver %s returned unknown power state %r '
                        'for host %s', self.driver.name, state, host.name)
            return base.POWER_UNKNOWN
        return state

    def _call(self, func, host, operation):
        """call_with_deadline, timed for vmha_bmc_call_seconds."""
        with metrics.bmc_call(getattr(self.driver, 'name', None), operation):
            return call_with_deadline(func, host, self.call_timeout,
                                      operation)

    def fence(self, host):
        """Power ``host`` off and confirm it; return a FenceResult.

        Raises HostNotFenceable (before any BMC call) when the host lacks
        what the driver needs, the power-off request's error (unreachable,
        auth, ...), or PowerOffUnconfirmed when no poll read ``off``.
        """
        require_details(self.driver, host)
        start = self._clock()
        first = self._first_state(host)
        LOG.info('Powering off host %s through %s (driver %s; it read %s '
                 'before)', host.name, host.bmc_label, self.driver.name,
                 first)
        self._call(self.driver.power_off, host, 'power off')
        polls = self._confirm(host, start)
        elapsed = self._clock() - start
        LOG.info('Host %s confirmed off after %d poll(s), %.2fs',
                 host.name, polls, elapsed)
        return FenceResult(host.name, self.driver.name, first, polls,
                           elapsed)

    def _first_state(self, host):
        """The state before the power-off, for the record: a failed read
        does not stop the fence (the power-off is sent anyway)."""
        try:
            return self.power_state(host)
        except exception.VmhaError as err:
            LOG.warning('Host %s: power status before the power-off failed '
                        '(%s); powering off anyway', host.name, err)
            return FIRST_READ_FAILED

    def _confirm(self, host, start):
        """Poll until ``off``; return the number of polls made.

        A poll that fails counts as a poll that did not read ``off``: the
        next one retries. After the last, PowerOffUnconfirmed names the last
        state read and the last error.
        """
        state, error = base.POWER_UNKNOWN, None
        for poll in range(1, self.confirm_count + 1):
            try:
                state = self.power_state(host)
            except exception.VmhaError as err:
                state, error = base.POWER_UNKNOWN, (poll, err)
                LOG.warning('Host %s: power status poll %d of %d failed: '
                            '%s', host.name, poll, self.confirm_count, err)
            if state == base.POWER_OFF:
                return poll
            if poll < self.confirm_count:
                self._sleep(self.confirm_interval)
        raise exception.PowerOffUnconfirmed(
            host=host.name, bmc=host.bmc_label, polls=self.confirm_count,
            elapsed=self._clock() - start, state=state,
            last_error='; poll %d failed: %s' % error if error else '')
