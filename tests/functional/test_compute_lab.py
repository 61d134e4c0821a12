"""vmha.compute against a real Nova.

At the negotiated latest microversion and pinned at 2.52 and 2.11 (the old
host+binary service calls, onSharedStorage below 2.14).
"""

import urllib.parse

import pytest

from vmha import compute
from vmha import exception

from tools.lab.access import lab as lablib
from tests.functional.peers import tcp_proxy

pytestmark = [lablib.requires_lab, pytest.mark.lab]

VERSIONS = ['auto', '2.52', '2.11']


def _api(tmp_path, lab_info, version, **overrides):
    conf = lablib.load_conf(tmp_path / 'vmha.conf', lab_info,
                            'sqlite:///%s' % (tmp_path / 'x.sqlite'),
                            **{'nova.api_version': version, **overrides})
    return compute.ComputeAPI.from_conf(conf)


@pytest.mark.parametrize('version', VERSIONS)
def test_service_calls(version, tmp_path, lab_info, nova, clean_lab):
    api = _api(tmp_path, lab_info, version)
    if version == 'auto':
        assert api.version >= compute.EVACUATE_TO_STOPPED_VERSION
        assert api.uses_service_uuid
    else:
        assert api.version.get_string() == version
        assert not api.uses_service_uuid
    svc = api.get_service('hostC')
    assert (svc.host, svc.state, svc.status) == ('hostC', 'up', 'enabled')
    assert api.force_down('hostC').forced_down is True
    assert lablib.service(nova, 'hostC').state == 'down'
    assert api.force_down('hostC', False).forced_down is False
    disabled = api.disable('hostC', 'vmha functional test')
    assert (disabled.status, disabled.disabled_reason) == (
        'disabled', 'vmha functional test')
    assert api.enable('hostC').status == 'enabled'
    assert {s.host for s in api.list_services()} >= set(lablib.HOSTS)


@pytest.mark.parametrize('version', VERSIONS)
def test_evacuate_and_confirm(version, tmp_path, lab_info, nova, clean_lab):
    api = _api(tmp_path, lab_info, version)
    [server] = lablib.boot(1, 'hostB')
    listed = api.list_instances('hostB')
    assert [i.id for i in listed] == [server['id']]
    assert listed[0].vm_state == 'active'
    with pytest.raises(exception.EvacuateRefused) as err:
        api.evacuate(server['id'])          # service still up
    assert server['id'] in str(err.value)
    lablib.lab('fail', 'hostB', '--mode', 'kill')
    api.force_down('hostB')
    api.evacuate(server['id'])
    landed = lablib.wait_for(
        lambda: (lambda i: i if i.task_state is None and i.host != 'hostB'
                 else None)(api.get_instance(server['id'])),
        120, what='evacuation of %s' % server['id'])
    expected = 'stopped' if api.evacuates_to_stopped else 'active'
    assert landed.vm_state == expected


def test_errors_name_what_failed(tmp_path, lab_info):
    api = _api(tmp_path, lab_info, 'auto')
    with pytest.raises(exception.ComputeServiceNotFound) as err:
        api.get_service('no-such-host')
    assert 'no-such-host' in str(err.value)
    missing = '00000000-0000-0000-0000-000000000000'
    with pytest.raises(exception.InstanceNotFound) as err:
        api.get_instance(missing)
    assert missing in str(err.value)


def test_nova_unreachable_and_bad_credentials(tmp_path, lab_info):
    down = _api(tmp_path, lab_info, 'auto',
                **{'nova.endpoint_override': 'http://127.0.0.1:9/v2.1',
                   'nova.connect_retries': 0})
    with pytest.raises(exception.NovaUnavailable):
        down.get_service('hostA')
    bad = _api(tmp_path, lab_info, 'auto', **{'nova.password': 'wrong'})
    with pytest.raises(exception.NovaError) as err:
        bad.get_service('hostA')
    assert 'wrong' not in str(err.value)


@pytest.fixture
def nova_proxy(lab_info):
    """nova-api behind a proxy that can reset a request's connection."""
    endpoint = urllib.parse.urlsplit(lab_info['nova_endpoint'])
    proxy = tcp_proxy.TCPProxy(16281, endpoint.port).start()
    yield proxy, 'http://127.0.0.1:16281%s' % endpoint.path
    proxy.stop()


def test_reset_connection_retried_for_reads_not_for_actions(
        tmp_path, lab_info, nova_proxy):
    """The keep-alive race (nova-api closes an idle pooled connection as a
    request reuses it): reads and service updates are retried with vmha's
    default [nova] connect_retries, server actions are sent once."""
    proxy, endpoint = nova_proxy
    api = _api(tmp_path, lab_info, 'auto',
               **{'nova.endpoint_override': endpoint,
                  'nova.connect_retry_delay': 0.1})
    assert api.get_service('hostC').host == 'hostC'      # pooled now
    proxy.drop_next_requests(1)
    assert api.get_service('hostC').host == 'hostC'
    proxy.drop_next_requests(1)
    assert api.disable('hostC', 'vmha test').status == 'disabled'
    assert api.enable('hostC').status == 'enabled'
    assert proxy.dropped == 2
    missing = '00000000-0000-0000-0000-000000000000'
    proxy.drop_next_requests(1)
    with pytest.raises(exception.NovaUnavailable):
        api.start(missing)          # retried, it would be InstanceNotFound
    with pytest.raises(exception.InstanceNotFound):
        api.start(missing)
    assert proxy.dropped == 3

    once = _api(tmp_path, lab_info, 'auto',
                **{'nova.endpoint_override': endpoint,
                   'nova.connect_retries': 0})
    once.get_service('hostC')
    proxy.drop_next_requests(1)
    with pytest.raises(exception.NovaUnavailable) as err:
        once.get_service('hostC')
    assert 'reset' in str(err.value).lower(), err.value


def test_pinned_version_below_force_down_is_refused(tmp_path, lab_info):
    with pytest.raises(exception.UnsupportedMicroversion) as err:
        _api(tmp_path, lab_info, '2.10').version
    assert '2.11' in str(err.value)


def test_wait_service_down_times_out_on_a_live_host(tmp_path, lab_info):
    api = _api(tmp_path, lab_info, 'auto')
    with pytest.raises(exception.ServiceNotDown) as err:
        api.wait_service_down('hostC', timeout=1, interval=0.2)
    assert 'hostC' in str(err.value)
