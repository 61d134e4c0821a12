"""The fencing procedure shared by every driver.

Read the power state; if the host is not off, request power-off; poll the
state up to ``power_off_confirm_count`` times, ``power_off_confirm_interval``
apart, until it reads ``off``. Every BMC call runs under a deadline
(``bmc_timeout``) because some BMCs never answer a bad login. Only a
confirmed ``off`` makes evacuation safe; anything else raises
PowerOffUnconfirmed (or the driver's own error) and the caller does not
evacuate.
"""

import concurrent.futures
import dataclasses
import time

from oslo_log import log as logging

from vmha.drivers import loader
from vmha.drivers.fencing import base
from vmha import exception

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class FenceResult:
    """Outcome of a confirmed power-off."""

    host: str
    driver: str
    was_already_off: bool
    polls: int
    elapsed: float

    def to_dict(self):
        return dataclasses.asdict(self)


def driver_name_for(conf, host):
    """The driver a host uses: its own, else ``[fencing] default_driver``."""
    return host.fencing_driver or conf.fencing.default_driver


def load_driver(conf, host):
    return loader.load(loader.FENCING_NAMESPACE,
                       driver_name_for(conf, host), conf)


def call_with_deadline(func, host, timeout, operation):
    """Run ``func(host)`` and give up after ``timeout`` seconds.

    The call runs in a daemon worker; an abandoned call is left to finish on
    its own (drivers set client timeouts so it does not linger). A driver
    error that is not a vmha error (a third-party driver's bug, say) becomes
    a FencingError, so that it is recorded and notified like any other.
    """
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix='vmha-bmc')
    future = pool.submit(func, host)
    pool.shutdown(wait=False)
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise exception.BMCTimeout(host=host.name, bmc=host.bmc_label,
                                   operation=operation, timeout=timeout)
    except exception.VmhaError:
        raise
    except Exception as err:
        LOG.exception('Fencing driver failed on %s of host %s',
                      operation, host.name)
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
        state = call_with_deadline(self.driver.get_power_state, host,
                                   self.call_timeout, 'power status')
        if state not in base.POWER_STATES:
            LOG.warning('Fencing driver %s returned unknown power state %r '
                        'for host %s', self.driver.name, state, host.name)
            return base.POWER_UNKNOWN
        return state

    def fence(self, host):
        """Power ``host`` off and confirm it; return a FenceResult.

        Raises PowerOffUnconfirmed when the host does not read ``off`` after
        the configured polls, or the driver's error (unreachable, auth, ...).
        """
        start = self._clock()
        if self.power_state(host) == base.POWER_OFF:
            LOG.info('Host %s is already powered off (driver %s)',
                     host.name, self.driver.name)
            return FenceResult(host.name, self.driver.name, True, 1,
                               self._clock() - start)
        LOG.info('Powering off host %s through %s (driver %s)',
                 host.name, host.bmc_label, self.driver.name)
        call_with_deadline(self.driver.power_off, host, self.call_timeout,
                           'power off')
        state = base.POWER_UNKNOWN
        for poll in range(1, self.confirm_count + 1):
            state = self.power_state(host)
            if state == base.POWER_OFF:
                elapsed = self._clock() - start
                LOG.info('Host %s confirmed off after %d poll(s), %.2fs',
                         host.name, poll, elapsed)
                return FenceResult(host.name, self.driver.name, False, poll,
                                   elapsed)
            if poll < self.confirm_count:
                self._sleep(self.confirm_interval)
        raise exception.PowerOffUnconfirmed(
            host=host.name, bmc=host.bmc_label, polls=self.confirm_count,
            elapsed=self._clock() - start, state=state)
