"""Drivers as in ironic: loaded once per process, named by their entry
point, their inventory fields described once (validation, ``host add
--help``), their options in the sample configuration.

A third-party driver is registered in-process: a ``*.dist-info`` directory
with its entry points on ``sys.path``, as pip would leave it, without pip.
"""

import pathlib
import textwrap

from oslo_config import cfg
from oslo_config import generator
import pytest
import stevedore

from vmha.cmd import manage
from vmha.conf import opts as conf_opts
from vmha.drivers.fencing import base
from vmha.drivers.fencing import ipmi
from vmha.drivers.fencing import noop
from vmha.drivers import loader
from vmha.drivers.watchdog import linux
from vmha import exception
from vmha import fencing
from vmha import inventory
from tests.unit.conftest import make_conf

FENCING = loader.FENCING_NAMESPACE
ROOT = pathlib.Path(__file__).parents[3]

DUMMY_MODULE = '''
from oslo_config import cfg

from vmha.drivers.fencing import base


class DummyDriver(base.FencingDriver):
    properties = {
        'bmc_address': base.Required('address of the dummy power switch'),
        'outlet': base.Required('outlet number on the switch'),
        'api_token': 'token of the switch API',
    }

    @classmethod
    def list_opts(cls):
        return [('dummy_switch', [cfg.IntOpt(
            'outlet_delay', default=7,
            help='Seconds the dummy switch waits before an outlet changes.'
        )])]

    def get_power_state(self, host):
        return base.POWER_OFF

    def power_off(self, host):
        pass

    def power_on(self, host):
        pass
'''


@pytest.fixture
def dummy(tmp_path, monkeypatch):
    """A package ``vmha-dummy`` whose ``vmha.fencing`` entry point is
    ``dummy_switch``, importable and found by entry point scans."""
    (tmp_path / 'vmha_dummy_driver.py').write_text(DUMMY_MODULE)
    info = tmp_path / 'vmha_dummy-1.0.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: vmha-dummy\nVersion: 1.0\n')
    (info / 'entry_points.txt').write_text(textwrap.dedent('''
        [vmha.fencing]
        dummy_switch = vmha_dummy_driver:DummyDriver
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    # stevedore reads a namespace's entry points once per process
    monkeypatch.setattr(stevedore.ExtensionManager, 'ENTRY_POINT_CACHE', {})
    assert 'dummy_switch' in loader.available(FENCING)
    return 'dummy_switch'


def _spec(**fields):
    return inventory.HostSpec(name='c1', **fields)


# -- one instance per process ------------------------------------------------

def test_a_driver_is_loaded_once_per_configuration():
    conf = make_conf()
    first = fencing.load_driver(conf, _spec(fencing_driver='ipmi'))
    again = fencing.load_driver(conf, _spec(fencing_driver='ipmi'))
    assert again is first
    assert loader.get(FENCING, 'ipmi', conf) is first
    assert loader.get(FENCING, 'noop', conf) is not first
    other = fencing.load_driver(make_conf(), _spec(fencing_driver='ipmi'))
    assert other is not first and other.conf is not conf


def test_sessions_are_instance_state():
    """No class-level cache a test must empty: two drivers share nothing."""
    conf = make_conf()
    one, two = ipmi.IPMIDriver(conf), ipmi.IPMIDriver(conf)
    one._sessions['key'] = ('cmd', 0)
    assert two._sessions == {}
    assert not hasattr(ipmi.IPMIDriver, 'forget_all')
    one._sessions.clear()
    one.close()
    assert one._sessions == {}


# -- the name is the entry point's --------------------------------------------

@pytest.mark.parametrize('name', ['ipmi', 'noop', 'redfish', 'ssh',
                                  'watchdog'])
def test_the_name_comes_from_the_entry_point(name):
    driver = loader.load(FENCING, name, make_conf())
    assert driver.name == name
    assert 'entry_point_name' not in vars(type(driver))
    # built without the loader, it still finds its entry point
    assert type(driver)(make_conf()).name == name


def test_watchdog_driver_named_by_its_entry_point():
    assert 'entry_point_name' not in vars(linux.LinuxWatchdog)
    assert linux.LinuxWatchdog(make_conf()).name == 'linux'


def test_a_class_without_entry_point_keeps_its_own_name():
    class Unlisted(noop.NoopFencingDriver):
        pass

    assert Unlisted(None).name == 'Unlisted'


# -- properties: described once -----------------------------------------------

def test_required_fields_follow_the_properties():
    assert ipmi.IPMIDriver.required_fields == (
        'bmc_address', 'bmc_username', 'bmc_password')
    assert list(ipmi.IPMIDriver.get_properties())[:3] == list(
        ipmi.IPMIDriver.required_fields)
    assert ipmi.IPMIDriver.option_names() == ('kg', 'privilege_level')


def test_a_legacy_required_fields_is_still_required():
    class Legacy(noop.NoopFencingDriver):
        required_fields = ('bmc_address',)

    with pytest.raises(exception.InvalidInput) as err:
        Legacy(None).validate(_spec())
    assert err.value.kwargs['fields'] == ['bmc_address']
    assert Legacy.get_properties() == {'bmc_address': 'required'}


def test_an_undescribed_option_is_refused():
    driver = loader.load(FENCING, 'ipmi', make_conf())
    with pytest.raises(exception.InvalidInput) as err:
        driver.validate(_spec(bmc_address='192.0.2.1', bmc_username='u',
                              bmc_password='p', bmc_options={'kgg': 'x'}))
    assert 'unknown key(s) kgg (known: kg, privilege_level)' in str(
        err.value)


def test_a_driver_describing_no_option_accepts_any():
    noop.NoopFencingDriver(None).validate(_spec(bmc_options={'any': '1'}))


def test_required_option_and_undescribed_option(dummy):
    driver = loader.load(FENCING, dummy, make_conf())
    with pytest.raises(exception.InvalidInput) as err:
        driver.validate(_spec(bmc_address='192.0.2.1'))
    assert "needs bmc_options['outlet']" in str(err.value)
    assert err.value.kwargs['fields'] == ["bmc_options['outlet']"]
    with pytest.raises(exception.InvalidInput):
        driver.validate(_spec(bmc_address='192.0.2.1',
                              bmc_options={'outlet': '3', 'plug': '1'}))
    driver.validate(_spec(bmc_address='192.0.2.1',
                          bmc_options={'outlet': '3'}))


def test_host_add_help_lists_every_driver_and_its_fields(dummy, capsys):
    try:
        manage.main(['host', 'add', '--help'])
    except SystemExit:
        pass
    out = ' '.join(capsys.readouterr().out.split())
    for name, driver in loader.classes(FENCING).items():
        assert '%s:' % name in out
    assert ('--bmc-option outlet=... (required): outlet number on the '
            'switch') in out
    assert '--bmc-address (required): address of the dummy power switch' \
        in out
    assert ('--bmc-option privilege_level=...: administrator (default) '
            'or operator') in out


# -- a third-party driver's options -----------------------------------------

def test_loading_registers_the_driver_options(dummy):
    conf = make_conf()
    driver = loader.get(FENCING, dummy, conf)
    assert driver.name == dummy
    assert conf.dummy_switch.outlet_delay == 7
    # a second driver on the same conf registers nothing twice
    type(driver)(conf)


def test_driver_options_reach_the_sample_configuration(dummy, tmp_path):
    listed = dict(conf_opts.list_driver_opts())
    assert [o.dest for o in listed['dummy_switch']] == ['outlet_delay']
    sample = tmp_path / 'sample.conf'
    generator.main(['--namespace', 'vmha.drivers',
                    '--output-file', str(sample)])
    text = sample.read_text()
    assert '[dummy_switch]' in text
    assert '#outlet_delay = 7' in text
    assert 'Seconds the dummy switch waits' in text


def test_the_generator_config_lists_the_driver_namespace():
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(['--config-file',
          str(ROOT / 'etc' / 'oslo-config-generator' / 'vmha.conf')])
    assert 'vmha.drivers' in conf.namespace


def test_in_tree_drivers_declare_no_options_of_their_own():
    """Theirs live in vmha.conf (the vmha namespace), not twice."""
    assert conf_opts.list_driver_opts() == []


def test_fencing_driver_base_is_the_documented_interface():
    assert issubclass(base.Required, str)
    assert base.field_label('kg') == "bmc_options['kg']"
    assert base.field_label('bmc_port') == 'bmc_port'


def test_the_guide_names_every_option_of_the_in_tree_drivers():
    """doc/fencing.md explains what ``properties`` only name: a key added
    to a driver without a word in the guide fails here."""
    guide = (ROOT / 'doc' / 'fencing.md').read_text()
    for name, driver in loader.classes(FENCING).items():
        for key in driver.option_names():
            assert '`%s`' % key in guide, (name, key)
