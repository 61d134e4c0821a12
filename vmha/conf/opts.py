"""Entry points of oslo-config-generator: every vmha option, by group.

``vmha`` (:func:`list_opts`) lists what :func:`vmha.conf.register_opts`
registers; ``vmha.drivers`` (:func:`list_driver_opts`) the options of the
installed fencing drivers, third-party ones included, which a driver
registers when it is loaded.
"""

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


def list_driver_opts():
    """[(group, [opts])] the installed fencing drivers declare
    (``FencingDriver.list_opts``): a third-party driver's option group
    reaches the sample configuration without a namespace of its own."""
    from vmha.drivers import loader     # drivers import vmha.conf

    merged = collections.defaultdict(list)
    for _name, driver in sorted(
            loader.classes(loader.FENCING_NAMESPACE).items()):
        for group, opts in getattr(driver, 'list_opts', list)():
            merged[group].extend(o for o in opts if o not in merged[group])
    return list(merged.items())
