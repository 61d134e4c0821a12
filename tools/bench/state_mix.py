"""The instance-state mix through vmha and through Masakari (lab).

The states tests/functional/test_completeness_lab.py recovers, one server
each on hostA: stopped, error, paused, suspended, active with a task state
stuck on the dead host (``rebooting``: its compute SIGSTOPped, a reboot
asked, then the host powered off), and a plain active one. hostA is then
powered off through its BMC; vmha recovers it (level 2, ``vmha.api.
recover_host``: its real recovery, detection aside) or Masakari does (the
notification posted the moment the power-off is confirmed, tuned variant).
The outcome of each server is Nova's view afterwards.
"""

import pytest

from vmha import api
from vmha.db import api as db_api
from vmha.db import migration

from tools.lab.access import keys
from tools.lab.access import lab as lablib
from tools.lab.access import masakari
from tools.bench import baseline
from tools.bench import compare
from tools.bench import lablock

SOURCE = masakari.SOURCE
#: the mix, in boot order after ``lab boot --stopped 1 --error 1``
STATES = ('stopped', 'error', 'paused', 'suspended',
          'active, task_state rebooting (stuck)', 'active')


def _server_view(client, sid):
    server = client.servers.get(sid)
    return (getattr(server, 'OS-EXT-SRV-ATTR:host'),
            getattr(server, 'OS-EXT-STS:vm_state'),
            getattr(server, 'OS-EXT-STS:task_state'))


def _wait(client, sid, predicate, what):
    lablib.wait_for(lambda: predicate(_server_view(client, sid)), 60,
                    what=what)


def build(client):
    """Boot the mix on SOURCE, stop its compute with one reboot stuck;
    {state: id}."""
    ids = [s['id'] for s in lablib.boot(len(STATES), SOURCE, stopped=1,
                                        error=1, prefix='mix')]
    by_state = dict(zip(STATES, ids))
    client.servers.pause(by_state['paused'])
    client.servers.suspend(by_state['suspended'])
    for state in ('paused', 'suspended'):
        _wait(client, by_state[state],
              lambda v, s=state: v[1:] == (s, None), state)
    lablib.lab('fail', SOURCE, '--mode', 'stop')
    stuck = by_state[STATES[4]]
    client.servers.reboot(stuck)
    _wait(client, stuck, lambda v: v[2] == 'rebooting', 'rebooting')
    return by_state


def outcomes(client, by_state):
    """{state: {host, vm_state, task_state, evacuations, recovered}}."""
    result = {}
    for state, sid in by_state.items():
        host, vm_state, task_state = _server_view(client, sid)
        evacuations = len(client.migrations.list(
            instance_uuid=sid, migration_type='evacuation'))
        result[state] = {
            'id': sid, 'host': host, 'vm_state': vm_state,
            'task_state': task_state, 'evacuations': evacuations,
            'recovered': (host != SOURCE and task_state is None
                          and evacuations >= 1)}
    return result


def through_vmha(client, workdir, lab_info):
    url = 'sqlite:///%s' % (workdir / 'vmha.sqlite')
    migration.upgrade(url)
    db = db_api.Database(url, keyring=keys.keyring())  # BMC passwords
    try:
        lablib.add_lab_hosts(db, lab_info)
        conf = lablib.load_conf(workdir / 'vmha.conf', lab_info, url)
        by_state = build(client)
        lablib.lab('fail', SOURCE, '--mode', 'bmc')
        report = api.recover_host(conf, SOURCE, level=2)
        return dict(outcomes(client, by_state), recovery=report.state)
    finally:
        db.dispose()


def through_masakari(client):
    by_state = build(client)
    masakari.variant('tuned')
    try:
        posted = masakari.fail_and_notify()
        recs = masakari.records(posted['notification_uuid'], 600)
    finally:
        masakari.variant('default')
    return dict(outcomes(client, by_state), recovery=recs['status'])


def run(workdir, lab_info, waits):
    """The mix through each tool: see :func:`table`."""
    workdir.mkdir(parents=True, exist_ok=True)
    client = baseline._client(workdir, lab_info)
    found = {}
    for tool, how in ((compare.VMHA, lambda: through_vmha(
            client, workdir, lab_info)),
            (compare.MASAKARI, lambda: through_masakari(client))):
        with lablock.held(waits):
            lablib.lab('reset')
            try:
                found[tool] = how()
            except (Exception, pytest.fail.Exception) as err:   # recorded
                found[tool] = failed(err)
            finally:
                lablib.lab('reset')
    return table(found)


def failed(err):
    """What a tool's run that raised ``err`` found: no outcome, and why."""
    return {'recovery': 'run failed: %s: %s' % (type(err).__name__,
                                                 str(err)[-1000:])}


def table(found):
    """{'rows': [{state, vmha, masakari}], 'recovery': {tool: its final
    state, or why its run failed}} from {tool: {state: outcome, 'recovery':
    ...}}: a tool whose run failed has no outcome (None) in any row. The
    state names are the only keys read as outcomes ("error" is one)."""
    return {
        'rows': [dict({tool: found[tool].get(state) for tool in found},
                      state=state) for state in STATES],
        'recovery': {tool: found[tool].get('recovery') for tool in found},
    }
