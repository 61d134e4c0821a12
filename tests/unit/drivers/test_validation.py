"""validate() of every fencing driver: what ``vmha-manage host add`` refuses.

Each refusal must name the host, the driver and the field at fault (also in
the error's ``fields``), and never the password.
"""

import pytest

from vmha.drivers import loader
from vmha import exception
from vmha import inventory
from tests.unit.conftest import make_conf
from tests.unit.drivers.helpers import write_key

SECRET = 'Sup3r-Secret'


@pytest.fixture
def files(tmp_path):
    """Paths of a usable key, an encrypted key, a non-key and known_hosts."""
    known_hosts = tmp_path / 'known_hosts'
    known_hosts.write_text('')
    not_a_key = tmp_path / 'not_a_key'
    not_a_key.write_text('hello\n')
    return {'key': write_key(tmp_path / 'id'),
            'encrypted': write_key(tmp_path / 'id_enc', b'passphrase'),
            'not_a_key': str(not_a_key), 'known_hosts': str(known_hosts),
            'missing': str(tmp_path / 'missing')}


def validate(driver_name, conf=None, **fields):
    conf = conf or make_conf()
    driver = loader.load(loader.FENCING_NAMESPACE, driver_name, conf)
    fields.setdefault('bmc_password', SECRET)
    driver.validate(inventory.HostSpec(name='c1', fencing_driver=driver_name,
                                       **fields))


def refused(driver_name, field, conf=None, **fields):
    """The message of the InvalidInput validate() raises; checks it."""
    with pytest.raises(exception.InvalidInput) as err:
        validate(driver_name, conf, **fields)
    message = str(err.value)
    assert 'host c1' in message and driver_name in message, message
    assert field in message, message
    assert any(f.startswith(field) for f in err.value.kwargs['fields'])
    assert SECRET not in message
    return message


# -- ipmi ---------------------------------------------------------------------

IPMI = dict(bmc_address='192.0.2.5', bmc_username='admin')


@pytest.mark.parametrize('fields', [
    IPMI, dict(IPMI, bmc_port=6230, bmc_address='bmc-1.example.org'),
    dict(IPMI, bmc_address='2001:db8::5'),
    dict(IPMI, bmc_options={'privilege_level': 'operator', 'kg': 'k'}),
], ids=['ipv4', 'name+port', 'ipv6', 'options'])
def test_ipmi_accepts(fields):
    validate('ipmi', **fields)


@pytest.mark.parametrize('fields, field', [
    (dict(bmc_address='192.0.2.5'), 'bmc_username'),
    (dict(IPMI, bmc_password=''), 'bmc_password'),
    (dict(bmc_username='admin'), 'bmc_address'),
    (dict(IPMI, bmc_address='bmc 1'), 'bmc_address'),
    (dict(IPMI, bmc_address='https://192.0.2.5'), 'bmc_address'),
    (dict(IPMI, bmc_port=0), 'bmc_port'),
    (dict(IPMI, bmc_port=65536), 'bmc_port'),
    (dict(IPMI, bmc_port=True), 'bmc_port'),
    (dict(IPMI, bmc_password='x' * 21), 'bmc_password'),
    (dict(IPMI, bmc_username='u' * 17), 'bmc_username'),
    (dict(IPMI, bmc_options={'bogus': '1'}), 'bmc_options'),
    (dict(IPMI, bmc_options={'privilege_level': 'root'}),
     "bmc_options['privilege_level']"),
], ids=['no-user', 'empty-password', 'no-address', 'bad-address', 'url',
        'port-0', 'port-65536', 'port-bool', 'long-password', 'long-user',
        'unknown-option', 'bad-privilege'])
def test_ipmi_refuses(fields, field):
    refused('ipmi', field, **fields)


def test_ipmi_names_every_missing_field():
    message = refused('ipmi', 'bmc_address', bmc_password=None)
    assert 'needs bmc_address, bmc_username, bmc_password' in message


# -- redfish ------------------------------------------------------------------

REDFISH = dict(bmc_address='https://192.0.2.6', bmc_username='admin')


@pytest.mark.parametrize('fields', [
    REDFISH, dict(REDFISH, bmc_address='http://127.0.0.1:8000/redfish/v1/'),
    dict(REDFISH, bmc_address='https://[2001:db8::6]:8443', bmc_port=8443),
    dict(REDFISH, bmc_options={'system_id': '/redfish/v1/Systems/1',
                               'verify': 'false'}),
], ids=['https', 'root-path', 'ipv6+port', 'options'])
def test_redfish_accepts(fields):
    validate('redfish', **fields)


def test_redfish_accepts_a_ca_bundle(files):
    validate('redfish', **dict(REDFISH,
                               bmc_options={'verify': files['known_hosts']}))


@pytest.mark.parametrize('fields, field', [
    (dict(REDFISH, bmc_password=None), 'bmc_password'),
    (dict(bmc_address='https://192.0.2.6'), 'bmc_username'),
    (dict(REDFISH, bmc_address='192.0.2.6'), 'bmc_address'),
    (dict(REDFISH, bmc_address='ftp://192.0.2.6'), 'bmc_address'),
    (dict(REDFISH, bmc_address='https://192.0.2.6/redfish/v1/Systems/1'),
     'bmc_address'),
    (dict(REDFISH, bmc_address='https://192.0.2.6:99999'), 'bmc_address'),
    (dict(REDFISH, bmc_address='https://192.0.2.6:443', bmc_port=8443),
     'bmc_port'),
    (dict(REDFISH, bmc_options={'verify': 'maybe'}),
     "bmc_options['verify']"),
    (dict(REDFISH, bmc_options={'system_id': 'has space'}),
     "bmc_options['system_id']"),
    (dict(REDFISH, bmc_options={'system': '1'}), 'bmc_options'),
], ids=['no-password', 'no-user', 'not-url', 'ftp', 'system-path',
        'bad-port', 'port-disagrees', 'bad-verify', 'bad-system-id',
        'unknown-option'])
def test_redfish_refuses(fields, field):
    refused('redfish', field, **fields)


@pytest.mark.parametrize('address', [
    'https://admin:%s@192.0.2.6' % SECRET, 'admin:%s@192.0.2.6' % SECRET])
def test_redfish_refuses_credentials_in_url_without_echoing_them(address):
    message = refused('redfish', 'bmc_address', **dict(
        REDFISH, bmc_address=address))
    assert 'must not contain credentials' in message


def test_redfish_ca_bundle_option_is_checked(files):
    conf = make_conf(redfish__ca_bundle=files['missing'])
    refused('redfish', '[redfish] ca_bundle', conf, **REDFISH)


# -- ssh ----------------------------------------------------------------------

def ssh(files, **options):
    opts = {'key_file': files['key'], 'known_hosts_file': files['known_hosts']}
    opts.update(options)
    return dict(bmc_address='192.0.2.7', bmc_password=None,
                bmc_options={k: v for k, v in opts.items() if v is not None})


def test_ssh_accepts_per_host_settings(files):
    validate('ssh', **ssh(files))
    validate('ssh', **dict(ssh(files), bmc_port=2222, bmc_username='fence'))


def test_ssh_key_and_known_hosts_may_come_from_config(files):
    conf = make_conf(ssh_fencing__private_key_file=files['key'],
                     ssh_fencing__known_hosts_file=files['known_hosts'])
    validate('ssh', conf, bmc_address='192.0.2.7')


def test_ssh_without_strict_checking_needs_no_known_hosts(files):
    conf = make_conf(ssh_fencing__strict_host_key_checking=False)
    validate('ssh', conf, **ssh(files, known_hosts_file=files['missing']))


@pytest.mark.parametrize('options, field, words', [
    ({'key_file': None}, "bmc_options['key_file']", 'needs a private key'),
    ({'key_file': 'missing'}, "bmc_options['key_file']", 'not a readable'),
    ({'key_file': 'not_a_key'}, "bmc_options['key_file']",
     'not a usable private key'),
    ({'key_file': 'encrypted'}, "bmc_options['key_file']", 'encrypted'),
    ({'known_hosts_file': 'missing'}, "bmc_options['known_hosts_file']",
     'strict host key checking'),
    ({'stop_command': ' '}, "bmc_options['stop_command']", 'is empty'),
    ({'port': '22'}, 'bmc_options', 'unknown key'),
], ids=['no-key', 'missing-key', 'not-a-key', 'encrypted-key',
        'no-known-hosts', 'empty-stop-command', 'unknown-option'])
def test_ssh_refuses(files, options, field, words):
    options = {k: files.get(v, v) for k, v in options.items()}
    message = refused('ssh', field, **ssh(files, **options))
    assert words in message


def test_ssh_names_config_options_it_falls_back_to(files):
    conf = make_conf(ssh_fencing__private_key_file=files['not_a_key'])
    refused('ssh', '[ssh_fencing] private_key_file', conf,
            **ssh(files, key_file=None))
    conf = make_conf(ssh_fencing__known_hosts_file=files['missing'])
    refused('ssh', '[ssh_fencing] known_hosts_file', conf,
            **ssh(files, known_hosts_file=None))


def test_ssh_needs_an_address(files):
    refused('ssh', 'bmc_address', **dict(ssh(files), bmc_address=None))


# -- noop ---------------------------------------------------------------------

def test_noop_needs_nothing_but_refuses_garbage():
    validate('noop', bmc_password=None)
    refused('noop', 'bmc_address', bmc_address='not an address!')
    refused('noop', 'bmc_port', bmc_port=-1)
