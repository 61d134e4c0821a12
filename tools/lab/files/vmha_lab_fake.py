"""nova.virt.fake.FakeDriver with a stable node identity: restartable computes.

The stock FakeDriver reports a node uuid that is random per process and never
writes ``$state_path/compute_id``, so a restarted nova-compute refuses to start
("No local node identity found ..." or "Duplicate compute node record").
Restarting a host's compute is how the lab brings a failed host back, so this
subclass derives the uuid from the node name and persists it like a real
driver.  nova loads drivers only as ``nova.virt.<name>``: `lab up` links this
file into nova/virt/ (compute_driver = vmha_lab_fake.StableFakeDriver).
"""
import uuid

from nova.virt import fake
from nova.virt import node as virt_node


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
