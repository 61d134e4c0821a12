"""tools.bench.cpu: process groups and CPU used between two snapshots."""

import os
import time

from tools.bench import cpu
from tools.bench import plan
from tools.bench import report
from tools.bench import summary


def test_group_of_lab_and_vmha_processes():
    assert cpu.group_of(['gunicorn: worker [nova_api_wsgi:application]']) == (
        'nova-api')
    assert cpu.group_of(['/v/bin/python3', '/v/bin/nova-compute',
                         '--config-file', 'x']) == 'nova-compute'
    assert cpu.group_of(['python', '-m', 'vmha.cmd.monitor']) == (
        'vmha-monitor')
    assert cpu.group_of(['/usr/sbin/mariadbd', '--port=13306']) == 'mariadb'
    assert cpu.group_of(['bash']) is None
    assert cpu.group_of([]) is None


def test_usage_counts_new_processes_from_zero_and_sums_groups():
    before = {'busy': 100.0, 'procs': {1: ('nova-api', 5.0),
                                       2: ('nova-compute', 1.0),
                                       9: ('mariadb', 3.0)}}
    after = {'busy': 115.0, 'procs': {1: ('nova-api', 9.0),
                                      2: ('nova-compute', 4.0),
                                      3: ('nova-compute', 2.5)}}
    used = cpu.usage(before, after, seconds=10.0)
    assert used['groups'] == {'nova-compute': 5.5, 'nova-api': 4.0}
    assert list(used['groups']) == ['nova-compute', 'nova-api']
    assert used['machine_busy_percent'] == round(
        100.0 * 15.0 / (10.0 * used['cores']), 1)


def test_snapshot_sees_this_machine():
    shot = cpu.snapshot()
    assert shot['busy'] > 0
    assert os.getpid() not in shot['procs']      # pytest is in no group
    time.sleep(0.01)
    assert cpu.snapshot()['busy'] >= shot['busy']


def _run(kind, count, level=0, rep=1, busy=90.0):
    return {'ok': True, 'case': {'kind': kind, 'count': count,
                                 'level': level, 'workers': 0, 'rep': rep},
            'cpu': {'seconds': 40.0, 'cores': 2,
                    'machine_busy_percent': busy,
                    'groups': {'nova-api': 20.5, 'vmha-monitor': 1.25},
            'nova_api_requests': ({'POST /servers/{id}/action': [3 * count,
                                                                 count],
                                   'GET /servers/detail?all_tenants': [
                                       50, 5.0]}
                                  if kind == plan.RECOVERY else {})}}


def test_cpu_rows_one_per_case_at_the_largest_n_and_rendered():
    rows = summary.cpu_rows([
        _run(plan.RECOVERY, 10, 2), _run(plan.RECOVERY, 50, 2, busy=97.0),
        _run(plan.RECOVERY, 50, 2, rep=2, busy=50.0),
        _run(plan.BASELINE, 50)])
    assert [(r['case'], r['machine_busy_percent']) for r in rows] == [
        ('level 2, 50 servers, workers default', 97.0),
        ('bare Nova, 50 servers', 90.0)]
    table = report.cpu_table(rows)
    assert ('| level 2, 50 servers, workers default | 40.0 | 97% of 2 cores '
            '| 0.0 | 0.0 | 20.5 |') in table
    assert table.splitlines()[2].endswith('| 1.2 | 0.0 | 0.41 | 4.0 |')
    assert 'nova-api s per evacuation' in table.splitlines()[0]
    assert rows[0]['nova_api_per_evacuation'] == 0.41
    assert rows[0]['nova_api_requests_per_evacuation'] == 4.0
    kinds = report.requests_table(rows)
    assert '| `POST /servers/{id}/action` | 3.00, 1.000 s |' in kinds
    assert '| `GET /servers/detail?all_tenants` | 1.00, 0.100 s |' in kinds


def test_nova_api_cpu_target_per_evacuation():
    from tools.bench import targets
    rows = summary.cpu_rows([_run(plan.RECOVERY, 50, 2),
                             _run(plan.BASELINE, 50)])
    rows[1]['groups'] = {'nova-api': 20.0}
    found = targets.nova_api_cpu_vs_bare({'cpu': rows})
    assert found['met'] is True                  # 20.5 <= 1.2 x 20.0
    rows[1]['groups'] = {'nova-api': 10.0}
    rows[1]['nova_api_per_evacuation'] = 0.2
    found = targets.nova_api_cpu_vs_bare({'cpu': rows})
    assert found['met'] is False
    assert '20.5 vs 10.0 CPU s (0.41 vs 0.20 per evacuation)' in \
        found['measured']
    assert targets.nova_api_cpu_vs_bare({'cpu': []})['met'] is None


def test_request_templates_hide_ids_and_query_values():
    from tools.bench import api_requests
    assert api_requests.template(
        'POST', '/v2.1/servers/0f4b0a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b/action'
    ) == 'POST /servers/{id}/action'
    assert api_requests.template(
        'GET', '/v2.1/servers/detail?all_tenants=1&changes-since=2026-01'
    ) == 'GET /servers/detail?all_tenants&changes-since'
    assert api_requests.template('GET', '/v2.1/os-migrations/12') == (
        'GET /os-migrations/{id}')


def test_requests_between_two_marks_of_the_log(tmp_path, monkeypatch):
    from tools.bench import api_requests
    (tmp_path / 'logs').mkdir()
    log = tmp_path / 'logs' / 'nova-api.out'
    line = ('2026-12-03 03:53:16.458 13961 INFO nova.api.openstack.requestlog'
            ' [req] 127.0.0.1 "%s" status: 200 len: 716 microversion: 2.53 '
            'time: 0.016121\n')
    log.write_text(line % 'GET /v2.1/os-services?binary=nova-compute')
    monkeypatch.setenv('VMHA_LAB_DIR', str(tmp_path))
    before = api_requests.mark()
    with log.open('a') as out:
        for sid in ('a' * 32, 'b' * 32):
            out.write(line % ('POST /v2.1/servers/%s/action' % sid))
        out.write(line % 'GET /v2.1/servers/detail?all_tenants=1')
    assert api_requests.count(before, api_requests.mark()) == {
        'POST /servers/{id}/action': [2, 0.032],
        'GET /servers/detail?all_tenants': [1, 0.016]}
    assert api_requests.count(None, api_requests.mark()) == {}
