"""nova.virt.fake.FakeDriver with a stable node identity: restartable computes.

The stock FakeDriver reports a node uuid that is random per process and never
writes ``$state_path/compute_id``, so a restarted nova-compute refuses to start
("No local node identity found ..." or "Duplicate compute node record").
Restarting a host's compute is how the lab brings a failed host back, so this
subclass derives the uuid from the node name and persists it like a real
driver.  nova loads drivers only as ``nova.virt.<name>``: `lab up` links this
file into nova/virt/ (compute_driver = vmha_lab_fake.StableFakeDriver).

A test may also slow one host's spawns -- rebuilds of evacuated instances
included -- by writing a number of seconds into ``$state_path/spawn_delay``:
an evacuation to that host then stays under way long enough for the host to
fail mid-rebuild (a cascade). No file, no delay.
"""
import os
import time
import uuid

import nova.conf
from nova.virt import fake
from nova.virt import node as virt_node

CONF = nova.conf.CONF
SPAWN_DELAY_FILE = 'spawn_delay'


def spawn_delay():
    """Seconds this host's spawns wait, from $state_path/spawn_delay."""
    try:
        with open(os.path.join(CONF.state_path, SPAWN_DELAY_FILE)) as f:
            return float(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def node_uuid(nodename):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, 'vmha-lab-node:' + nodename))


class StableFakeDriver(fake.FakeDriver):

    def init_host(self, host):
        super().init_host(host)
        if virt_node.read_local_node_uuid() is None:
            virt_node.write_local_node_uuid(node_uuid(self._nodes[0]))

    def get_available_resource(self, nodename):
        resources = super().get_available_resource(nodename)
        if resources:
            resources['uuid'] = node_uuid(nodename)
        return resources

    def get_nodenames_by_uuid(self, refresh=False):
        return {node_uuid(n): n for n in self.get_available_nodes()}

    def spawn(self, *args, **kwargs):
        delay = spawn_delay()
        if delay > 0:
            time.sleep(delay)      # green under nova-compute's eventlet
        return super().spawn(*args, **kwargs)
