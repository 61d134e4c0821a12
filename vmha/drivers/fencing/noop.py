"""The ``noop`` fencing driver: reports every host off without doing anything.

For tests, and for sites whose storage fences a failed host by itself (it
revokes the host's access to the volumes). It logs a warning every time it is
used, because with it vmha's split-brain protection is whatever the site
provides.
"""

from oslo_log import log as logging

from vmha.drivers.fencing import base

LOG = logging.getLogger(__name__)


class NoopFencingDriver(base.FencingDriver):

    def get_power_state(self, host):
        LOG.warning('noop fencing: reporting host %s off without checking '
                    'it; make sure storage fencing protects its disks.',
                    host.name)
        return base.POWER_OFF

    def power_off(self, host):
        LOG.warning('noop fencing: host %s is NOT powered off.', host.name)

    def power_on(self, host):
        LOG.warning('noop fencing: host %s is NOT powered on.', host.name)
