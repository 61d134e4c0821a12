"""The ``nova`` detection source: is nova-compute still reporting?

nova-compute writes its service record every ``report_interval`` (Nova's
option, 10 s by default, not visible through the API: vmha is told it as
``[monitor] nova_report_interval``). This source remembers, per host, when
it last saw the record's ``updated_at`` change, on the monitor's own clock
(so the clocks of Nova and vmha are never compared), and reports:

* ``up``: the record changed within ``nova_report_interval +
  nova_report_grace`` (and Nova does not call it down by itself) --
  nova-compute, hence the host, demonstrably runs.
  This holds even when the service is disabled or forced down by an operator
  or by Nova itself (libvirt's "AUTO: ..."): a live host is live.
* ``stale``: the record has not changed for longer than that: nova-compute
  stopped reporting (Nova may still call it up for ``service_down_time``).
* ``down``: Nova itself reports the service down (it saw no report for
  its ``service_down_time``); or the service was forced down by someone
  else than vmha *and* its record stopped changing. An operator's
  force-down alone says nothing about the host: it is judged by its
  reports like any other.
* ``handled``: vmha disabled the service (its ``[recovery]
  disabled_reason``): a recovery already dealt with the host.
* ``absent``: Nova has no nova-compute of that name.

A record first seen by this monitor counts as changing at that moment: a
monitor that just started needs one interval and grace to call anything
stale.
"""

import time

from vmha.detection import base


class NovaSource(base.DetectionSource):

    signal = base.SERVICE

    def __init__(self, conf, compute=None, clock=time.time, **_unused):
        self.conf = conf
        self.compute = compute
        self._clock = clock
        self.stale_after = (conf.monitor.nova_report_interval
                            + conf.monitor.nova_report_grace)
        self._reports = {}        # host -> (updated_at, first seen at)
        self._since = {}          # (host, state) -> first seen

    def observe(self):
        services = self.compute.list_services()
        now = self._clock()
        current = {svc.host: self._judge(svc, now) for svc in services}
        self._reports = {host: report for host, report in
                         self._reports.items() if host in current}
        self._since = {(host, state): self._since.get((host, state), now)
                       for host, (state, _detail) in current.items()}
        return {host: base.Observation(state, self._since[(host, state)],
                                       detail)
                for host, (state, detail) in current.items()}

    def _judge(self, svc, now):
        """(state, detail) of one service record now."""
        if (svc.status == 'disabled'
                and svc.disabled_reason == self.conf.recovery.disabled_reason):
            return base.HANDLED, 'disabled by vmha'
        silent = self._silence(svc, now)
        detail = 'last report seen changing %.1fs ago' % silent
        if svc.is_down and not svc.forced_down:
            # Nova measured service_down_time of silence itself
            return base.DOWN, 'Nova reports it down, ' + detail
        if silent <= self.stale_after:
            return base.UP, detail
        if svc.is_down:
            return base.DOWN, 'forced down, ' + detail
        return base.STALE, detail

    def stale_at(self, host):
        """Clock time at which ``host``'s record turns stale if it does not
        change before, or None if this source never saw it."""
        last = self._reports.get(host)
        return None if last is None else last[1] + self.stale_after

    def _silence(self, svc, now):
        """Seconds since this monitor last saw the record change."""
        last = self._reports.get(svc.host)
        if last is None or last[0] != svc.updated_at:
            last = (svc.updated_at, now)
            self._reports[svc.host] = last
        return now - last[1]
