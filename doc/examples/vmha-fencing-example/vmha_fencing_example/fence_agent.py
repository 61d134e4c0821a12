"""``fence_agent``: vmha power control through a ClusterLabs fence agent.

The fence-agents project (fence_ipmilan, fence_redfish, fence_apc,
fence_vmware_rest, ...) reaches most BMCs, PDUs and hypervisors with one
interface: options as ``name=value`` lines on standard input; ``action=status``
exits 0 for "on", 2 for "off" and 1 on failure. This driver runs the agent
named by the host's ``bmc_options['agent']``; its other ``bmc_options`` go to
the agent as they are (``lanplus=1``, ``plug=3``, ...)::

    vmha-manage host add compute-7 --fencing fence_agent \\
        --bmc-address 10.0.0.7 --bmc-username admin \\
        --bmc-password-file /etc/vmha/compute-7.pw \\
        --bmc-option agent=fence_ipmilan --bmc-option lanplus=1

The password reaches the agent on standard input, never on its command line
(which every local user can read), and never appears in a message.

vmha's shared sequence does the rest (read the state, power off, poll until
"off", deadline on every call): a driver only answers the three calls.
"""

import shutil
import subprocess

from vmha.drivers.fencing import base
from vmha import exception

# the exit statuses of ``action=status``
POWER_STATES = {0: base.POWER_ON, 2: base.POWER_OFF}
FAILED = 1
MAX_OUTPUT = 300


class FenceAgentDriver(base.FencingDriver):
    """Runs ``bmc_options['agent']`` for every power call."""

    properties = {
        'bmc_address': base.Required('address of the BMC or device'),
        'bmc_port': 'its port (the agent\'s ipport)',
        'bmc_username': 'login (the agent\'s username)',
        'bmc_password': 'password (given to the agent on standard input)',
        'agent': base.Required('the fence agent to run (fence_ipmilan, ...)'),
    }
    #: the other bmc_options go to the agent as they are
    other_options = True

    def validate(self, host):
        """Also refuse a host whose agent is not an installed program:
        found now, not during a failure."""
        super().validate(host)
        agent = (host.bmc_options or {}).get('agent')
        if not agent or not shutil.which(agent):
            field = "bmc_options['agent']"
            raise exception.InvalidInput(
                reason='host %s: fencing driver %s: %s %r is not an '
                       'installed fence agent' % (host.name, self.name,
                                                  field, agent),
                fields=[field])

    def get_power_state(self, host):
        status, output = self._run(host, 'status')
        if status == FAILED:
            raise self._error(host, 'status', status, output)
        return POWER_STATES.get(status, base.POWER_UNKNOWN)

    def power_off(self, host):
        self._act(host, 'off')

    def power_on(self, host):
        self._act(host, 'on')

    def _act(self, host, action):
        status, output = self._run(host, action)
        if status != 0:
            raise self._error(host, action, status, output)

    def _error(self, host, action, status, output):
        return exception.FencingError(
            host=host.name, bmc=host.bmc_label,
            reason='%s action=%s exited %s: %s' % (
                host.bmc_options['agent'], action, status,
                output or '(no output)'))

    def _run(self, host, action):
        """Run the agent; return its exit status and its last words."""
        options = dict(host.bmc_options)
        agent = options.pop('agent')
        options.update(action=action, ip=host.bmc_address,
                       ipport=host.bmc_port, username=host.bmc_username,
                       password=host.bmc_password)
        stdin = ''.join('%s=%s\n' % (name, value)
                        for name, value in options.items()
                        if value is not None)
        # the caller's deadline abandons a hung call; this one ends it
        timeout = self.conf.fencing.bmc_timeout
        try:
            proc = subprocess.run([shutil.which(agent) or agent],
                                  input=stdin, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise exception.BMCTimeout(host=host.name, bmc=host.bmc_label,
                                       operation=action, timeout=timeout)
        except OSError as err:
            raise exception.FencingError(
                host=host.name, bmc=host.bmc_label,
                reason='cannot run %s: %s' % (agent, err.strerror))
        output = ' '.join((proc.stderr or proc.stdout).split())
        if host.bmc_password:       # in case an agent echoes it
            output = output.replace(host.bmc_password, '***')
        return proc.returncode, output[-MAX_OUTPUT:]
