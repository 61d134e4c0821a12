"""loader.close_shared: the drivers get() handed out are closed (their BMC
sessions logged out) when a process drops the configuration they came
with, and stay usable."""

from vmha.drivers import loader
from tests.unit.conftest import make_conf


def test_close_shared_closes_each_driver_once_and_they_stay_shared():
    conf = make_conf()
    driver = loader.get(loader.FENCING_NAMESPACE, 'noop', conf)
    closed = []
    driver.close = lambda: closed.append(driver)
    loader.close_shared()
    assert closed == [driver]
    loader.close_shared()                       # nothing new since
    assert closed == [driver]
    assert loader.get(loader.FENCING_NAMESPACE, 'noop', conf) is driver
