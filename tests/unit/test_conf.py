"""Option validation, flows.check_level, and the checked-in sample config."""

import difflib
import pathlib

from keystoneauth1 import loading as ks_loading
import pytest
from oslo_config import cfg
from oslo_config import generator

from vmha import conf as vmha_conf
from vmha.conf import opts as conf_opts
from tests.unit.conftest import make_conf
from vmha import exception
from vmha import flows

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / 'etc' / 'vmha' / 'vmha.conf.sample'
GENERATOR_CONF = ROOT / 'etc' / 'oslo-config-generator' / 'vmha.conf'


def load(tmp_path, text):
    """A ConfigOpts with vmha's options, loaded from a temp config file."""
    path = tmp_path / 'vmha.conf'
    path.write_text(text)
    return make_conf(config_file=path)


def test_defaults_are_valid():
    conf = cfg.ConfigOpts()
    vmha_conf.register_opts(conf)
    conf([], default_config_files=[])
    assert conf.recovery.quick_evacuate_level == 2
    assert conf.evacuation.max_workers == 16
    assert conf.nova.api_version == 'auto'
    # every default passes the option's own type/bounds checks
    conf(args=[], default_config_files=[], validate_default_values=True)


def test_register_opts_is_idempotent():
    conf = cfg.ConfigOpts()
    vmha_conf.register_opts(conf)
    vmha_conf.register_opts(conf)
    conf([], default_config_files=[])
    assert conf.fencing.power_off_confirm_count == 10


@pytest.mark.parametrize('level', ['4', '0', 'fast'])
def test_bad_quick_evacuate_level_names_the_option(tmp_path, level):
    conf = load(tmp_path, '[recovery]\nquick_evacuate_level = %s\n' % level)
    with pytest.raises(cfg.ConfigFileValueError) as err:
        conf.recovery.quick_evacuate_level
    message = str(err.value)
    assert 'quick_evacuate_level' in message
    assert str(tmp_path / 'vmha.conf') in message


@pytest.mark.parametrize('level', [1, 2, 3])
def test_good_quick_evacuate_level_from_file(tmp_path, level):
    conf = load(tmp_path, '[recovery]\nquick_evacuate_level = %d\n' % level)
    assert conf.recovery.quick_evacuate_level == level


@pytest.mark.parametrize('group, name, value', [
    ('evacuation', 'max_workers', '0'),
    ('evacuation', 'max_workers', '257'),
    ('evacuation', 'confirm_timeout', '0'),
    ('evacuation', 'confirm_interval', '0.01'),
    ('fencing', 'power_off_confirm_count', '0'),
    ('fencing', 'power_off_confirm_interval', '-1'),
    ('fencing', 'bmc_timeout', '0.1'),
    ('recovery', 'wait_service_down_timeout', '0'),
    ('recovery', 'wait_service_down_interval', '0'),
    ('monitor', 'poll_interval', '0.1'),
    ('monitor', 'max_failed_hosts_percent', '0'),
    ('monitor', 'max_failed_hosts_percent', '101'),
    ('monitor', 'max_failed_hosts', '-1'),
    ('monitor', 'retry_failed_after', '-5'),
    ('evacuation', 'target_host_policy', 'random'),
    ('nova', 'api_version', '3.0'),
    ('nova', 'api_version', 'latest'),
])
def test_out_of_bounds_values_are_refused(tmp_path, group, name, value):
    conf = load(tmp_path, '[%s]\n%s = %s\n' % (group, name, value))
    with pytest.raises(cfg.ConfigFileValueError) as err:
        getattr(getattr(conf, group), name)
    assert name in str(err.value)


@pytest.mark.parametrize('group, name, value, expected', [
    ('evacuation', 'max_workers', '1', 1),
    ('evacuation', 'max_workers', '256', 256),
    ('fencing', 'power_off_confirm_interval', '0', 0.0),
    ('monitor', 'max_failed_hosts_percent', '100', 100),
    ('nova', 'api_version', '2.53', '2.53'),
    ('evacuation', 'target_hosts', 'c1:spare1,c2:spare2',
     {'c1': 'spare1', 'c2': 'spare2'}),
])
def test_boundary_values_are_accepted(tmp_path, group, name, value,
                                      expected):
    conf = load(tmp_path, '[%s]\n%s = %s\n' % (group, name, value))
    assert getattr(getattr(conf, group), name) == expected


def test_deprecated_ipmi_option_names_still_work(tmp_path):
    conf = load(tmp_path, '[fencing]\nipmi_check_max_count = 7\n'
                          'ipmi_check_interval = 0.5\n')
    assert conf.fencing.power_off_confirm_count == 7
    assert conf.fencing.power_off_confirm_interval == 0.5


@pytest.mark.parametrize('level', [0, 4, None, '2'])
def test_check_level_error_names_the_option(level):
    with pytest.raises(exception.ConfigError) as err:
        flows.check_level(level)
    assert 'quick_evacuate_level' in str(err.value)
    assert repr(level) in str(err.value)


@pytest.mark.parametrize('level', [1, 2, 3])
def test_check_level_accepts_levels(level):
    assert flows.check_level(level) == level
    assert flows.steps(level)[-1] == 'evacuate'


def _opt(group, name):
    for grp, options in conf_opts.list_opts():
        grp_name = getattr(grp, 'name', grp)
        for opt in options:
            if grp_name == group and opt.dest == name:
                return opt
    raise AssertionError('option [%s] %s not listed' % (group, name))


@pytest.mark.parametrize('group, name', [('nova', 'password'),
                                         ('database', 'connection')])
def test_secret_options(group, name):
    assert _opt(group, name).secret is True


def test_every_listed_group_is_registered():
    """list_opts (the sample) and register_opts (the code) agree.

    keystoneauth registers auth plugin options (auth_url, password...) only
    once auth_type is known, so those are left out.
    """
    plugin = {o.dest for o in
              ks_loading.get_auth_plugin_conf_options('password')}
    conf = cfg.ConfigOpts()
    vmha_conf.register_opts(conf)
    conf([], default_config_files=[])
    for group, options in conf_opts.list_opts():
        group_name = getattr(group, 'name', group)
        for opt in options:
            if group_name == 'nova' and opt.dest in plugin:
                continue
            if group_name == 'DEFAULT':
                assert opt.dest in conf, opt.dest
            else:
                assert opt.dest in conf[group_name], (group_name, opt.dest)


def test_sample_config_is_up_to_date(tmp_path):
    generated = tmp_path / 'vmha.conf.sample'
    generator.main(['--config-file', str(GENERATOR_CONF),
                    '--output-file', str(generated)])
    expected = generated.read_text().splitlines(keepends=True)
    actual = SAMPLE.read_text().splitlines(keepends=True)
    if expected != actual:
        diff = ''.join(difflib.unified_diff(
            actual, expected, 'etc/vmha/vmha.conf.sample (checked in)',
            'generated', n=1))
        pytest.fail('etc/vmha/vmha.conf.sample is stale: run '
                    '"tox -e genconfig" and commit the result.\n%s'
                    % diff[:4000], pytrace=False)


def test_overrides_do_not_leak_between_config_objects():
    """An embedding service's ConfigOpts and cfg.CONF stay independent."""
    first = cfg.ConfigOpts()
    vmha_conf.register_opts(first)
    first([], default_config_files=[])
    first.set_override('max_workers', 3, 'evacuation')
    first.set_default('quick_evacuate_level', 3, 'recovery')
    second = cfg.ConfigOpts()
    vmha_conf.register_opts(second)
    second([], default_config_files=[])
    assert first.evacuation.max_workers == 3
    assert second.evacuation.max_workers == 16
    assert second.recovery.quick_evacuate_level == 2
    assert vmha_conf.CONF.evacuation.max_workers == 16
    assert second.nova.service_type == 'compute'


def test_jobboard_max_recoveries_is_read_as_monitor_max_recoveries(tmp_path):
    """One option for the recoveries a monitor runs at once, with or
    without a jobboard; configs written for the old [jobboard] option keep
    working."""
    path = tmp_path / 'old.conf'
    path.write_text('[jobboard]\nmax_recoveries = 3\n')
    conf = make_conf()
    conf(['--config-file', str(path)], default_config_files=[])
    assert conf.monitor.max_recoveries == 3
