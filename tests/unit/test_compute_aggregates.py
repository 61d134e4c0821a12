"""ComputeAPI's host aggregate calls (reserved hosts), on test_compute's
fake python-novaclient."""

import types

from novaclient import exceptions as nova_exc
import pytest

from vmha import compute as compute_mod
from vmha import exception
from vmha import ownership
from tests.unit import test_compute


class AggregateNova(test_compute.FakeNova):
    """FakeNova with an ``aggregates`` manager."""

    def __init__(self):
        super().__init__()
        self.aggregates = [
            types.SimpleNamespace(id=1, name='ssd', hosts=['hostA', 'hostB']),
            types.SimpleNamespace(id=2, name='gpu', hosts=['hostB']),
            types.SimpleNamespace(id=3, name='empty', hosts=None)]

    def client(self, version, session=None, **kwargs):
        views = super().client(version, session, **kwargs)
        views.aggregates = test_compute._Manager(self, version, 'aggregates')
        return views

    def aggregates_list(self):
        return list(self.aggregates)


@pytest.fixture
def nova(monkeypatch):
    fake = AggregateNova()
    monkeypatch.setattr(compute_mod.nova_client, 'Client', fake.client)
    return fake


def test_host_aggregates(nova):
    api = test_compute.api()
    assert api.host_aggregates('hostA') == {'1': 'ssd'}
    assert api.host_aggregates('hostB') == {'1': 'ssd', '2': 'gpu'}
    assert api.host_aggregates('hostC') == {}


def test_add_to_aggregate_is_sent_once(nova):
    api = test_compute.api()
    api.add_to_aggregate('2', 'hostC')
    [call] = nova.calls_of('aggregates', 'add_host')
    assert call[3] == ('2', 'hostC')
    # a POST: never retried by keystoneauth
    assert nova.clients[-1][2]['connect_retries'] == 0


def test_aggregate_errors_are_nova_errors(nova):
    nova.errors['aggregates.add_host'] = nova_exc.Conflict(
        409, 'Cannot add host to aggregate 2. Reason: Host already in '
        'availability zone nova.')
    with pytest.raises(exception.NovaError, match='add host hostC to '
                       'aggregate 2: HTTP 409'):
        test_compute.api().add_to_aggregate('2', 'hostC')


def test_adding_to_an_aggregate_needs_the_lease():
    assert 'add_to_aggregate' in ownership.COMPUTE_CHANGES
    assert 'host_aggregates' not in ownership.COMPUTE_CHANGES
