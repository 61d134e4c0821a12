"""Entry point of oslo-config-generator: every vmha option, by group."""

import collections

from vmha.conf import agent
from vmha.conf import capacity
from vmha.conf import coordination
from vmha.conf import database
from vmha.conf import evacuation
from vmha.conf import fencing
from vmha.conf import inventory
from vmha.conf import jobboard
from vmha.conf import metrics
from vmha.conf import monitor
from vmha.conf import nova
from vmha.conf import notification
from vmha.conf import notification_messaging
from vmha.conf import notification_snmp
from vmha.conf import recovery
from vmha.conf import redfish
from vmha.conf import ssh_fencing
from vmha.conf import watchdog

MODULES = (database, inventory, recovery, fencing, evacuation, capacity,
           notification, monitor, coordination, jobboard, agent, nova,
           notification_snmp, notification_messaging, redfish, ssh_fencing,
           metrics, watchdog)


def list_opts():
    """Return [(group, [opts])] sorted the way the sample shows them."""
    merged = collections.defaultdict(list)
    for module in MODULES:
        for group, opts in module.list_opts().items():
            merged[group].extend(opts)
    return [(group, opts) for group, opts in merged.items()]
