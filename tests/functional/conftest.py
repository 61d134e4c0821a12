"""Fixtures of the functional suite (real peers on 127.0.0.1)."""

from tests.functional.lab import clean_lab  # noqa: F401
from tests.functional.lab import lab_info  # noqa: F401
from tests.functional.lab import nova  # noqa: F401
from tests.functional.lab import nova_session  # noqa: F401
from tests.functional.lab import sqlite_url  # noqa: F401
from tests.functional.lab import vmha_setup  # noqa: F401
from tests.functional.lab_monitors import start_cluster  # noqa: F401
from tests.functional.peers.coordination import redis_server  # noqa: F401,E501
from tests.functional.peers.coordination import zookeeper_server  # noqa: F401,E501
from tests.functional.peers.ipmi_sim import ipmi_bmc  # noqa: F401
from tests.functional.peers.ipmi_sim import ipmi_bmc_stuck  # noqa: F401
from tests.functional.peers.rabbitmq import broker_url  # noqa: F401
from tests.functional.peers.sshd import sshd_peer  # noqa: F401
from tests.functional.peers.sushy import redfish_bmc  # noqa: F401
from tests.functional.peers.sushy import redfish_ignoring_bmc  # noqa: F401
from tests.functional.peers.sushy import redfish_strict_bmc  # noqa: F401
from tests.functional.peers.sushy import redfish_tls_bmc  # noqa: F401
