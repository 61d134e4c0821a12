"""Fixtures of the functional suite (real peers on 127.0.0.1).

The lab's (``lab_info`` to ``start_cluster``) are built on tools/lab/access,
which the benchmark shares; the peers' are defined with their peer in
tests/functional/peers/.
"""

import json
import time

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from novaclient import client as nova_client
import pytest

from tests.functional.peers.coordination import redis_server  # noqa: F401,E501
from tests.functional.peers.coordination import zookeeper_server  # noqa: F401,E501
from tests.functional.peers.ipmi_sim import ipmi_bmc  # noqa: F401
from tests.functional.peers.ipmi_sim import ipmi_bmc_stuck  # noqa: F401
from tests.functional.peers.rabbitmq import broker_url  # noqa: F401
from tests.functional.peers.rabbitmq import listener  # noqa: F401
from tests.functional.peers.rabbitmq import topic  # noqa: F401
from tests.functional.peers.sshd import sshd_peer  # noqa: F401
from tests.functional.peers.sushy import redfish_bmc  # noqa: F401
from tests.functional.peers.sushy import redfish_ignoring_bmc  # noqa: F401
from tests.functional.peers.sushy import redfish_strict_bmc  # noqa: F401
from tests.functional.peers.sushy import redfish_tls_bmc  # noqa: F401
from tools.lab.access import agents as agentlib
from tools.lab.access import keys
from tools.lab.access import lab as lablib
from tools.lab.access import monitors as lab_monitors
from vmha.db import api as db_api
from vmha.db import migration
from vmha.drivers import loader


@pytest.fixture(autouse=True)
def _close_shared_drivers():
    """Each test builds its own configuration, hence its own fencing
    drivers: log their BMC sessions out when it ends, so that pyghmi does
    not hand the next test's driver a session the lab BMC dropped (a power
    off then waits ~20 s for it: "did not answer power off within 10s")."""
    yield
    loader.close_shared()


@pytest.fixture(scope='session')
def lab_info():
    with lablib.locked():
        yield json.loads(lablib.lab('info'))


@pytest.fixture(scope='session')
def nova_session(lab_info):
    auth = lab_info['auth']
    return ks_session.Session(auth=v3.Password(
        auth_url=auth['auth_url'], username=auth['username'],
        password=auth['password'], project_name=auth['project_name'],
        user_domain_name=auth['user_domain_name'],
        project_domain_name=auth['project_domain_name']))


@pytest.fixture(scope='session')
def nova(nova_session, lab_info):
    """An admin novaclient factory: nova('2.53')."""
    def make(version='2.53'):
        return nova_client.Client(
            version, session=nova_session,
            region_name=lab_info['auth'].get('region_name', 'RegionOne'))
    return make


@pytest.fixture
def clean_lab(lab_info):
    """Every lab test starts with no servers and every host healthy (with
    the lab lock held: ``lab_info``)."""
    lablib.lab('reset')
    yield
    lablib.lab('reset')


@pytest.fixture
def sqlite_url(tmp_path):
    return 'sqlite:///%s' % (tmp_path / 'vmha.sqlite')


@pytest.fixture
def db_url(sqlite_url):
    """``sqlite_url`` with vmha's schema."""
    migration.upgrade(sqlite_url)
    return sqlite_url


@pytest.fixture
def vmha_setup(lab_info, sqlite_url, tmp_path):
    """(conf, db) on a fresh SQLite database with the lab's hosts."""
    migration.upgrade(sqlite_url)
    db = db_api.Database(sqlite_url, keyring=keys.keyring())
    lablib.add_lab_hosts(db, lab_info)
    conf = lablib.load_conf(tmp_path / 'vmha.conf', lab_info, sqlite_url)
    yield conf, db
    db.dispose()


@pytest.fixture
def start_cluster(tmp_path, lab_info, vmha_setup, sqlite_url, clean_lab):
    """start(level, backend_url, **options) -> (db, agents, monitor
    process), with agents on every lab host and the monitor watching them;
    ``options``: {'group.option': value} for the monitor's config."""
    conf, db = vmha_setup
    monitors, agent_sets = [], []

    def start(level, backend_url=agentlib.REDIS_URL, **options):
        options.update({'recovery.quick_evacuate_level': level,
                        'coordination.backend_url': backend_url})
        config = lab_monitors.monitor_config(
            tmp_path / 'vmha.conf', lab_info, sqlite_url,
            agentlib.unique('vmha-lab'), tmp_path / 'monitor.log',
            **options)
        conf(['--config-file', config], default_config_files=[])
        agents = agentlib.Agents(tmp_path, config, conf)
        agent_sets.append(agents)
        agents.start(*lablib.HOSTS)
        proc = lab_monitors.MonitorProcess(config, tmp_path / 'monitor.log')
        monitors.append(proc)
        proc.wait_for_log(lab_monitors.WATCHING)
        # a few polls with every agent alive before anything happens
        time.sleep(3 * lab_monitors.POLL)
        return db, agents, proc

    yield start
    for proc in monitors:
        proc.stop()
    for agents in agent_sets:
        agents.close()
