"""The BMC as a second signal: does the host's BMC answer from here?

A lost heartbeat alone may mean that the monitor (or the coordination
backend) is cut off from the host. A BMC that answers a power-state query
shows that this side of the network reaches the host's management
controller, so the silence is the host's. The answer itself (on, off,
unknown) does not matter. The ``noop`` driver answers "off" without asking
anything, so it never counts.
"""

from oslo_log import log as logging

from vmha import exception
from vmha import fencing

LOG = logging.getLogger(__name__)

BLIND_DRIVERS = ('noop',)


class BMCProbe:
    """Power-state reads under ``[fencing] bmc_timeout``, for corroboration.

    ``fencing_driver`` replaces the drivers named by the inventory (tests
    and embedding services).
    """

    def __init__(self, conf, fencing_driver=None):
        self.conf = conf
        self._fixed = fencing_driver
        self._drivers = {}

    def _driver(self, host):
        if self._fixed is not None:
            return self._fixed
        name = fencing.driver_name_for(self.conf, host)
        if name not in self._drivers:
            self._drivers[name] = fencing.load_driver(self.conf, host)
        return self._drivers[name]

    def answer(self, host):
        """The power state the BMC of ``host`` (HostSpec) reports, or None
        when it cannot be asked or does not answer."""
        try:
            driver = self._driver(host)
            if driver.name in BLIND_DRIVERS:
                return None
            return fencing.Fencer.from_conf(self.conf,
                                            driver).power_state(host)
        except exception.VmhaError as err:
            LOG.info('BMC of host %s does not answer: %s', host.name, err)
            return None
