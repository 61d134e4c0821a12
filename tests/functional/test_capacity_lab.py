"""Capacity on real Nova: NoValidHost, its retry, and reserved hosts.

hostA fails with one active and one stopped server while every other host
is disabled in Nova, so Nova's scheduler finds no valid host:

* without a spare, the recovery ends ``completed_with_errors`` with both
  servers ``waiting`` (Nova set them ERROR, on hostA); ``vmha-manage host
  recover hostB`` (a real process) then enables hostB and retries: both
  servers land there in their ORIGINAL states, not ERROR;
* with hostC reserved in vmha's inventory, vmha enables it and the servers
  land on it; the recovery ends ``completed``.
"""

import json
import subprocess
import sys

import pytest

from vmha import api
from vmha import capacity
from vmha.db import api as db_api
from vmha import recovery

from tools.lab.access import lab as lablib

pytestmark = [lablib.requires_lab, pytest.mark.lab]

SOURCE = 'hostA'


def _disable(nova, *hosts):
    client = nova('2.53')
    for host in hosts:
        client.services.disable_log_reason(lablib.service(nova, host).id,
                                           'vmha capacity test')


def _boot_active_and_stopped(nova):
    servers = lablib.boot(2, SOURCE, stopped=1, prefix='cap')
    ids = [s['id'] for s in servers]
    original = {sid: state[1] for sid, state in
                lablib.server_states(nova, ids).items()}
    assert sorted(original.values()) == ['active', 'stopped']
    return ids, original


def _recover_without_room(nova, conf):
    """Servers (one active, one stopped) on SOURCE, every other host
    disabled, SOURCE killed and recovered: (ids, original states, report),
    the report ``completed_with_errors`` with the servers waiting."""
    ids, original = _boot_active_and_stopped(nova)
    _disable(nova, 'hostB', 'hostC')
    lablib.lab('fail', SOURCE, '--mode', 'kill')
    report = api.recover_host(conf, SOURCE, level=2)
    assert report.state == db_api.COMPLETED_WITH_ERRORS, report
    return ids, original, report


def _fault(nova, sid):
    server = nova('2.53').servers.get(sid)
    return (getattr(server, 'fault', None) or {}).get('message', '')


def test_no_valid_host_waits_then_host_recover_brings_them_back(
        clean_lab, nova, vmha_setup, tmp_path, lab_info, sqlite_url):
    conf, db = vmha_setup
    ids, original, report = _recover_without_room(nova, conf)
    assert {e['status'] for e in report.evacuations} == {'waiting'}
    assert {e['original_vm_state'] for e in report.evacuations} == {
        'active', 'stopped'}
    states = lablib.server_states(nova, ids)
    for sid in ids:
        # what Nova does with an accepted evacuation that finds no host
        assert states[sid] == (SOURCE, 'error', None), states[sid]
        assert 'No valid host' in _fault(nova, sid)
    types = [e.event_type for e in db.list_events(recovery_id=report.id)]
    assert types.count('vmha.instance.evacuate.waiting') == 2
    assert types[-1] == 'vmha.recovery.end_with_errors'

    # hostB back in service through vmha-manage, in its own process
    config = lablib.write_config(tmp_path / 'manage.conf', lab_info,
                                 sqlite_url,
                                 **{'monitor.detection_sources': 'nova',
                                    'DEFAULT.log_file': tmp_path / 'log'})
    proc = subprocess.run(
        [sys.executable, '-m', 'vmha.cmd.manage', '--config-file', config,
         '-f', 'json', 'host', 'reinstate', 'hostB'],
        capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    assert data['enabled'] is True
    assert data['retried_recoveries'] == ['%s: completed (0 waiting)'
                                          % report.id], data

    states = lablib.server_states(nova, ids)
    for sid in ids:
        assert states[sid] == ('hostB', original[sid], None), (
            sid, states[sid], original[sid])
    # one evacuation refused for lack of room, one that worked
    assert lablib.evacuation_counts(nova, ids) == dict.fromkeys(ids, 2)
    assert db.get_recovery(report.id).state == db_api.COMPLETED
    rows = db.list_evacuations(report.id)
    assert all(r.status == db_api.EVAC_DONE and r.target_host == 'hostB'
               and r.retries == 1 for r in rows)
    types = [e.event_type for e in db.list_events(recovery_id=report.id)]
    assert 'vmha.recovery.retry.start' in types
    assert types[-1] == 'vmha.recovery.end'


@pytest.fixture
def aggregate(nova):
    """An aggregate holding the failed host; removed afterwards (lab reset
    does not know aggregates)."""
    client = nova('2.53')
    agg = client.aggregates.create('vmha-capacity-test', None)
    client.aggregates.add_host(agg, SOURCE)
    yield agg
    for host in client.aggregates.get(agg).hosts:
        client.aggregates.remove_host(agg, host)
    client.aggregates.delete(agg)


def test_reserved_host_is_enabled_and_receives_the_instances(
        clean_lab, nova, vmha_setup, aggregate):
    conf, db = vmha_setup
    conf.set_override('reserved_host_aggregates', True, 'capacity')
    db.update_host('hostC', reserved=True)
    ids, original = _boot_active_and_stopped(nova)
    _disable(nova, 'hostB', 'hostC')
    lablib.lab('fail', SOURCE, '--mode', 'kill')

    report = api.recover_host(conf, SOURCE, level=2)

    assert report.state == db_api.COMPLETED, report
    states = lablib.server_states(nova, ids)
    for sid in ids:
        assert states[sid] == ('hostC', original[sid], None), (
            sid, states[sid], original[sid])
    counts = lablib.evacuation_counts(nova, ids)
    # the first refusal enabled the spare; each server at most once more
    assert all(1 <= n <= 2 for n in counts.values()), counts
    assert lablib.service(nova, 'hostC').status == 'enabled'
    assert lablib.service(nova, 'hostB').status == 'disabled'
    assert db.get_host('hostC').reserved_for == report.id
    events = db.list_events(recovery_id=report.id)
    enabled = [e for e in events
               if e.event_type == 'vmha.reserved_host.enable.end']
    assert [e.payload['target_host'] for e in enabled] == ['hostC']
    assert enabled[0].payload['aggregates'] == ['vmha-capacity-test']
    assert sorted(nova('2.53').aggregates.get(aggregate).hosts) == [
        'hostA', 'hostC']
    assert all(e['target_host'] == 'hostC' for e in report.evacuations)


def test_monitor_hook_retries_when_nova_reports_a_host_enabled(
        clean_lab, nova, vmha_setup):
    """RetryScheduler.tick(), as the monitor calls it each poll: nothing
    until Nova reports a usable host again, then the retry."""
    conf, db = vmha_setup
    ids, original, report = _recover_without_room(nova, conf)
    recoverer = recovery.Recoverer(conf)
    try:
        scheduler = capacity.RetryScheduler(recoverer)
        assert scheduler.tick() is None          # baseline; nothing due
        client = nova('2.53')
        client.services.enable(lablib.service(nova, 'hostC').id)
        assert scheduler.tick() == capacity.TRIGGER_CAPACITY
        scheduler.join(300)
        assert not scheduler.busy
    finally:
        recoverer.close()
    states = lablib.server_states(nova, ids)
    for sid in ids:
        assert states[sid] == ('hostC', original[sid], None), (
            sid, states[sid], original[sid])
    assert lablib.evacuation_counts(nova, ids) == dict.fromkeys(ids, 2)
    assert db.get_recovery(report.id).state == db_api.COMPLETED
