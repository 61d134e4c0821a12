"""Reinstate a repaired host: put it back into service
(``vmha-manage host reinstate``).

"Recover" is what vmha does to a failed host (isolate it, evacuate its
instances); "reinstate" is the operator's way back. After a recovery the
failed host's nova-compute service is disabled and (levels 1 and 2) forced
down, and the host stays powered off. Once an operator has repaired and
restarted it, this undoes that: unset force-down, enable the service, mark
the host healthy, emit ``vmha.host.reinstate.end`` (and, while it is
deprecated, ``vmha.host.recover.end``).

It refuses, changing nothing, while the host is still failing:

* it has an unfinished recovery;
* Nova still evacuates instances from it (an evacuation migration
  ``accepted``, ``pre-migrating`` or ``migrating``), or one it evacuated has
  not been cleaned up from it yet (``done``: its nova-compute deletes the
  local copy when it starts, and marks the migration ``completed``). Put
  back into service then, the host could run an instance that also runs
  elsewhere;
* with the ``heartbeat`` detection source: its vmha-agent is not in the
  group (agent not running, or the host still down);
* Nova reports its service down. Nova reports every forced-down service
  down, so force-down is unset first and the service read again; if it is
  still down (nova-compute not reporting), force-down is set back before
  refusing.

Otherwise the monitor would see the host failed again at its next poll.
"""

import dataclasses
import os
import socket

from oslo_log import log as logging

from vmha import coordination
from vmha.db import api as db_api
from vmha import events
from vmha import exception
from vmha import states

LOG = logging.getLogger(__name__)

HEALTHY = states.HOST_HEALTHY

#: evacuation migration statuses that keep a host out of service: Nova still
#: rebuilds the instance elsewhere, or the source has not cleaned it up yet
EVACUATING = ('accepted', 'pre-migrating', 'migrating')
NOT_CLEANED_UP = ('done',)


@dataclasses.dataclass
class ReinstatementReport:
    host: str
    state: str
    force_down_unset: bool
    enabled: bool
    heartbeat: str

    def to_dict(self):
        return dataclasses.asdict(self)


def agent_heartbeat(conf, host, membership=None):
    """'alive', 'absent', or 'not checked' when agents are not used."""
    if 'heartbeat' not in conf.monitor.detection_sources:
        return 'not checked'
    own = membership is None
    if own:
        membership = coordination.Membership.connect(
            conf, 'vmha-manage.%s.%d' % (socket.gethostname(), os.getpid()))
    try:
        members = membership.members() or set()
    finally:
        if own:
            membership.close()
    return 'alive' if host in members else 'absent'


def _unfinished(rec):
    """Why an unfinished recovery blocks the reinstatement, and what to do:
    wait for a live owner; resume only one that nobody runs (a resume of a
    running recovery is refused anyway)."""
    if rec.lease_owner and rec.lease_expires_at > db_api.utcnow():
        return ('recovery %s is %s, run by %s; let it finish'
                % (rec.id, rec.state, rec.lease_owner))
    return ('recovery %s is %s and no live process runs it; finish it with '
            '"vmha-manage recovery resume %s"' % (rec.id, rec.state, rec.id))


class HostReinstatement:
    """Return one repaired host to service through ``compute`` and ``db``."""

    def __init__(self, conf, compute, db, dispatcher, membership=None):
        self.conf = conf
        self.compute = compute
        self.db = db
        self.dispatcher = dispatcher
        self.membership = membership

    def run(self, host):
        self._check_known(host)
        self._check_no_recovery(host)
        heartbeat = self._check_heartbeat(host)
        self._check_no_evacuation(host)
        svc = self.compute.get_service(host)
        unset = svc.forced_down
        if unset:
            svc = self.compute.force_down(host, False)
        if svc.is_down:
            self._refuse_down(host, unset)
        enabled = svc.status != 'enabled'
        if enabled:
            self.compute.enable(host)
        self.db.update_host_state(host, HEALTHY)
        report = ReinstatementReport(host, HEALTHY, unset, enabled,
                                     heartbeat)
        for event_type in events.HOST_REINSTATED_TYPES:
            self.dispatcher.emit(events.Event(event_type, host=host,
                                              payload=report.to_dict()))
        LOG.info('Host %s back in service (force-down unset: %s, enabled: '
                 '%s)', host, unset, enabled)
        return report

    def _check_known(self, host):
        """A host neither vmha nor Nova knows is a typo, not a failing
        host: say so (rather than "no vmha-agent heartbeat")."""
        if self.db.find_host(host) is not None:
            return
        try:
            self.compute.get_service(host)
        except exception.ComputeServiceNotFound as err:
            raise exception.UnknownHost(
                name=host, binary=self.conf.recovery.compute_binary) from err

    def _check_no_recovery(self, host):
        for rec in self.db.list_recoveries(host=host,
                                           states=states.ACTIVE_STATES):
            raise exception.HostStillFailing(host=host,
                                             reason=_unfinished(rec))

    def _check_no_evacuation(self, host):
        for migration in self.compute.list_host_evacuations(host):
            instance = getattr(migration, 'instance_uuid', None) or '?'
            if migration.status in EVACUATING:
                raise exception.HostStillFailing(
                    host=host, reason='Nova is still evacuating instance %s '
                    'from it (migration %s); wait until it has landed'
                    % (instance, migration.status))
            if migration.status in NOT_CLEANED_UP:
                raise exception.HostStillFailing(
                    host=host, reason='instance %s was evacuated from it '
                    'but not yet cleaned up from it (migration done): start '
                    'its nova-compute, which deletes the local copy, then '
                    'try again' % instance)

    def _check_heartbeat(self, host):
        heartbeat = agent_heartbeat(self.conf, host, self.membership)
        if heartbeat == 'absent':
            raise exception.HostStillFailing(
                host=host, reason='no vmha-agent heartbeat in group %s; '
                'start vmha-agent on it first'
                % self.conf.coordination.group_name)
        return heartbeat

    def _refuse_down(self, host, was_forced):
        if was_forced:
            self.compute.force_down(host, True)
        raise exception.HostStillFailing(
            host=host, reason='Nova reports its %s service down (not '
            'reporting to Nova); start it first'
            % self.conf.recovery.compute_binary)


#: the names before "reinstate" (vmha.repair), kept while it is deprecated
HostRepair = HostReinstatement
RepairReport = ReinstatementReport
