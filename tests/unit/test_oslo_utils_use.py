"""vmha uses oslo.utils where it once had its own: every boolean spelling
of the HA metadata (as Masakari), oslo's time helpers, and oslo's masking
on top of vmha's own secrets rule."""

import datetime

import pytest

from vmha import compute
from vmha.confirm import parse_nova_time
from vmha.db import api as db_api
from vmha.drivers import loader
from vmha import events
from vmha import exception
from vmha import inventory
from vmha import policy
from tests.unit.conftest import make_conf

SECRET = 'Sup3r-Secret'


def _instance(ha):
    return compute.Instance(id='i1', name='i1', status='ACTIVE',
                            vm_state='active', task_state=None, host='h',
                            metadata={} if ha is None else {'HA_Enabled': ha})


@pytest.mark.parametrize('value', ['True', 'true', 'yes', 'YES', '1', 'on',
                                   ' On ', 'y', 't', True, 1])
def test_every_true_spelling_enables_ha(value):
    assert policy.is_ha_enabled(_instance(value), 'HA_Enabled') is True


@pytest.mark.parametrize('value', ['False', 'no', '0', 'off', '', 'maybe',
                                   'enabled', None, False, 0])
def test_anything_else_leaves_ha_off(value):
    assert policy.is_ha_enabled(_instance(value), 'HA_Enabled') is False


@pytest.mark.parametrize('value, action', [('yes', policy.EVACUATE),
                                           ('on', policy.EVACUATE),
                                           ('off', policy.SKIP)])
def test_only_ha_instances_evacuates_every_spelling(value, action):
    conf = make_conf(evacuation__evacuate_all_instances=False)
    [entry] = policy.plan([_instance(value)], conf.evacuation)
    assert entry['action'] == action


# -- time ---------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('2026-01-01T00:00:05Z', datetime.datetime(2026, 1, 1, 0, 0, 5)),
    ('2026-01-01T02:00:05+02:00', datetime.datetime(2026, 1, 1, 0, 0, 5)),
    ('2026-01-01T00:00:05.250000', datetime.datetime(2026, 1, 1, 0, 0, 5,
                                                     250000)),
])
def test_nova_times_are_naive_utc(text, expected):
    when = parse_nova_time(text)
    assert when == expected and when.tzinfo is None


@pytest.mark.parametrize('text', ['garbage', '', None, '2026-13-45T99'])
def test_unreadable_nova_time_is_none(text):
    assert parse_nova_time(text) is None


def test_database_time_is_naive_utc_now():
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    stored = db_api.utcnow()
    assert stored.tzinfo is None
    assert abs((stored - now).total_seconds()) < 5


def test_event_time_is_aware_utc():
    event = events.Event(event_type=events.RECOVERY_STARTED, host='h')
    assert event.timestamp.utcoffset() == datetime.timedelta(0)


# -- masking ------------------------------------------------------------------

def test_public_dict_masks_vmha_and_oslo_secrets():
    host = inventory.HostSpec(
        name='c1', bmc_password=SECRET, bmc_options={
            'kg': SECRET, 'api_token': SECRET, 'passphrase': SECRET,
            'stop_command': 'fence --password=%s x' % SECRET,
            'key_file': '/etc/vmha/id', 'system_id': 'Self',
            'private_key': '', 'port': 3})
    data = host.public_dict()
    assert SECRET not in repr(data) and SECRET not in repr(host)
    options = data['bmc_options']
    assert options['kg'] == options['api_token'] == '***'
    assert options['passphrase'] == '***'
    assert options['stop_command'] == 'fence --password=*** x'
    # not secrets: shown as they are (an empty secret reveals nothing)
    assert options['key_file'] == '/etc/vmha/id'
    assert options['system_id'] == 'Self'
    assert options['private_key'] == ''
    assert options['port'] == 3


# -- redfish verify -----------------------------------------------------------

@pytest.mark.parametrize('value, expected', [('yes', True), ('On', True),
                                             ('0', False), ('off', False),
                                             (False, False)])
def test_redfish_verify_booleans(value, expected):
    driver = loader.load(loader.FENCING_NAMESPACE, 'redfish', make_conf())
    host = inventory.HostSpec(name='c1', bmc_address='https://192.0.2.1',
                              bmc_username='u', bmc_password='p',
                              bmc_options={'verify': value})
    driver.validate(host)
    assert driver._verify(host) is expected


def test_redfish_verify_that_is_no_file_is_refused(tmp_path):
    driver = loader.load(loader.FENCING_NAMESPACE, 'redfish', make_conf())
    host = inventory.HostSpec(name='c1', bmc_address='https://192.0.2.1',
                              bmc_username='u', bmc_password='p',
                              bmc_options={'verify': str(tmp_path / 'no')})
    with pytest.raises(exception.InvalidInput, match="bmc_options.'verify'"):
        driver.validate(host)
