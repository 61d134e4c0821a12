"""The level 2 recovery flow with each real fencing driver and a real BMC.

The Recoverer loads the driver named in the host's inventory entry through
stevedore, as in production, and fences a real peer: ipmi_sim, the Redfish
emulator (directly, or behind the proxy that swallows ForceOff), sshd with
simulated compute hosts (a fake guest process that fencing must kill). Nova
is tests.unit.fakes.FakeCompute here; the real-Nova lab runs the same flow
with ipmi (test_recovery_lab.py).

A confirmed power-off ends in every instance evacuated; a BMC that ignores
power-off, refuses the credentials or does not answer ends the recovery
``failed`` with its error recorded and nothing evacuated. In every case the
password appears nowhere: DEBUG logs, events, the recorded error, the report.
"""

import dataclasses
import logging
import typing

import pytest

from tests.functional import peers
from tools.lab.access import keys
from tests.functional.peers import ipmi_sim
from tests.functional.peers import sshd as sshd_peer_mod
from tests.functional.peers import sushy as sushy_peer
from tests.unit import fakes
from vmha.db import api as db_api
from vmha.db import migration
from vmha import events
from vmha import recovery

TARGET = 'hostB'
INSTANCES = {'i-active': 'active', 'i-stopped': 'stopped', 'i-error': 'error'}
WRONG_PASSWORD = 'Wr0ng-Pa55.word'
# an ssh host needs no password; one set anyway must not leak either
SSH_PASSWORD = 'ssh-unused-S3cret'
MODES = ('ok', 'ignores-off', 'bad-credentials', 'unreachable')
# what the recorded error says, per failure mode
ERRORS = {'ignores-off': ('is not confirmed off after', 'NOT evacuated'),
          'bad-credentials': ('refused the credentials',),
          'unreachable': ('unreachable|did not answer',)}


@dataclasses.dataclass
class Case:
    """A host entry for one driver and mode, and how to read its power."""

    spec: typing.Any
    is_off: typing.Callable[[], bool]


def ipmi_case(request, mode):
    stuck = mode == 'ignores-off'
    bmc = request.getfixturevalue('ipmi_bmc_stuck' if stuck else 'ipmi_bmc')
    bmc.power = 1
    spec = ipmi_sim.host_spec(port=bmc.port)
    if mode == 'bad-credentials':
        spec.bmc_password = WRONG_PASSWORD
    if mode == 'unreachable':
        spec.bmc_port = peers.CLOSED_PORT
    return Case(spec, lambda: bmc.power == 0)


def redfish_case(request, mode):
    bmc = request.getfixturevalue('redfish_bmc')
    system = {'ok': 'recovery', 'ignores-off': 'ignored',
              'bad-credentials': 'auth'}.get(mode, 'status')
    uuid = sushy_peer.SYSTEMS[system][0]
    url = {'ignores-off': lambda: request.getfixturevalue(
               'redfish_ignoring_bmc').url,
           'unreachable': lambda: 'http://127.0.0.1:%d' % peers.CLOSED_PORT,
           }.get(mode, lambda: bmc.url)()
    spec = sushy_peer.host_spec(url, uuid)
    if mode == 'bad-credentials':
        spec.bmc_password = WRONG_PASSWORD
    return Case(spec, lambda: bmc.power_state(uuid) == 'Off')


def ssh_case(request, mode):
    sshd = request.getfixturevalue('sshd_peer')
    fake = sshd.reset_hosts()['stays-on' if mode == 'ignores-off' else 'ok']
    options = {'known_hosts_file': sshd.known_hosts}
    if mode == 'bad-credentials':
        options['key_file'] = sshd.stranger_key
    spec = sshd_peer_mod.host_spec(
        sshd, fake, port=peers.CLOSED_PORT if mode == 'unreachable' else None,
        **options)
    spec.bmc_password = SSH_PASSWORD
    guest = sshd_peer_mod.start_guest(request)
    # fenced: the guest is gone (and the stop command stopped nova-compute)
    return Case(spec, lambda: not guest.alive(timeout=0)
                and fake.nova_compute == 'inactive')


CASES = {'ipmi': ipmi_case, 'redfish': redfish_case, 'ssh': ssh_case}


def case_conf(url, mode):
    # the Redfish emulator applies a power change 1-11 s after the request
    count, interval = (26, 0.5) if mode == 'ok' else (4, 0.25)
    return peers.make_conf(
        database__connection=url, notification__drivers=[],
        fencing__power_off_confirm_count=count,
        fencing__power_off_confirm_interval=interval,
        fencing__bmc_timeout=3,
        redfish__connect_timeout=1, redfish__read_timeout=2,
        ssh_fencing__connect_timeout=1, ssh_fencing__command_timeout=3,
        evacuation__confirm_interval=0.1, evacuation__confirm_timeout=10)


@pytest.fixture
def db(sqlite_url):
    migration.upgrade(sqlite_url)
    database = db_api.Database(sqlite_url, keyring=keys.keyring())
    yield database
    database.dispose()


@pytest.fixture
def logs(caplog):
    """Every log record of the run, at DEBUG."""
    caplog.set_level(logging.DEBUG)
    return caplog


def recover(conf, db, spec):
    """Recover ``spec``'s host at level 2 over a fake Nova holding
    INSTANCES; return (report, compute, dispatcher)."""
    db.add_host(spec)
    compute = fakes.FakeCompute(hosts=(spec.name, TARGET))
    for iid, vm_state in INSTANCES.items():
        compute.add_instance(iid, host=spec.name, vm_state=vm_state)
    dispatcher = fakes.RecordingDispatcher(record=db.add_event)
    rec = recovery.Recoverer(conf, compute=compute, db=db,
                             dispatcher=dispatcher, owner='functional')
    try:
        return rec.recover(spec.name, level=2), compute, dispatcher
    finally:
        rec.close()


def check_recovered(db, case, report, compute, dispatcher):
    assert report.state == db_api.COMPLETED, report.error
    assert {e['instance_id']: e['status'] for e in report.evacuations} == \
        dict.fromkeys(INSTANCES, db_api.EVAC_DONE)
    for iid, vm_state in INSTANCES.items():
        assert compute.instances[iid]['host'] == TARGET, iid
        assert compute.instances[iid]['vm_state'] == vm_state, iid
    assert case.is_off()
    row = db.get_recovery(report.id)
    assert row.fenced_at is not None
    assert row.fenced_at <= row.service_down_at <= row.disabled_at
    [fenced] = dispatcher.of_type(events.HOST_FENCED)
    assert fenced.payload['driver'] == case.spec.fencing_driver


def check_not_evacuated(db, case, mode, report, compute, dispatcher):
    assert report.state == db_api.FAILED
    assert any(word in report.error for word in ERRORS[mode][0].split('|'))
    for words in ERRORS[mode][1:]:
        assert words in report.error
    assert case.spec.name in report.error
    assert db.get_recovery(report.id).error == report.error
    assert db.host_state(case.spec.name) == 'failed'
    changes = [c[0] for c in compute.calls
               if c[0] in ('evacuate', 'force_down', 'disable')]
    assert changes == []
    assert all(i['host'] == case.spec.name
               for i in compute.instances.values())
    assert report.evacuations == []
    assert not case.is_off()
    [failed] = dispatcher.of_type(events.HOST_FENCE_FAILED)
    assert failed.payload['driver'] == case.spec.fencing_driver
    assert dispatcher.of_type(events.RECOVERY_FAILED)


def check_no_secret(db, logs, report, secrets):
    assert len(logs.records) > 10           # the capture works
    texts = [logs.text, repr(report.to_dict())]
    texts += [repr(e.payload) for e in db.list_events()]
    for secret in secrets:
        for text in texts:
            assert secret not in text


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('driver', sorted(CASES))
def test_level2_recovery(request, db, sqlite_url, logs, driver, mode):
    case = CASES[driver](request, mode)
    secrets = {case.spec.bmc_password, ipmi_sim.PASSWORD,
               sushy_peer.PASSWORD}
    report, compute, dispatcher = recover(case_conf(sqlite_url, mode), db,
                                          case.spec)
    if mode == 'ok':
        check_recovered(db, case, report, compute, dispatcher)
    else:
        check_not_evacuated(db, case, mode, report, compute, dispatcher)
    check_no_secret(db, logs, report, secrets)
