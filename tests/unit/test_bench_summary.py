"""tools.bench.stats, summary and targets: medians, ratios, verdicts."""

import pytest

from tools.bench import plan
from tools.bench import stats
from tools.bench import summary
from tools.bench import targets


def test_median_ignores_missing_values():
    assert stats.median([3.0, None, 1.0, 2.0]) == 2.0
    assert stats.median([1.0, 2.0]) == 1.5
    assert stats.median([None]) is None


def test_ratio_needs_both_and_a_positive_denominator():
    assert stats.ratio(30.0, 4.0) == 7.5
    assert stats.ratio(None, 4.0) is None
    assert stats.ratio(3.0, 0) is None


def _case(kind, count, level=0, workers=0, rep=1):
    return {'kind': kind, 'count': count, 'level': level,
            'workers': workers, 'rep': rep}


def _recovery(level, count, rto, evacuation, workers=0, rep=1,
              detection=3.5, fencing=1.0, ok=True):
    figures = dict.fromkeys(('service_down', 'first_evacuation',
                             'last_confirmed'), 1.0)
    figures.update(detection=detection, fencing=fencing, rto=rto,
                   evacuation=evacuation)
    return {'case': _case(plan.RECOVERY, count, level, workers, rep),
            'ok': ok, 'error': None if ok else 'boom', 'figures': figures}


def _baseline(count, seconds, rep=1):
    return {'case': _case(plan.BASELINE, count, rep=rep), 'ok': True,
            'error': None, 'seconds': seconds, 'calls_seconds': 1.0,
            'microversion': '2.104'}


def _summary(results, service_down_time=15):
    built = summary.build(results, {'service_down_time': service_down_time})
    built['targets'] = targets.evaluate(built)
    return built


def test_rows_take_medians_and_leave_failed_runs_out():
    built = _summary([
        _recovery(2, 10, 12.0, 6.0, rep=1),
        _recovery(2, 10, 99.0, 6.0, rep=2, ok=False),
        _recovery(2, 10, 10.0, 4.0, rep=3),
        _baseline(10, 5.0)])
    [row] = built['recovery']
    assert (row['runs'], row['ok_runs'], row['errors']) == (3, 2, ['boom'])
    assert row['figures']['rto'] == 11.0
    # (11.0 - 3.5 - 1.0) / 5.0
    assert row['overhead'] == 1.3


def test_targets_met_and_not_met():
    built = _summary([
        _recovery(2, 50, 20.0, 12.0), _recovery(3, 50, 40.0, 12.0),
        _recovery(2, 50, 100.0, 90.0, workers=1), _baseline(50, 13.0)])
    verdicts = {t['target'].split(' (N=')[0]: t['met']
                for t in built['targets']}
    # 20.0 <= 3.5 + 1.0 + 1.2 * 13.0 = 20.1
    assert verdicts['level 2 RTO <= detection + fencing + 1.2 x bare Nova']
    # 90 / 12 = 7.5x
    assert verdicts['default evacuation workers >= 5x faster than 1 worker']
    # 40 - 20 = 20 >= 15
    assert verdicts[
        'level 2 finishes >= service_down_time (15 s) before level 3']
    assert verdicts['detection <= 5 s (every run)'] is True
    assert built['targets'][-1]['met'] is None   # monitor load not run


def test_targets_not_met_are_said_so():
    built = _summary([
        _recovery(2, 50, 25.0, 12.0, detection=6.0),
        _recovery(3, 50, 30.0, 12.0), _baseline(50, 13.0)])
    met = [t['met'] for t in built['targets']]
    # monitor load, rack and monitor at scale were not run; issue 16's
    # after fencing at N=50 (25 - 6 - fencing over 13 s) is not met, and
    # nova-api CPU is not measured (no CPU figures here)
    assert met == [False, None, False, False, None, None, None, False, None]
    assert 'max 6.00 s' in built['targets'][3]['measured']
    assert built['targets'][7]['target'].endswith('(N=50)')


def test_level3_compared_at_the_largest_n_both_levels_recovered():
    built = _summary([
        _recovery(2, 10, 12.0, 6.0), _recovery(3, 10, 21.0, 6.0),
        _recovery(2, 50, 40.0, 30.0), _recovery(3, 50, 99.0, 30.0, ok=False),
        _baseline(50, 35.0)])
    [target] = [t for t in built['targets']
                if t['target'].startswith('level 2 finishes')]
    assert target['target'].endswith('(N=10)')
    assert target['met'] is False        # 21 - 12 = 9 < 15
    # 15 - 3.5 detection - 1.0 fencing
    assert 'at most about 10.5 s' in target['measured']


def _rack(kind, rep, ok=True, last=40.0, seconds=35.0):
    result = {'case': _case(kind, plan.RACK_SERVERS, 2 if kind == plan.RACK
                            else 0, rep=rep), 'ok': ok,
              'error': None if ok else 'rack boom'}
    if kind == plan.RACK:
        result['figures'] = {'detection': 3.5, 'first_evacuation': 4.5,
                             'last_confirmed': last, 'rto': last + 0.2}
    else:
        result['seconds'] = seconds
    return result


def test_rack_compares_medians_from_the_failure():
    built = _summary([
        _rack(plan.RACK, 1, last=40.0), _rack(plan.RACK_BASELINE, 1, 34.0),
        _rack(plan.RACK, 2, last=44.0), _rack(plan.RACK_BASELINE, 2, 36.0),
        _rack(plan.RACK, 3, ok=False)])
    row = built['rack']
    assert (row['runs'], row['ok_runs'], row['errors']) == (
        3, 2, ['rack boom'])
    assert row['figures']['last_confirmed'] == 42.0
    assert row['bare_nova'] == 35.0 and row['ratio'] == 1.2
    [target] = [t for t in built['targets'] if t['target'].startswith(
        '2 of 6 hosts')]
    assert target['met'] is False             # 1.2 > 1.15
    assert '42.0 s' in target['measured'] and '1.20 x' in target['measured']


def _load(members, cpu, rss, detection, ok=True):
    return {'case': _case(plan.MONITOR_LOAD, members), 'ok': ok,
            'error': None, 'members': members, 'cpu_percent': cpu,
            'rss_mb_max': rss, 'detection': detection,
            'redis_cpu_percent': 1.0, 'swarm_cpu_percent': 2.0,
            'swarm_processes': 4, 'pipelined': members > 1000}


@pytest.mark.parametrize('cpu, rss, detection, met', [
    (4.9, 249.0, 4.9, True),
    (5.1, 120.0, 3.0, False),      # CPU
    (1.0, 251.0, 3.0, False),      # RSS
    (1.0, 120.0, 5.5, False),      # detection
])
def test_monitor_at_scale_target(cpu, rss, detection, met):
    built = _summary([_load(10000, cpu, rss, detection),
                      _load(10, 0.5, 117.0, 3.5)])
    assert [r['members'] for r in built['monitor_loads']] == [10, 10000]
    assert built['monitor_load'] is None          # the 1,000 run did not
    [target] = [t for t in built['targets']
                if t['target'].startswith('monitor at 10000 members')]
    assert target['met'] is met
    assert 'with 10 members: 0.50%' in target['measured']


def test_calibration_points_and_fit():
    runs = [{'case': _case(plan.CALIBRATION, 50, workers=c), 'ok': True,
             'seconds': s} for c, s in ((1, 100.0), (4, 40.0), (16, 30.0),
                                        (50, 32.0))]
    found = summary.calibration(runs)
    assert [p['concurrency'] for p in found['points']] == [1, 4, 16, 50]
    assert found['points'][1]['throughput'] == 1.25     # 50 / 40 s
    assert found['points'][1]['latency'] == 3.2         # 4 / 1.25
    assert set(found['fit']) == {'a', 'b', 'd'}
    assert summary.calibration([]) is None
