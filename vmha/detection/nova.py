"""The ``nova`` detection source: nova-compute service state, no agent.

Nova marks a service ``down`` once it missed its heartbeats for Nova's
``service_down_time`` (60 s by default), so this source is slow but needs
nothing on the hosts. A service that is disabled or forced down is
``handled``: an operator or a previous recovery already dealt with it.
"""

import time

from vmha.detection import base


def service_state(svc):
    if svc.status != 'enabled' or svc.forced_down:
        return base.HANDLED
    return base.DOWN if svc.is_down else base.UP


class NovaSource(base.DetectionSource):

    entry_point_name = 'nova'
    signal = base.SERVICE

    def __init__(self, conf, compute=None, clock=time.time, **_unused):
        self.conf = conf
        self.compute = compute
        self._clock = clock
        self._since = {}          # (host, state) -> first seen

    def observe(self):
        services = self.compute.list_services()
        now = self._clock()
        current = {svc.host: service_state(svc) for svc in services}
        self._since = {key: self._since.get(key, now)
                       for key in current.items()}
        return {host: base.Observation(state, self._since[(host, state)])
                for host, state in current.items()}
