"""The lab's keystone and nova, through keystoneauth and novaclient.

Only importable with the lab's nova venv python (vmha_lab.py re-executes
itself with it).
"""

import datetime
import time

from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from keystoneclient.v3 import client as keystone_client
from novaclient import client as nova_client
from novaclient import exceptions as nova_exceptions

from lab_common import ADDRESS
from lab_common import FLAVOR
from lab_common import IMAGE_ID
from lab_common import LabError
from lab_common import PORTS
from lab_common import admin_auth
from lab_common import REGION
from lab_common import SERVICE_PASSWORD
from lab_common import say
from lab_common import wait_until

DISABLED_TRAIT = 'COMPUTE_STATUS_DISABLED'
PLACEMENT = {'service_type': 'placement', 'region_name': REGION}
PLACEMENT_VERSION = {'OpenStack-API-Version': 'placement 1.6'}
SERVICE_USERS = ('nova', 'placement', 'neutron', 'glance')
CATALOG = {   # type: (name, port, path)
    'compute': ('nova', PORTS['nova'], '/v2.1'),
    'placement': ('placement', PORTS['placement'], ''),
    'image': ('glance', PORTS['glance'], ''),
    'network': ('neutron', PORTS['neutron'], ''),
}


class Cloud:
    """An admin session with novaclients per microversion."""

    def __init__(self):
        auth = dict(admin_auth())
        del auth['region_name']
        self.session = ks_session.Session(auth=v3.Password(**auth),
                                          timeout=60)
        self._novas = {}

    def nova(self, version='2.53'):
        if version not in self._novas:
            self._novas[version] = nova_client.Client(
                version, session=self.session, region_name=REGION)
        return self._novas[version]

    # ------------------------------------------------------------ keystone

    def register_services(self, users=SERVICE_USERS, catalog=CATALOG):
        """Service project, users and catalog; idempotent.

        Must happen before nova-scheduler and the computes start: they
        authenticate at start-up and exit on a 401. ``users`` and
        ``catalog`` (as SERVICE_USERS and CATALOG): optional parts such as
        Masakari register theirs the same way.
        """
        ks = keystone_client.Client(session=self.session,
                                    region_name=REGION)
        domain = ks.domains.get('default')
        project = (ks.projects.list(name='service')
                   or [ks.projects.create('service', domain)])[0]
        roles = {r.name: r for r in ks.roles.list()}
        for name in ('admin', 'service'):
            if name not in roles:
                roles[name] = ks.roles.create(name)
        for name in users:
            user = (ks.users.list(name=name) or [ks.users.create(
                name, domain=domain, password=SERVICE_PASSWORD,
                default_project=project)])[0]
            for role in ('admin', 'service'):
                ks.roles.grant(roles[role], user=user, project=project)
        for stype, (name, port, path) in catalog.items():
            service = (ks.services.list(type=stype)
                       or [ks.services.create(name, type=stype)])[0]
            endpoint = 'http://%s:%d%s' % (ADDRESS, port, path)
            for interface in ('public', 'internal', 'admin'):
                if not ks.endpoints.list(service=service,
                                         interface=interface):
                    ks.endpoints.create(service, endpoint,
                                        interface=interface, region=REGION)
        # The token cached so far carries the catalog from before these
        # endpoints existed: fetch a fresh one.
        self.session.auth.invalidate()

    # ------------------------------------------------------------ computes

    def compute_services(self):
        """{host: service} of the nova-compute services."""
        return {s.host: s for s in
                self.nova().services.list(binary='nova-compute')}

    def service(self, host):
        try:
            return self.compute_services()[host]
        except KeyError:
            raise LabError('Nova has no nova-compute service on %s' % host)

    def delete_compute_services(self, hosts):
        """Delete the hosts' nova-compute services: Nova deletes their
        compute nodes, host mappings and resource providers with them."""
        for host, service in self.compute_services().items():
            if host in hosts:
                self.nova().services.delete(service.id)
                say('%s: nova-compute service deleted' % host)

    def hypervisors_up(self):
        return {h.hypervisor_hostname for h in self.nova().hypervisors.list()
                if h.state == 'up'}

    def wait_computes_up(self, hosts, since=None, timeout=180,
                         discover=None, last_seen=None):
        """Until each host's service is up.

        ``since``: {host: epoch seconds} of computes just started, whose
        heartbeat must be newer (Nova still says up for service_down_time
        after a compute died).

        ``last_seen(host)`` (epoch seconds of the last heartbeat), when
        given, is what ``since`` is compared with instead of the API's
        ``updated_at``.

        ``discover`` (a callable) maps hosts to the cell when their
        hypervisors are missing, instead of waiting for the scheduler's
        periodic task (up to a minute on a fresh deployment).
        """
        progress = {'last': None, 'discovered': 0.0}

        def ready():
            services = self.compute_services()
            up = [h for h in hosts if h in services
                  and services[h].state == 'up'
                  and self._heard_since(services[h], (since or {}).get(h),
                                        last_seen)]
            missing = set(hosts) - self.hypervisors_up() if discover else ()
            message = 'computes up: %d/%d' % (len(up), len(hosts))
            if missing and len(up) == len(hosts):
                message += ', not yet mapped to the cell: ' + ' '.join(
                    sorted(missing))
            if message != progress['last']:
                say(message)
                progress['last'] = message
            if len(up) < len(hosts):
                return False
            if missing and time.monotonic() - progress['discovered'] > 5:
                discover()
                progress['discovered'] = time.monotonic()
            return not missing

        wait_until(ready, timeout, 'nova-compute on %s' % ' '.join(hosts),
                   interval=1.0)

    @staticmethod
    def _heard_since(service, since, last_seen):
        if since is None or last_seen is None:
            return heartbeat_after(service, since)
        seen = last_seen(service.host)
        return seen is not None and seen >= since

    def wait_service_state(self, host, state, timeout):
        wait_until(lambda: self.service(host).state == state, timeout,
                   'Nova to report the compute of %s %s' % (host, state),
                   interval=0.5)

    def pending_evacuations(self, host):
        """Evacuations from ``host`` its compute has not cleaned up yet.

        Nova refuses to unset force-down while any is ``done``.
        """
        return [m for m in self.nova('2.59').migrations.list(
                source_compute=host, migration_type='evacuation')
                if m.source_compute == host and m.status == 'done']

    def make_healthy(self, host):
        """Unset force-down and enable the host's compute service."""
        service = self.service(host)
        if service.forced_down:
            self.nova().services.force_down(service.id, False)
            say('%s: force-down unset' % host)
        if service.status != 'enabled':
            self.nova().services.enable(service.id)
            say('%s: service enabled' % host)

    def clear_disabled_trait(self, host):
        """Drop COMPUTE_STATUS_DISABLED from the host's resource provider.

        nova-api syncs that trait to placement through the compute, and only
        when the compute answers at that moment; a host enabled while its
        compute was still starting keeps the trait, and placement then
        offers it to no new server until the next periodic sync.
        """
        url = '/resource_providers/%s/traits'
        for rp in self._placement('/resource_providers?name=' + host)[
                'resource_providers']:
            traits = self._placement(url % rp['uuid'])
            if DISABLED_TRAIT not in traits['traits']:
                continue
            self.session.put(url % rp['uuid'], endpoint_filter=PLACEMENT,
                             headers=PLACEMENT_VERSION, json={
                'traits': [t for t in traits['traits']
                           if t != DISABLED_TRAIT],
                'resource_provider_generation':
                    traits['resource_provider_generation']})
            say('%s: %s trait removed' % (host, DISABLED_TRAIT))

    def _placement(self, path):
        return self.session.get(path, endpoint_filter=PLACEMENT,
                                headers=PLACEMENT_VERSION).json()

    # ------------------------------------------------------------ servers

    def flavor(self):
        """The lab's flavor, created if missing."""
        nova = self.nova()
        try:
            return nova.flavors.find(name=FLAVOR)
        except nova_exceptions.NotFound:
            pass
        try:
            return nova.flavors.create(FLAVOR, ram=512, vcpus=1, disk=1)
        except nova_exceptions.Conflict:      # created meanwhile
            return nova.flavors.find(name=FLAVOR)

    def servers(self, ids=None):
        """{id: server} of all projects' servers (or just ``ids``)."""
        found = {s.id: s for s in self.nova().servers.list(
            search_opts={'all_tenants': 1})}
        if ids is None:
            return found
        return {i: found[i] for i in ids if i in found}

    def wait_servers(self, ids, status, timeout=180):
        """Until every server in ``ids`` has ``status``; ERROR fails."""
        def ready():
            servers = self.servers(ids)
            for server in servers.values():
                if server.status == 'ERROR' and status != 'ERROR':
                    raise LabError('server %s went to ERROR: %s' % (
                        server.id, fault_of(server)))
            return len(servers) == len(ids) and all(
                s.status == status for s in servers.values())
        wait_until(ready, timeout, '%d servers %s' % (len(ids), status))

    def _wait_booted(self, nova, ids, create, retries=2):
        """Until every server in ``ids`` is ACTIVE.

        A server the scheduler found no host for is deleted and booted again
        (``create(index)``, ``ids`` updated in place), ``retries`` times at
        most: right after a reset, placement can briefly see a restarted
        compute with its COMPUTE_STATUS_DISABLED trait still set (the
        compute re-syncs it as it starts). Any other ERROR fails.
        """
        rebooted = {}

        def ready():
            servers = self.servers(ids)
            for index, server_id in enumerate(list(ids)):
                server = servers.get(server_id)
                if server is None or server.status != 'ERROR':
                    continue
                fault = fault_of(server)
                if ('No valid host' not in fault
                        or rebooted.get(index, 0) >= retries):
                    raise LabError('server %s went to ERROR: %s'
                                   % (server_id, fault))
                rebooted[index] = rebooted.get(index, 0) + 1
                say('server %s: %s; booting it again' % (server_id, fault))
                nova.servers.delete(server_id)
                ids[index] = create(index)
            return all(servers.get(i) is not None
                       and servers[i].status == 'ACTIVE' for i in ids)
        wait_until(ready, 180, '%d servers ACTIVE' % len(ids))

    def boot(self, count, host, prefix, stopped=0, error=0, metadata=None):
        """``count`` servers on ``host``: ACTIVE, then some SHUTOFF/ERROR.

        Returns the server ids, in boot order.
        """
        if stopped + error > count:
            raise LabError('--stopped + --error exceeds the server count')
        flavor = self.flavor()
        nova = self.nova('2.74')    # 2.74: host= pins the target host

        def create(number):
            return nova.servers.create(
                '%s-%d' % (prefix, number + 1), IMAGE_ID, flavor, nics='none',
                host=host, meta=metadata or None).id

        ids = [create(i) for i in range(count)]
        say('booting %d servers on %s' % (count, host))
        self._wait_booted(nova, ids, create)
        to_stop, to_error = ids[:stopped], ids[stopped:stopped + error]
        for server_id in to_stop:
            nova.servers.stop(server_id)
        if to_stop:
            self.wait_servers(to_stop, 'SHUTOFF')
        for server_id in to_error:
            nova.servers.reset_state(server_id, 'error')
        return ids

    def _delete(self, server_ids):
        for server_id in server_ids:
            try:
                self.nova().servers.delete(server_id)
            except nova_exceptions.NotFound:
                pass

    def servers_on(self, hosts=None):
        """{id: server} of the servers on ``hosts`` (None: every server)."""
        return {i: s for i, s in self.servers().items() if hosts is None
                or getattr(s, 'OS-EXT-SRV-ATTR:host', None) in hosts}

    def delete_all_servers(self, patience=60, rounds=3, hosts=None):
        """Delete every server (on ``hosts`` only, if given) and wait until
        Nova has none left.

        Servers still there after ``patience`` seconds are deleted again
        (Nova accepts a second delete of a server stuck deleting): seen
        once in a benchmark run, right after 50 evacuations, on a busy
        machine.
        """
        servers = self.servers_on(hosts)
        if not servers:
            return []
        say('deleting %d servers' % len(servers))
        self._delete(servers)
        for attempt in range(1, rounds + 1):
            try:
                wait_until(lambda: not self.servers_on(hosts), patience,
                           'all servers to be deleted')
                return list(servers)
            except LabError:
                left = self.servers_on(hosts)
                if not left:
                    return list(servers)
                if attempt == rounds:
                    raise
                say('%d servers still there: deleting them again'
                    % len(left))
                self._delete(left)


def fault_of(server):
    """Why Nova put a server in ERROR, as its fault says."""
    return getattr(server, 'fault', {}).get('message', 'no fault recorded')


def heartbeat_after(service, since):
    """True if the service reported after ``since`` (epoch seconds)."""
    if since is None:
        return True
    if not service.updated_at:
        return False
    updated = datetime.datetime.fromisoformat(service.updated_at).replace(
        tzinfo=datetime.timezone.utc)
    return updated.timestamp() >= since - 1


def describe(server):
    return {'id': server.id, 'name': server.name, 'status': server.status,
            'host': getattr(server, 'OS-EXT-SRV-ATTR:host', None)}
