"""The only module that talks to Nova.

python-novaclient over a keystoneauth session built from the ``[nova]``
options. The microversion is negotiated once with the server (or pinned by
``[nova] api_version``) and every call picks the request shape that version
wants:

* force-down, disable, enable: host + binary up to 2.52, service UUID from
  2.53 (``PUT /os-services/{id}``);
* evacuate: ``onSharedStorage`` below 2.14; ``force`` exists 2.29-2.67 and vmha
  never sets it (a given host still goes through the scheduler); from 2.95 the
  evacuated instance is left stopped at the destination, so the caller starts
  it again when it was running before; while a nova-compute is older than
  service version 62 Nova refuses 2.95+ and the call is sent again at 2.94;
* lock with a reason, and ``locked_reason`` shown, from 2.73.

Nova and keystoneauth errors become :mod:`vmha.exception` errors whose
messages say what failed (unknown host, evacuate refused, Nova unreachable).

Retries: the keystoneauth adapter options ``[nova] connect_retries`` (vmha
default 3), ``connect_retry_delay``, ``status_code_retries`` and friends
apply to reads and to the idempotent service updates (force-down, disable,
enable). Server actions (evacuate, start, stop, reset-state) are POSTs that
Nova may have carried out although the connection broke before its answer:
they are sent once, and the caller decides (the evacuation task looks for
Nova's migration record before it asks again). A pooled connection that
nova-api (or a load balancer) closed after its keep-alive timeout just as a
request reused it -- seen in the lab when a level-3 recovery resumes after
waiting for Nova -- is thus retried where that is safe and no longer turns
a healthy evacuation into a failed one.
"""

import contextlib
import dataclasses
import time
from urllib import parse

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from novaclient import api_versions
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc
from novaclient.v2 import servers as nova_servers
from oslo_log import log as logging

from vmha import exception
from vmha import metrics

LOG = logging.getLogger(__name__)

MIN_VERSION = api_versions.APIVersion('2.11')   # forced_down
SERVICE_UUID_VERSION = api_versions.APIVersion('2.53')
NO_SHARED_STORAGE_ARG_VERSION = api_versions.APIVersion('2.14')
EVACUATE_TO_STOPPED_VERSION = api_versions.APIVersion('2.95')
#: the newest microversion whose evacuation keeps the power state
EVACUATE_KEEPS_STATE_VERSION = api_versions.APIVersion('2.94')
SCHEDULED_TARGET_VERSION = api_versions.APIVersion('2.29')
LOCK_REASON_VERSION = api_versions.APIVersion('2.73')
MIGRATION_FILTER_VERSION = api_versions.APIVersion('2.59')

STATE_DOWN = 'down'

# vm_state values (OS-EXT-STS:vm_state)
VM_ACTIVE = 'active'
VM_STOPPED = 'stopped'
VM_ERROR = 'error'
EVACUABLE_VM_STATES = (VM_ACTIVE, VM_STOPPED, VM_ERROR)


@dataclasses.dataclass(frozen=True)
class Service:
    """A nova-compute service as Nova reports it."""

    id: str
    host: str
    binary: str
    status: str          # enabled / disabled
    state: str           # up / down
    forced_down: bool
    disabled_reason: str = None
    #: when nova-compute last reported (Nova's clock, as Nova writes it):
    #: compared only with its own earlier values, never with vmha's clock
    updated_at: str = None

    @classmethod
    def from_nova(cls, svc):
        return cls(id=str(svc.id), host=svc.host, binary=svc.binary,
                   status=svc.status, state=svc.state,
                   forced_down=bool(getattr(svc, 'forced_down', False)),
                   disabled_reason=getattr(svc, 'disabled_reason', None),
                   updated_at=getattr(svc, 'updated_at', None))

    @property
    def is_down(self):
        return self.state == STATE_DOWN


@dataclasses.dataclass(frozen=True)
class Instance:
    """The fields of a server vmha decides and confirms evacuations with."""

    id: str
    name: str
    status: str
    vm_state: str
    task_state: str
    host: str
    metadata: dict = dataclasses.field(default_factory=dict)
    fault: str = None
    #: None when Nova does not show the lock
    locked: bool = None
    #: shown from 2.73
    locked_reason: str = None
    #: when Nova last changed it (Nova's clock, ISO 8601): only compared
    #: with other values of Nova's clock (vmha.confirm)
    updated: str = None

    @property
    def deleted(self):
        """Deleted (a ``changes-since`` listing shows deleted servers)."""
        return self.vm_state == 'deleted' or self.status == 'DELETED'

    @classmethod
    def from_nova(cls, server):
        fault = getattr(server, 'fault', None) or {}
        return cls(id=server.id, name=server.name, status=server.status,
                   vm_state=getattr(server, 'OS-EXT-STS:vm_state', None),
                   task_state=getattr(server, 'OS-EXT-STS:task_state', None),
                   host=getattr(server, 'OS-EXT-SRV-ATTR:host', None),
                   metadata=dict(getattr(server, 'metadata', {}) or {}),
                   fault=fault.get('message'),
                   locked=getattr(server, 'locked', None),
                   locked_reason=getattr(server, 'locked_reason', None),
                   updated=getattr(server, 'updated', None))

    def to_dict(self):
        return dataclasses.asdict(self)


#: keystoneauth adapter options ([nova]) passed on to idempotent requests
RETRY_OPTIONS = ('connect_retries', 'connect_retry_delay',
                 'status_code_retries', 'status_code_retry_delay',
                 'retriable_status_codes')


def load_session(conf, group='nova'):
    """A keystoneauth session from the ``[nova]`` auth and session options."""
    auth = ks_loading.load_auth_from_conf_options(conf, group)
    if auth is None:
        raise exception.ConfigError(
            reason='[%s] auth_type is not set: vmha needs credentials to '
                   'reach Nova' % group)
    return ks_loading.load_session_from_conf_options(conf, group, auth=auth)


@contextlib.contextmanager
def nova_errors(action, not_found=None):
    """Translate novaclient/keystoneauth errors raised while doing ``action``.

    ``not_found``: the vmha exception to raise on HTTP 404, if any.
    """
    try:
        yield
    except nova_exc.NotFound as err:
        if not_found is not None:
            raise not_found from err
        raise exception.NovaError(reason='%s: %s' % (action, err)) from err
    except nova_exc.ClientException as err:
        raise exception.NovaError(
            reason='%s: HTTP %s %s' % (action, err.code, err)) from err
    except ks_exc.ConnectTimeout as err:      # connecting, or the answer
        raise exception.NovaUnavailable(
            reason='%s: no answer within [nova] timeout (%s)'
                   % (action, err)) from err
    except (ks_exc.ConnectionError, ks_exc.DiscoveryFailure) as err:
        raise exception.NovaUnavailable(
            reason='%s: %s' % (action, err)) from err
    except ks_exc.ClientException as err:
        raise exception.NovaError(reason='%s: %s' % (action, err)) from err


def _has_next(links):
    """Does a listing's ``*_links`` say there is a next page?"""
    return any(link.get('rel') == 'next' for link in links or ())


class EvacuateRefusedForOldComputes(exception.NovaError):
    """Nova refused an evacuation at >= 2.95 because of old computes."""


#: What Nova 34 answers for NotSupportedComputeForEvacuateV295: the exception
#: is not "safe" to show, so its FaultWrapper sends webob's generic 400 text
#: (measured on the lab's Nova). A Nova that formats the message says "use
#: an older microversion"; either way nothing was done.
OLD_COMPUTES_REFUSALS = (
    'NotSupportedComputeForEvacuateV295',
    'please use an older microversion',
    'The server could not comply with the request since it is either '
    'malformed or otherwise incorrect.',
)


def refused_for_old_computes(version, err):
    """Is this HTTP 400 Nova's refusal to evacuate at >= 2.95 while a
    nova-compute is older than service version 62?"""
    if version < EVACUATE_TO_STOPPED_VERSION:
        return False
    text = str(getattr(err, 'message', '') or err)
    return any(refusal.lower() in text.lower()
               for refusal in OLD_COMPUTES_REFUSALS)


def _evacuate_not_found(instance_id, target_host, err):
    """Nova answers 404 for an unknown instance and for an unknown target
    host ("Compute host X not found."): say which one."""
    if target_host and 'compute host' in str(err).lower():
        return exception.TargetHostNotFound(host=target_host,
                                            instance=instance_id)
    return exception.InstanceNotFound(instance=instance_id)


class ComputeAPI:
    """Microversion-aware facade over the Compute API.

    Thread-safe for the calls vmha makes (one keystoneauth session, novaclient
    clients are cheap per-version views of it).
    """

    def __init__(self, session, region_name=None, interface=None,
                 service_type='compute', endpoint_override=None,
                 api_version='auto', binary='nova-compute', retries=None):
        self._session = session
        self._client_kwargs = dict(region_name=region_name,
                                   service_type=service_type,
                                   endpoint_override=endpoint_override)
        #: keystoneauth adapter retry arguments, for idempotent requests
        self._retries = {k: v for k, v in (retries or {}).items()
                         if v is not None}
        if interface:
            self._client_kwargs['endpoint_type'] = interface
        self._requested_version = api_version
        self._version = None
        self.binary = binary

    @classmethod
    def from_conf(cls, conf):
        """Build from the ``[nova]`` options (keystoneauth-registered)."""
        nova = conf.nova
        interfaces = nova.valid_interfaces or ['public']
        return cls(load_session(conf),
                   region_name=nova.region_name,
                   interface=interfaces[0],
                   service_type=nova.service_type,
                   endpoint_override=nova.endpoint_override,
                   api_version=nova.api_version,
                   binary=conf.recovery.compute_binary,
                   retries={name: getattr(nova, name)
                            for name in RETRY_OPTIONS})

    # -- microversion -------------------------------------------------------

    @property
    def version(self):
        """The APIVersion every call uses, negotiated on first use."""
        if self._version is None:
            self._version = self._negotiate()
            LOG.info('Using compute API microversion %s',
                     self._version.get_string())
        return self._version

    @metrics.nova_call
    def _negotiate(self):
        base = self._client(api_versions.APIVersion('2.1'))
        wanted = ('2.latest' if self._requested_version == 'auto'
                  else self._requested_version)
        requested = api_versions.APIVersion(wanted)
        with nova_errors('microversion negotiation'):
            try:
                version = api_versions.discover_version(base, requested)
            except nova_exc.UnsupportedVersion as err:
                raise exception.UnsupportedMicroversion(
                    version=wanted, reason=err) from err
        if version < MIN_VERSION:
            raise exception.UnsupportedMicroversion(
                version=version.get_string(),
                reason='vmha needs at least %s (forced_down)'
                       % MIN_VERSION.get_string())
        return version

    def _client(self, version=None, idempotent=True):
        """A client of ``version``; one for a non-idempotent POST
        (``idempotent=False``) never retries (see the module docstring)."""
        retries = (self._retries if idempotent
                   else dict(connect_retries=0, status_code_retries=0))
        return nova_client.Client(version or self.version,
                                  session=self._session,
                                  **self._client_kwargs, **retries)

    @property
    def uses_service_uuid(self):
        return self.version >= SERVICE_UUID_VERSION

    @property
    def evacuates_to_stopped(self):
        return self.version >= EVACUATE_TO_STOPPED_VERSION

    @property
    def locks_with_reason(self):
        """Can vmha lock an instance with a reason, and see the lock and
        its reason (``locked``, ``locked_reason``)?"""
        return self.version >= LOCK_REASON_VERSION

    # -- services -----------------------------------------------------------

    @metrics.nova_call
    def list_services(self, binary=None):
        with nova_errors('list %s services' % (binary or 'all')):
            return [Service.from_nova(s) for s in
                    self._client().services.list(binary=binary or self.binary)]

    @metrics.nova_call
    def get_service(self, host):
        """The compute service of ``host``; ComputeServiceNotFound if none."""
        with nova_errors('get %s service of host %s' % (self.binary, host)):
            found = self._client().services.list(host=host,
                                                 binary=self.binary)
        for svc in found:
            if svc.host == host:
                return Service.from_nova(svc)
        raise exception.ComputeServiceNotFound(host=host, binary=self.binary)

    def _service_call(self, host, action, by_uuid, by_host):
        """Call ``by_uuid(id)`` (2.53+) or ``by_host(host, binary)``."""
        svc = self.get_service(host)
        with nova_errors('%s %s on %s' % (action, self.binary, host),
                         exception.ComputeServiceNotFound(
                             host=host, binary=self.binary)):
            if self.uses_service_uuid:
                by_uuid(svc.id)
            else:
                by_host(host, self.binary)
        return self.get_service(host)

    @metrics.nova_call
    def force_down(self, host, forced=True):
        """Set (or unset) ``forced_down``; return the updated Service."""
        services = self._client().services
        try:
            return self._service_call(
                host, 'force-down' if forced else 'unset force-down',
                lambda sid: services.force_down(sid, forced),
                lambda h, b: services.force_down(h, b, forced))
        except exception.NovaError as err:
            if isinstance(err, exception.ComputeServiceNotFound):
                raise
            raise exception.ForceDownFailed(host=host, binary=self.binary,
                                            reason=err) from err

    @metrics.nova_call
    def disable(self, host, reason):
        services = self._client().services
        return self._service_call(
            host, 'disable',
            lambda sid: services.disable_log_reason(sid, reason),
            lambda h, b: services.disable_log_reason(h, b, reason))

    @metrics.nova_call
    def enable(self, host):
        services = self._client().services
        return self._service_call(host, 'enable', services.enable,
                                  services.enable)

    def wait_service_down(self, host, timeout, interval=1.0,
                          sleep=time.sleep, clock=time.monotonic):
        """Poll until Nova reports ``host``'s service down; return it.

        Raises ServiceNotDown after ``timeout`` seconds.
        """
        deadline = clock() + timeout
        while True:
            svc = self.get_service(host)
            if svc.is_down:
                return svc
            if clock() >= deadline:
                raise exception.ServiceNotDown(host=host, binary=self.binary,
                                               timeout=timeout)
            sleep(interval)

    # -- instances ----------------------------------------------------------

    @metrics.nova_call
    def list_instances(self, host):
        """Every instance Nova places on ``host``, all tenants, all pages."""
        with nova_errors('list instances on host %s' % host):
            servers = self._client().servers.list(
                detailed=True, limit=-1,
                search_opts={'all_tenants': True, 'host': host})
        return [Instance.from_nova(s) for s in servers]

    @metrics.nova_call
    def list_changed_instances(self, since):
        """Every instance (all tenants, all pages) Nova changed at or
        after ``since`` (ISO 8601, Nova's clock): ``GET /servers/detail?
        all_tenants=1&changes-since=...``. Deleted ones are included
        (``Instance.deleted``). One request confirms many evacuations
        (vmha.confirm).

        Pages are followed by Nova's own ``next`` link, which it sends only
        for a full page: python-novaclient's "all pages" asks once more
        after every page, doubling the requests of each round.
        """
        client = self._client()
        query = {'all_tenants': 1, 'changes-since': since}
        found = []
        with nova_errors('list instances changed since %s' % since):
            while True:
                _resp, body = client.client.get(
                    '/servers/detail?%s' % parse.urlencode(sorted(
                        query.items())))
                page = body.get('servers') or []
                found += [Instance.from_nova(nova_servers.Server(
                    client.servers, info, loaded=True)) for info in page]
                if not page or not _has_next(body.get('servers_links')):
                    return found
                query['marker'] = page[-1]['id']

    @metrics.nova_call
    def get_instance(self, instance_id):
        with nova_errors('get instance %s' % instance_id,
                         exception.InstanceNotFound(instance=instance_id)):
            return Instance.from_nova(
                self._client().servers.get(instance_id))

    @metrics.nova_call
    def evacuate(self, instance_id, target_host=None,
                 on_shared_storage=False):
        """Ask Nova to rebuild ``instance_id`` on another host.

        Returns the microversion string the request was accepted at, once
        Nova accepted it (HTTP 200): from 2.95 the instance lands stopped.
        A refusal (service still up, bad state, no valid host...) raises
        EvacuateRefused; an unknown target host, TargetHostNotFound.

        From 2.95 Nova refuses while any nova-compute is older than service
        version 62 (``NotSupportedComputeForEvacuateV295``: "use an older
        microversion"), i.e. during a rolling upgrade: the request is then
        sent again at 2.94, for this call only.
        """
        if target_host and self.version < SCHEDULED_TARGET_VERSION:
            raise exception.ConfigError(
                reason='Nova negotiated microversion %s: below %s an '
                       'evacuation to a fixed target host bypasses the '
                       'scheduler; not evacuating instance %s there' % (
                           self.version.get_string(),
                           SCHEDULED_TARGET_VERSION.get_string(),
                           instance_id))
        version = self.version
        try:
            self._send_evacuate(version, instance_id, target_host,
                                on_shared_storage)
        except EvacuateRefusedForOldComputes:
            LOG.warning('Nova refused to evacuate instance %s at '
                        'microversion %s (a nova-compute is older than '
                        'service version 62, e.g. during an upgrade): '
                        'asking again at %s', instance_id,
                        version.get_string(),
                        EVACUATE_KEEPS_STATE_VERSION.get_string())
            version = EVACUATE_KEEPS_STATE_VERSION
            self._send_evacuate(version, instance_id, target_host,
                                on_shared_storage)
        return version.get_string()

    def _send_evacuate(self, version, instance_id, target_host,
                       on_shared_storage):
        kwargs = {'host': target_host}
        if version < NO_SHARED_STORAGE_ARG_VERSION:
            kwargs['on_shared_storage'] = on_shared_storage
        servers = self._client(version, idempotent=False).servers
        action = 'evacuate instance %s' % instance_id
        try:
            with nova_errors(action):
                try:
                    servers.evacuate(instance_id, **kwargs)
                except nova_exc.BadRequest as err:
                    if refused_for_old_computes(version, err):
                        raise EvacuateRefusedForOldComputes(
                            reason=str(err)) from err
                    raise
                except nova_exc.NotFound as err:
                    raise _evacuate_not_found(instance_id, target_host,
                                              err) from err
        except (exception.InstanceNotFound, exception.TargetHostNotFound,
                exception.NovaUnavailable, EvacuateRefusedForOldComputes):
            raise
        except exception.NovaError as err:
            raise exception.EvacuateRefused(instance=instance_id,
                                            reason=err) from err

    @metrics.nova_call
    def lock(self, instance_id, reason):
        """Lock the instance against its owner's actions (admin lock)."""
        with nova_errors('lock instance %s' % instance_id,
                         exception.InstanceNotFound(instance=instance_id)):
            self._client(idempotent=False).servers.lock(instance_id,
                                                        reason=reason)

    @metrics.nova_call
    def unlock(self, instance_id):
        with nova_errors('unlock instance %s' % instance_id,
                         exception.InstanceNotFound(instance=instance_id)):
            self._client(idempotent=False).servers.unlock(instance_id)

    @metrics.nova_call
    def start(self, instance_id):
        with nova_errors('start instance %s' % instance_id,
                         exception.InstanceNotFound(instance=instance_id)):
            self._client(idempotent=False).servers.start(instance_id)

    @metrics.nova_call
    def stop(self, instance_id):
        with nova_errors('stop instance %s' % instance_id,
                         exception.InstanceNotFound(instance=instance_id)):
            self._client(idempotent=False).servers.stop(instance_id)

    @metrics.nova_call
    def reset_state(self, instance_id, state):
        with nova_errors('reset state of instance %s' % instance_id,
                         exception.InstanceNotFound(instance=instance_id)):
            self._client(idempotent=False).servers.reset_state(
                instance_id, state)

    @metrics.nova_call
    def list_evacuations(self, instance_id):
        """Evacuation migration records of an instance (newest first)."""
        with nova_errors('list migrations of instance %s' % instance_id):
            client = self._client(MIGRATION_FILTER_VERSION)
            migrations = client.migrations.list(
                instance_uuid=instance_id, migration_type='evacuation')
        return sorted(migrations, key=lambda m: m.created_at, reverse=True)

    # -- host aggregates (reserved hosts) ---------------------------------

    @metrics.nova_call
    def host_aggregates(self, host):
        """{aggregate id: name} of the aggregates ``host`` belongs to."""
        with nova_errors('list host aggregates'):
            aggregates = self._client().aggregates.list()
        return {str(agg.id): agg.name for agg in aggregates
                if host in (getattr(agg, 'hosts', None) or ())}

    @metrics.nova_call
    def add_to_aggregate(self, aggregate_id, host):
        """Add ``host`` to an aggregate (it must not be in it already)."""
        with nova_errors('add host %s to aggregate %s' % (host,
                                                           aggregate_id)):
            self._client(idempotent=False).aggregates.add_host(aggregate_id,
                                                               host)

    @metrics.nova_call
    def list_host_evacuations(self, host):
        """Evacuation migration records whose source is ``host`` (as many
        as one page of Nova's answer holds, newest first)."""
        with nova_errors('list evacuations from host %s' % host):
            client = self._client(MIGRATION_FILTER_VERSION)
            migrations = client.migrations.list(
                host=host, migration_type='evacuation')
        return [m for m in migrations if m.source_compute == host]
