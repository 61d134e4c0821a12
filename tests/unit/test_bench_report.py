"""tools.bench.plan and report: the cases of a run, its Markdown."""

import pytest

from tools.bench import plan
from tools.bench import report


def test_parse_reps():
    assert plan.parse_reps('10:3, 50:1,200') == {10: 3, 50: 1, 200: 1}
    with pytest.raises(ValueError):
        plan.parse_reps('10:0')


def test_build_runs_the_single_worker_case_once():
    cases = plan.build([50], [2], {50: 3}, workers_size=50, hung=False)
    assert [c for c in cases if c.workers == 1] == [
        plan.Case(plan.RECOVERY, 50, 2, workers=1, rep=1)]
    assert len([c for c in cases if c.kind == plan.RECOVERY]) == 4


def test_build_adds_a_hung_host_per_repetition_of_the_smallest_size():
    cases = plan.build([10, 50], [1, 2, 3], {10: 2, 50: 1})
    hung = [c for c in cases if c.failure == plan.HUNG]
    assert hung == [plan.Case(plan.RECOVERY, 10, 2, rep=rep,
                              failure=plan.HUNG) for rep in (1, 2)]
    assert 'hung host' in hung[0].describe()


def test_build_interleaves_repetitions_and_ends_with_the_load():
    cases = plan.build([10, 50], [2, 3], {10: 2, 50: 1}, workers_size=50,
                       hung=False)
    assert [(c.kind, c.count, c.level, c.workers, c.rep) for c in cases] == [
        ('recovery', 10, 2, 0, 1), ('recovery', 10, 3, 0, 1),
        ('baseline', 10, 0, 0, 1),
        ('recovery', 10, 2, 0, 2), ('recovery', 10, 3, 0, 2),
        ('baseline', 10, 0, 0, 2),
        ('recovery', 50, 2, 0, 1), ('recovery', 50, 3, 0, 1),
        ('baseline', 50, 0, 0, 1),
        ('recovery', 50, 2, 1, 1),
        ('monitor_load', 1000, 0, 0, 1)]


def _summary():
    figures = {'detection': 3.6, 'fencing': 1.25, 'service_down': 0.4,
               'first_evacuation': 6.0, 'last_confirmed': 20.0,
               'evacuation': 14.0, 'rto': 20.2}
    return {
        'settings': {
            'date': '2024-01-01 00:00 UTC', 'command': 'tox -e bench',
            'wall_minutes': 20.0, 'lock_wait_minutes': 1.5,
            'service_down_time': 15, 'report_interval': 3,
            'heartbeat_interval': 0.5, 'heartbeat_timeout': 3.0,
            'poll_interval': 1.0, 'sources': 'nova,heartbeat',
            'confirm_interval': 0.5, 'max_workers_default': 16,
            'microversion': '2.104', 'reps': {10: 3, 50: 1}},
        'recovery': [
            {'level': 2, 'count': 50, 'workers': 0, 'runs': 1, 'ok_runs': 1,
             'figures': figures, 'bare_nova': 12.0, 'overhead': 1.28},
            {'level': 1, 'count': 50, 'workers': 1, 'runs': 2, 'ok_runs': 1,
             'figures': dict(figures, fencing=None), 'bare_nova': None,
             'overhead': None}],
        'targets': [{'target': 'detection <= 5 s', 'met': True,
                     'measured': 'median 3.6 s'},
                    {'target': 'monitor', 'met': None,
                     'measured': 'not measured'}],
        'monitor_load': None,
        'charts': {2: 'timeline-level2.png'},
    }


def test_render_table_rows_and_settings():
    text = report.render(_summary(), 'doc/bench/')
    lines = text.splitlines()
    assert ('| 2 | power-off | 50 | default (16) | 1 | 3.6 | 1.2 | 0.4 | 6.0 '
            '| 20.0 | '
            '14.0 | 20.2 | 12.0 | 1.28× |') in lines
    assert ('| 1 | power-off | 50 | 1 | 1 of 2 ok | 3.6 | – | 0.4 | 6.0 | '
            '20.0 | 14.0 | '
            '20.2 | – | – |') in lines
    assert '`service_down_time` = 15 s, `report_interval` = 3 s' in text
    assert '| detection <= 5 s | median 3.6 s | met |' in lines
    assert '| monitor | not measured | not measured |' in lines
    assert '![level 2 timeline](doc/bench/timeline-level2.png)' in text


def test_replace_section_keeps_the_rest():
    text = 'intro\n%s\nold\n%s\nafter\n' % (report.START, report.END)
    assert report.replace_section(text, 'new\n') == (
        'intro\n%s\nnew\n%s\nafter\n' % (report.START, report.END))


def test_replace_section_needs_the_markers():
    with pytest.raises(ValueError, match='bench:start'):
        report.replace_section('no markers', 'new\n')


def test_build_adds_rack_calibration_and_loads_behind_options():
    cases = plan.build([], [2], {}, monitor_load=True, members=[10, 10000],
                       rack=2, calibrate=[1, 16])
    assert [(c.kind, c.count, c.workers, c.rep) for c in cases] == [
        ('calibration', 50, 1, 1), ('calibration', 50, 16, 1),
        ('rack', 25, 0, 1), ('rack_baseline', 25, 0, 1),
        ('rack', 25, 0, 2), ('rack_baseline', 25, 0, 2),
        ('monitor_load', 10, 0, 1), ('monitor_load', 10000, 0, 1)]
    assert 'at most 16 in flight' in cases[1].describe()
    assert '2 of 6 hosts failed, 25 servers each' in cases[2].describe()
    # the default run has none of them
    assert {c.kind for c in plan.build([10], [2], {})} == {
        'recovery', 'baseline', 'monitor_load'}


def test_render_rack_loads_and_calibration():
    summary = dict(_summary(), rack={
        'servers': 25, 'runs': 2, 'ok_runs': 2, 'bare_runs': 2,
        'bare_ok_runs': 2, 'errors': [], 'ratio': 1.31, 'bare_nova': 36.0,
        'figures': {'detection': 3.6, 'first_evacuation': 4.8,
                    'last_confirmed': 47.2, 'rto': 47.4}},
        monitor_loads=[{'ok': True, 'members': 10000, 'cpu_percent': 3.21,
                        'rss_mb_max': 131.0, 'redis_cpu_percent': 4.5,
                        'swarm_cpu_percent': 9.0, 'detection': 3.9,
                        'swarm_processes': 4, 'pipelined': True}],
        calibration={'points': [{'concurrency': 4, 'count': 50,
                                 'seconds': 40.0, 'throughput': 1.25,
                                 'latency': 3.2, 'fitted': 3.1}],
                     'fit': {'a': 1.5, 'b': 0.4, 'd': 0.001}})
    lines = report.render(summary).splitlines()
    assert ('| vmha level 2 | 2 of 2 ok (bare: 2 of 2) | 3.6 | 4.8 | 47.2 | '
            '47.4 | 36.0 | 1.31× |') in lines
    assert ('| 10000 | 4 process(es), pipelined | 3.21 | 131 | 4.5 | 9.0 | '
            '3.9 |') in lines
    assert '| 4 | 50 | 40.0 | 1.25 | 3.20 | 3.10 |' in lines
