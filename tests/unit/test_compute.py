"""The Nova facade against a fake python-novaclient: microversion branches,
negotiation and error mapping."""

import types

from keystoneauth1 import exceptions as ks_exc
import novaclient
from novaclient import exceptions as nova_exc
import pytest

from vmha import compute as compute_mod
from vmha import exception
from tests.unit.conftest import make_conf
from tests.unit import fakes

SESSION = object()


def _server(iid, host='hostA', vm_state='active', task_state=None,
            fault=None):
    server = types.SimpleNamespace(id=iid, name='vm-' + iid,
                                   status=vm_state.upper(),
                                   metadata={'HA_Enabled': 'True'})
    setattr(server, 'OS-EXT-STS:vm_state', vm_state)
    setattr(server, 'OS-EXT-STS:task_state', task_state)
    setattr(server, 'OS-EXT-SRV-ATTR:host', host)
    if fault:
        server.fault = {'message': fault, 'code': 500}
    return server


class FakeNova:
    """A Nova server behind every novaclient.Client view vmha creates.

    ``calls``: (client version, manager, method, args, kwargs) tuples;
    ``errors``: {'manager.method': exception} raised by that call.
    """

    def __init__(self, min_version='2.1', max_version='2.96'):
        self.min_version = min_version
        self.max_version = max_version
        self.calls = []
        self.clients = []
        self.errors = {}
        self.services = [types.SimpleNamespace(
            id='a1b2-uuid', host='hostA', binary='nova-compute',
            status='enabled', state='up', forced_down=False,
            disabled_reason=None)]
        self.servers = {'i1': _server('i1')}
        self.migrations = []

    def client(self, version, session=None, **kwargs):
        self.clients.append((version, session, kwargs))
        return types.SimpleNamespace(
            versions=_Manager(self, version, 'versions'),
            services=_Manager(self, version, 'services'),
            servers=_Manager(self, version, 'servers'),
            migrations=_Manager(self, version, 'migrations'))

    def calls_of(self, manager, method):
        return [c for c in self.calls if c[1:3] == (manager, method)]

    # behaviour of the calls that return something
    def versions_get_current(self):
        return types.SimpleNamespace(version=self.max_version,
                                     min_version=self.min_version)

    def services_list(self, host=None, binary=None):
        return [s for s in self.services
                if (host is None or s.host == host)
                and (binary is None or s.binary == binary)]

    def servers_get(self, iid):
        if iid not in self.servers:
            raise nova_exc.NotFound(404, 'Instance %s could not be found.'
                                    % iid)
        return self.servers[iid]

    def servers_list(self, **kwargs):
        return list(self.servers.values())

    def migrations_list(self, **kwargs):
        return list(self.migrations)


class _Manager:
    def __init__(self, nova, version, name):
        self._nova = nova
        self._version = version
        self._name = name

    def __getattr__(self, method):
        def call(*args, **kwargs):
            nova = self._nova
            nova.calls.append((self._version.get_string(), self._name,
                               method, args, kwargs))
            error = nova.errors.get('%s.%s' % (self._name, method))
            if callable(error) and not isinstance(error, Exception):
                error = error(self._version.get_string())
            if error is not None:
                raise error
            handler = getattr(nova, '%s_%s' % (self._name, method), None)
            return handler(*args, **kwargs) if handler else None
        return call


@pytest.fixture
def nova(monkeypatch):
    fake = FakeNova()
    monkeypatch.setattr(compute_mod.nova_client, 'Client', fake.client)
    return fake


def api(version='auto', **kwargs):
    return compute_mod.ComputeAPI(SESSION, api_version=version, **kwargs)


# -- negotiation --------------------------------------------------------------

@pytest.mark.parametrize('server_max, expected', [
    ('2.60', '2.60'),
    ('2.11', '2.11'),
    ('2.200', novaclient.API_MAX_VERSION.get_string()),
])
def test_auto_negotiates_min_of_server_and_client(nova, server_max,
                                                  expected):
    nova.max_version = server_max
    assert api().version.get_string() == expected


def test_negotiated_once_and_used_for_every_call(nova):
    nova.max_version = '2.60'
    facade = api(region_name='RegionTwo', interface='internal')
    facade.get_service('hostA')
    facade.get_instance('i1')
    assert len(nova.calls_of('versions', 'get_current')) == 1
    versions = [v.get_string() for v, _, _ in nova.clients]
    assert versions[0] == '2.1'                    # the discovery client
    assert set(versions[1:]) == {'2.60'}
    for _, session, kwargs in nova.clients:
        assert session is SESSION
        assert kwargs['region_name'] == 'RegionTwo'
        assert kwargs['endpoint_type'] == 'internal'
        assert kwargs['service_type'] == 'compute'


def test_pinned_version_is_used(nova):
    assert api('2.52').version.get_string() == '2.52'


def test_pinned_version_below_2_11_is_refused(nova):
    with pytest.raises(exception.UnsupportedMicroversion) as err:
        api('2.10').version
    assert '2.10' in str(err.value) and '2.11' in str(err.value)


def test_old_server_is_refused(nova):
    nova.max_version = '2.10'
    with pytest.raises(exception.UnsupportedMicroversion) as err:
        api().version
    assert '2.11' in str(err.value)


def test_pinned_version_above_server_is_refused(nova):
    nova.max_version = '2.60'
    with pytest.raises(exception.UnsupportedMicroversion) as err:
        api('2.90').version
    assert '2.90' in str(err.value)


def test_negotiation_with_nova_down(nova):
    nova.errors['versions.get_current'] = ks_exc.ConnectFailure(
        'Unable to establish connection to http://nova:8774')
    with pytest.raises(exception.NovaUnavailable) as err:
        api().version
    assert 'microversion negotiation' in str(err.value)


# -- services: host+binary up to 2.52, service UUID from 2.53 -----------------

@pytest.mark.parametrize('version', ['2.11', '2.52'])
def test_service_actions_by_host_and_binary(nova, version):
    facade = api(version)
    assert facade.uses_service_uuid is False
    svc = facade.force_down('hostA', True)
    facade.force_down('hostA', False)
    facade.disable('hostA', 'vmha: failed')
    facade.enable('hostA')
    assert isinstance(svc, compute_mod.Service)
    assert [c[3] for c in nova.calls_of('services', 'force_down')] == [
        ('hostA', 'nova-compute', True), ('hostA', 'nova-compute', False)]
    assert [c[3] for c in nova.calls_of('services', 'disable_log_reason')] \
        == [('hostA', 'nova-compute', 'vmha: failed')]
    assert [c[3] for c in nova.calls_of('services', 'enable')] == [
        ('hostA', 'nova-compute')]
    assert {c[0] for c in nova.calls if c[1] == 'services'} == {version}


@pytest.mark.parametrize('version', ['2.53', '2.96'])
def test_service_actions_by_uuid(nova, version):
    facade = api(version)
    assert facade.uses_service_uuid is True
    facade.force_down('hostA', True)
    facade.disable('hostA', 'vmha: failed')
    facade.enable('hostA')
    assert [c[3] for c in nova.calls_of('services', 'force_down')] == [
        ('a1b2-uuid', True)]
    assert [c[3] for c in nova.calls_of('services', 'disable_log_reason')] \
        == [('a1b2-uuid', 'vmha: failed')]
    assert [c[3] for c in nova.calls_of('services', 'enable')] == [
        ('a1b2-uuid',)]


def test_service_lookup_filters_host_and_binary(nova):
    nova.services.append(types.SimpleNamespace(
        id='other', host='hostAA', binary='nova-compute', status='enabled',
        state='down', forced_down=True))
    svc = api('2.60', binary='nova-compute').get_service('hostA')
    assert svc == compute_mod.Service(
        id='a1b2-uuid', host='hostA', binary='nova-compute',
        status='enabled', state='up', forced_down=False)
    [call] = nova.calls_of('services', 'list')
    assert call[4] == {'host': 'hostA', 'binary': 'nova-compute'}


def test_list_services(nova):
    [svc] = api('2.60').list_services()
    assert svc.host == 'hostA' and not svc.is_down
    assert nova.calls_of('services', 'list')[0][4] == {
        'binary': 'nova-compute'}


# -- evacuate -----------------------------------------------------------------

@pytest.mark.parametrize('version', ['2.11', '2.13'])
@pytest.mark.parametrize('shared', [True, False])
def test_evacuate_below_2_14_sends_on_shared_storage(nova, version, shared):
    assert api(version).evacuate('i1', on_shared_storage=shared) == version
    [call] = nova.calls_of('servers', 'evacuate')
    assert call[3] == ('i1',)
    assert call[4] == {'host': None, 'on_shared_storage': shared}


@pytest.mark.parametrize('version', ['2.11', '2.28'])
def test_evacuate_to_a_host_below_2_29_is_refused(nova, version):
    """Below 2.29 Nova forces a named host past the scheduler."""
    with pytest.raises(exception.ConfigError) as err:
        api(version).evacuate('i1', target_host='hostB')
    assert '2.29' in str(err.value) and version in str(err.value)
    assert 'i1' in str(err.value)
    assert not nova.calls_of('servers', 'evacuate')


def test_evacuate_to_a_host_from_2_29(nova):
    assert api('2.29').evacuate('i1', target_host='hostB') == '2.29'
    [call] = nova.calls_of('servers', 'evacuate')
    assert call[4] == {'host': 'hostB'}


@pytest.mark.parametrize('version', ['2.14', '2.29', '2.67', '2.68', '2.95'])
def test_evacuate_from_2_14_without_shared_storage_and_force(nova, version):
    api(version).evacuate('i1', on_shared_storage=True)
    [call] = nova.calls_of('servers', 'evacuate')
    assert call[4] == {'host': None}
    assert 'force' not in call[4]


@pytest.mark.parametrize('version, stopped', [('2.94', False),
                                              ('2.95', True),
                                              ('2.96', True)])
def test_evacuates_to_stopped(nova, version, stopped):
    assert api(version).evacuates_to_stopped is stopped


# -- error mapping ------------------------------------------------------------

@pytest.mark.parametrize('fields, locked, reason', [
    ({}, None, None),                                  # not shown
    ({'locked': False}, False, None),                  # 2.9-2.72
    ({'locked': True, 'locked_reason': 'owner'}, True, 'owner')])   # 2.73+
def test_instance_lock_fields(nova, fields, locked, reason):
    for name, value in fields.items():
        setattr(nova.servers['i1'], name, value)
    inst = api('2.73').get_instance('i1')
    assert (inst.locked, inst.locked_reason) == (locked, reason)


@pytest.mark.parametrize('version, with_reason', [('2.72', False),
                                                  ('2.73', True),
                                                  ('2.96', True)])
def test_locks_with_reason_from_2_73(nova, version, with_reason):
    assert api(version).locks_with_reason is with_reason


def test_lock_and_unlock(nova):
    facade = api('2.73')
    facade.lock('i1', 'vmha: evacuating')
    facade.unlock('i1')
    [lock] = nova.calls_of('servers', 'lock')
    assert lock[3:] == (('i1',), {'reason': 'vmha: evacuating'})
    assert nova.calls_of('servers', 'unlock')[0][3] == ('i1',)


def test_lock_404_is_instance_not_found(nova):
    nova.errors['servers.lock'] = nova_exc.NotFound(404, 'gone')
    with pytest.raises(exception.InstanceNotFound):
        api('2.73').lock('i1', 'r')


def test_get_instance_404(nova):
    with pytest.raises(exception.InstanceNotFound) as err:
        api('2.60').get_instance('missing-id')
    assert 'missing-id' in str(err.value)


def test_unknown_host(nova):
    with pytest.raises(exception.ComputeServiceNotFound) as err:
        api('2.60').force_down('nosuchhost')
    assert 'nosuchhost' in str(err.value)
    assert 'nova-compute' in str(err.value)
    assert not nova.calls_of('services', 'force_down')


@pytest.mark.parametrize('method, args', [
    ('force_down', ('hostA',)), ('disable', ('hostA', 'r')),
    ('enable', ('hostA',))])
def test_service_action_404_is_service_not_found(nova, method, args):
    name = 'disable_log_reason' if method == 'disable' else method
    nova.errors['services.' + name] = nova_exc.NotFound(404, 'gone')
    with pytest.raises(exception.ComputeServiceNotFound) as err:
        getattr(api('2.60'), method)(*args)
    assert 'hostA' in str(err.value)


def test_force_down_failure_names_host(nova):
    nova.errors['services.force_down'] = nova_exc.ClientException(
        500, 'Unexpected API Error')
    with pytest.raises(exception.ForceDownFailed) as err:
        api('2.60').force_down('hostA')
    assert 'hostA' in str(err.value) and 'HTTP 500' in str(err.value)


def test_evacuate_400_is_refused(nova):
    nova.errors['servers.evacuate'] = nova_exc.BadRequest(
        400, 'Compute service of hostA is still in use.')
    with pytest.raises(exception.EvacuateRefused) as err:
        api('2.60').evacuate('i1')
    message = str(err.value)
    assert 'i1' in message and 'HTTP 400' in message
    assert 'still in use' in message


def test_evacuate_409_is_refused(nova):
    nova.errors['servers.evacuate'] = nova_exc.Conflict(
        409, 'Cannot evacuate while the instance is in task_state rebuilding')
    with pytest.raises(exception.EvacuateRefused):
        api('2.60').evacuate('i1')


def _nova_error(status, body):
    """The exception novaclient raises for Nova's answer ``body``."""
    response = types.SimpleNamespace(status_code=status, headers={})
    return nova_exc.from_response(response, body, '/servers/i1/action',
                                  'POST')


#: what Nova 34.0.0 (the lab's) answers for NotSupportedComputeForEvacuateV295,
#: measured by running its FaultWrapper: the exception is not "safe", so
#: the body carries webob's generic text, not Nova's message
V295_REFUSAL_BODY = {'badRequest': {
    'code': 400,
    'message': 'The server could not comply with the request since it is '
               'either malformed or otherwise incorrect.'}}
#: a Nova that formats the exception's own message (msg_fmt)
V295_REFUSAL_FORMATTED = {'badRequest': {
    'code': 400,
    'message': 'Starting with microversion 2.95, evacuate API will stop '
               'instance on destination. To evacuate before upgrades are '
               'complete please use an older microversion. Required version '
               'for compute 62, current version 61'}}


@pytest.mark.parametrize('body', [V295_REFUSAL_BODY, V295_REFUSAL_FORMATTED])
def test_evacuate_refused_for_old_computes_falls_back_to_2_94(nova, body,
                                                              caplog):
    nova.errors['servers.evacuate'] = lambda version: (
        _nova_error(400, body) if version == '2.96' else None)
    assert api('auto').evacuate('i1') == '2.94'
    calls = nova.calls_of('servers', 'evacuate')
    assert [c[0] for c in calls] == ['2.96', '2.94']
    assert calls[1][4] == {'host': None}
    assert 'asking again at 2.94' in caplog.text


def test_evacuate_other_400_at_2_95_is_not_retried(nova):
    nova.errors['servers.evacuate'] = _nova_error(400, {'badRequest': {
        'code': 400, 'message': 'Compute service of hostA is still in use.'}})
    with pytest.raises(exception.EvacuateRefused) as err:
        api('2.95').evacuate('i1')
    assert 'still in use' in str(err.value)
    assert len(nova.calls_of('servers', 'evacuate')) == 1


def test_evacuate_generic_400_below_2_95_is_not_retried(nova):
    nova.errors['servers.evacuate'] = _nova_error(400, V295_REFUSAL_BODY)
    with pytest.raises(exception.EvacuateRefused):
        api('2.94').evacuate('i1')
    assert len(nova.calls_of('servers', 'evacuate')) == 1


def test_evacuate_refused_again_at_2_94_is_refused(nova):
    nova.errors['servers.evacuate'] = lambda version: _nova_error(
        400, V295_REFUSAL_BODY)
    with pytest.raises(exception.EvacuateRefused) as err:
        api('2.95').evacuate('i1')
    assert 'HTTP 400' in str(err.value)
    assert [c[0] for c in nova.calls_of('servers', 'evacuate')] == [
        '2.95', '2.94']


def test_evacuate_404_for_unknown_target_host_says_so(nova):
    nova.errors['servers.evacuate'] = _nova_error(404, {'itemNotFound': {
        'code': 404, 'message': 'Compute host spare9 not found.'}})
    with pytest.raises(exception.TargetHostNotFound) as err:
        api('2.60').evacuate('i1', target_host='spare9')
    assert 'target host spare9 not found' in str(err.value)
    assert 'Instance i1 not found' not in str(err.value)
    assert isinstance(err.value, exception.EvacuateRefused)


def test_evacuate_404_is_instance_not_found(nova):
    nova.errors['servers.evacuate'] = nova_exc.NotFound(404, 'gone')
    with pytest.raises(exception.InstanceNotFound) as err:
        api('2.60').evacuate('i1')
    assert 'i1' in str(err.value)


@pytest.mark.parametrize('error', [
    ks_exc.ConnectFailure('Unable to establish connection'),
    ks_exc.ConnectTimeout('timed out'),
    ks_exc.DiscoveryFailure('no endpoint'),
])
def test_evacuate_nova_unreachable(nova, error):
    nova.errors['servers.evacuate'] = error
    with pytest.raises(exception.NovaUnavailable) as err:
        api('2.60').evacuate('i1')
    assert not isinstance(err.value, exception.EvacuateRefused)
    assert 'i1' in str(err.value)


def test_list_instances_nova_unreachable_names_host(nova):
    nova.errors['servers.list'] = ks_exc.ConnectFailure('refused')
    with pytest.raises(exception.NovaUnavailable) as err:
        api('2.60').list_instances('hostA')
    assert 'hostA' in str(err.value)


def test_keystone_error_is_nova_error(nova):
    nova.errors['services.list'] = ks_exc.Unauthorized('bad token')
    with pytest.raises(exception.NovaError) as err:
        api('2.60').get_service('hostA')
    assert not isinstance(err.value, exception.NovaUnavailable)
    assert 'hostA' in str(err.value)


@pytest.mark.parametrize('method', ['start', 'stop'])
def test_start_stop_404(nova, method):
    nova.errors['servers.' + method] = nova_exc.NotFound(404, 'gone')
    with pytest.raises(exception.InstanceNotFound):
        getattr(api('2.60'), method)('i1')


def test_reset_state(nova):
    api('2.60').reset_state('i1', 'error')
    [call] = nova.calls_of('servers', 'reset_state')
    assert call[3] == ('i1', 'error')


# -- instances ----------------------------------------------------------------

def test_list_instances_all_tenants_all_pages(nova):
    nova.servers['i2'] = _server('i2', vm_state='error', fault='disk gone')
    found = api('2.60').list_instances('hostA')
    [call] = nova.calls_of('servers', 'list')
    assert call[4] == {'detailed': True, 'limit': -1,
                       'search_opts': {'all_tenants': True, 'host': 'hostA'}}
    by_id = {i.id: i for i in found}
    assert by_id['i1'] == compute_mod.Instance(
        id='i1', name='vm-i1', status='ACTIVE', vm_state='active',
        task_state=None, host='hostA', metadata={'HA_Enabled': 'True'})
    assert by_id['i2'].fault == 'disk gone'


def test_list_evacuations_uses_2_59_and_newest_first(nova):
    old = types.SimpleNamespace(created_at='2024-01-01T10:00:00.000000')
    new = types.SimpleNamespace(created_at='2024-01-02T10:00:00.000000')
    nova.migrations = [old, new]
    assert api('2.53').list_evacuations('i1') == [new, old]
    [call] = nova.calls_of('migrations', 'list')
    assert call[0] == '2.59'
    assert call[4] == {'instance_uuid': 'i1',
                       'migration_type': 'evacuation'}


def test_list_host_evacuations_keeps_those_from_the_host(nova):
    out = types.SimpleNamespace(source_compute='hostA', status='migrating')
    into = types.SimpleNamespace(source_compute='hostB', status='migrating')
    nova.migrations = [out, into]
    assert api('2.53').list_host_evacuations('hostA') == [out]
    [call] = nova.calls_of('migrations', 'list')
    assert call[0] == '2.59'
    assert call[4] == {'host': 'hostA', 'migration_type': 'evacuation'}


def test_requests_have_a_deadline_by_default():
    """keystoneauth waits forever unless told; vmha's [nova] timeout is set
    unless the operator sets another one."""
    conf = make_conf(nova__auth_type='none')
    assert conf.nova.timeout == 30
    assert compute_mod.load_session(conf).timeout == 30.0
    conf.set_override('timeout', 5, 'nova')
    assert compute_mod.load_session(conf).timeout == 5.0


def test_timeout_is_a_clear_nova_error(nova):
    nova.errors['services.list'] = ks_exc.ConnectTimeout(
        'Request to http://nova:8774/v2.1 timed out')
    with pytest.raises(exception.NovaUnavailable) as err:
        api('2.60').get_service('hostA')
    assert str(err.value).startswith('Nova is unreachable: ')
    assert 'no answer within [nova] timeout' in str(err.value)
    assert 'hostA' in str(err.value)


# -- wait_service_down --------------------------------------------------------

def test_wait_service_down_times_out(nova):
    clock = fakes.Clock(100.0)
    with pytest.raises(exception.ServiceNotDown) as err:
        api('2.60').wait_service_down('hostA', timeout=10, interval=2,
                                      sleep=clock.sleep, clock=clock)
    assert 'hostA' in str(err.value) and '10' in str(err.value)
    assert clock.now == 110.0
    assert len(nova.calls_of('services', 'list')) == 6


def test_wait_service_down_returns_when_down(nova):
    clock = fakes.Clock(100.0)

    def later(seconds):
        clock.sleep(seconds)
        nova.services[0].state = 'down'

    svc = api('2.60').wait_service_down('hostA', timeout=10, interval=1,
                                        sleep=later, clock=clock)
    assert svc.is_down
    assert clock.now == 101.0


# -- construction from configuration ------------------------------------------

def _conf(tmp_path, nova_section):
    path = tmp_path / 'vmha.conf'
    path.write_text('[nova]\n' + nova_section)
    return make_conf(config_file=path)


def test_from_conf_without_auth_type(tmp_path):
    with pytest.raises(exception.ConfigError) as err:
        compute_mod.ComputeAPI.from_conf(_conf(tmp_path, ''))
    assert '[nova] auth_type' in str(err.value)


def test_from_conf(tmp_path):
    conf = _conf(tmp_path, 'auth_type = password\n'
                           'auth_url = http://keystone.example:5000/v3\n'
                           'username = vmha\npassword = pw\n'
                           'project_name = service\n'
                           'user_domain_name = Default\n'
                           'project_domain_name = Default\n'
                           'region_name = RegionTwo\n'
                           'api_version = 2.60\n')
    facade = compute_mod.ComputeAPI.from_conf(conf)
    assert facade._requested_version == '2.60'
    assert facade._client_kwargs == {'region_name': 'RegionTwo',
                                     'service_type': 'compute',
                                     'endpoint_override': None,
                                     'endpoint_type': 'internal'}
    assert facade.binary == 'nova-compute'
    assert facade._session.auth.auth_url == 'http://keystone.example:5000/v3'
    # vmha's default: idempotent requests survive a reset connection
    assert facade._retries == {'connect_retries': 3}


def test_from_conf_takes_the_adapter_retry_options(tmp_path):
    conf = _conf(tmp_path, 'auth_type = password\n'
                           'auth_url = http://keystone.example:5000/v3\n'
                           'connect_retries = 5\n'
                           'connect_retry_delay = 0.2\n'
                           'status_code_retries = 2\n')
    facade = compute_mod.ComputeAPI.from_conf(conf)
    assert facade._retries == {'connect_retries': 5,
                               'connect_retry_delay': 0.2,
                               'status_code_retries': 2}


def test_reads_retry_server_actions_do_not(nova):
    """A POST Nova may have carried out is never sent twice by the
    transport; GETs and the idempotent service PUTs are retried."""
    facade = api(retries={'connect_retries': 4, 'connect_retry_delay': None})
    facade.get_instance('i1')
    assert nova.clients[-1][2]['connect_retries'] == 4
    assert 'connect_retry_delay' not in nova.clients[-1][2]
    facade.disable('hostA', 'failed')
    assert all(kw['connect_retries'] == 4 for _, _, kw in nova.clients[-3:])
    for action in (lambda: facade.evacuate('i1'), lambda: facade.start('i1'),
                   lambda: facade.stop('i1'),
                   lambda: facade.reset_state('i1', 'error')):
        before = len(nova.clients)
        action()
        posts = [kw for _, _, kw in nova.clients[before:]]
        assert posts and all(kw['connect_retries'] == 0
                             and kw['status_code_retries'] == 0
                             for kw in posts)


class _RawNova:
    """novaclient's raw HTTP client: ``get(url)`` -> (resp, body) from
    ``pages``, recording every URL."""

    def __init__(self, pages):
        self.pages = list(pages)
        self.urls = []
        self.client = self
        self.servers = object()

    def get(self, url):
        self.urls.append(url)
        if isinstance(self.pages[0], Exception):
            raise self.pages.pop(0)
        return None, self.pages.pop(0)


def _info(iid, updated='2026-01-01T00:00:05Z', **extra):
    info = {'id': iid, 'name': 'vm-' + iid, 'status': 'ACTIVE',
            'OS-EXT-STS:vm_state': 'active', 'OS-EXT-STS:task_state': None,
            'OS-EXT-SRV-ATTR:host': 'hostB', 'metadata': {},
            'updated': updated}
    info.update(extra)
    return info


def test_list_changed_instances_follows_novas_next_link_only(nova):
    raw = _RawNova([
        {'servers': [_info('i1'), _info('i2')],
         'servers_links': [{'rel': 'next', 'href': 'x?marker=i2'}]},
        {'servers': [_info('i3', status='DELETED',
                           **{'OS-EXT-STS:vm_state': 'deleted'})]}])
    compute = api('2.60')
    compute._client = lambda *args, **kwargs: raw
    found = compute.list_changed_instances('2026-01-01T00:00:00Z')
    assert [i.id for i in found] == ['i1', 'i2', 'i3']
    assert found[0].host == 'hostB'
    assert found[0].updated == '2026-01-01T00:00:05Z'
    assert found[2].deleted and not found[0].deleted
    assert raw.urls == [
        '/servers/detail?all_tenants=1&changes-since=2026-01-01T00%3A00'
        '%3A00Z',
        '/servers/detail?all_tenants=1&changes-since=2026-01-01T00%3A00'
        '%3A00Z&marker=i2']


def test_list_changed_instances_one_request_for_one_page(nova):
    raw = _RawNova([{'servers': [_info('i1')], 'servers_links': []}])
    compute = api('2.60')
    compute._client = lambda *args, **kwargs: raw
    assert len(compute.list_changed_instances('T')) == 1
    assert len(raw.urls) == 1


def test_list_changed_instances_errors_are_nova_errors(nova):
    raw = _RawNova([ks_exc.ConnectTimeout('slow')])
    compute = api('2.60')
    compute._client = lambda *args, **kwargs: raw
    with pytest.raises(exception.NovaUnavailable) as err:
        compute.list_changed_instances('T')
    assert 'changed since T' in str(err.value)
