"""HostSpec secrets, fencing driver selection/loading and the noop driver."""

import logging

import pytest

from vmha.drivers.fencing import noop
from vmha.drivers import loader
from vmha import exception
from vmha import fencing
from vmha import inventory
from tests.unit.conftest import make_conf

SECRET = 'Sup3rSecret'


def spec(**kwargs):
    fields = dict(name='c1', bmc_address='192.0.2.9', bmc_port=623,
                  bmc_username='admin', bmc_password=SECRET)
    fields.update(kwargs)
    return inventory.HostSpec(**fields)


def test_repr_and_str_hide_password():
    host = spec()
    assert SECRET not in repr(host)
    assert SECRET not in str(host)
    assert "bmc_username='admin'" in repr(host)


def test_public_dict_masks_password():
    data = spec().public_dict()
    assert data['bmc_password'] == '***'
    assert SECRET not in repr(data)
    assert data['bmc_address'] == '192.0.2.9'
    assert spec(bmc_password=None).public_dict()['bmc_password'] is None


@pytest.mark.parametrize('kwargs, label', [
    ({}, '192.0.2.9:623'),
    ({'bmc_port': None}, '192.0.2.9'),
    ({'bmc_address': None}, '(no BMC)'),
])
def test_bmc_label(kwargs, label):
    assert spec(**kwargs).bmc_label == label


def test_logged_config_values_mask_secrets(caplog):
    conf = make_conf(database__connection='mysql+pymysql://vmha:%s@db/vmha'
                     % SECRET)
    logger = logging.getLogger('vmha.test.conf')
    caplog.set_level(logging.DEBUG, logger='vmha.test.conf')
    conf.log_opt_values(logger, logging.DEBUG)
    assert 'database.connection' in caplog.text
    assert SECRET not in caplog.text


def test_driver_name_for_host():
    conf = make_conf(fencing__default_driver='noop')
    assert fencing.driver_name_for(conf, spec()) == 'noop'
    assert fencing.driver_name_for(conf, spec(fencing_driver='ipmi')) == \
        'ipmi'


def test_load_noop_driver():
    conf = make_conf(fencing__default_driver='noop')
    driver = fencing.load_driver(conf, spec())
    assert isinstance(driver, noop.NoopFencingDriver)
    assert driver.name == 'noop'
    assert driver.conf is conf


def test_unknown_fencing_driver_lists_installed():
    conf = make_conf()
    with pytest.raises(exception.DriverNotFound) as err:
        fencing.load_driver(conf, spec(fencing_driver='telepathy'))
    message = str(err.value)
    assert 'telepathy' in message and 'noop' in message
    assert 'noop' in loader.available(loader.FENCING_NAMESPACE)


def test_noop_driver_reports_off_and_fences_at_once(caplog):
    caplog.set_level(logging.WARNING)
    driver = noop.NoopFencingDriver(None)
    driver.validate(spec(bmc_address=None))       # needs nothing
    result = fencing.Fencer(driver, confirm_count=3, confirm_interval=0,
                            call_timeout=5).fence(spec())
    assert (result.first_state, result.polls) == ('off', 1)
    assert result.driver == 'noop'
    driver.power_off(spec())
    driver.power_on(spec())
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING]
    assert any('reporting host c1 off without checking' in w
               for w in warnings)
    assert any('NOT powered off' in w for w in warnings)
    assert SECRET not in caplog.text


def test_validate_names_missing_fields():
    class Needy(noop.NoopFencingDriver):
        required_fields = ('bmc_address', 'bmc_username')

    with pytest.raises(exception.InvalidInput) as err:
        Needy(None).validate(spec(bmc_address=None, bmc_username=''))
    assert 'bmc_address, bmc_username' in str(err.value)
    assert 'c1' in str(err.value)
