"""tools.bench.model: calibration points, the fit, the predictions."""

import json

import pytest

from tools.bench import model


def test_a_point_gives_throughput_and_littles_law_latency():
    point = model.Point(concurrency=16, count=50, seconds=25.0)
    assert point.throughput == 2.0
    assert point.latency == 8.0            # 16 in flight / 2 per second
    # more workers than servers: only ``count`` were ever in flight
    assert model.Point(100, 50, 25.0).latency == 25.0


def test_the_fit_recovers_the_curve_it_was_made_from():
    truth = model.Curve(a=2.0, b=0.5, d=0.01)
    points = [model.Point(c, 200, 200 / truth.throughput(c))
              for c in (1, 4, 16, 50)]
    fitted = model.fit(points)
    assert fitted.a == pytest.approx(2.0)
    assert fitted.b == pytest.approx(0.5)
    assert fitted.d == pytest.approx(0.01)


def test_the_fit_never_teaches_faster_evacuations_under_more_load():
    # latency falling with concurrency: an unconstrained line has b < 0
    points = [model.Point(1, 50, 100.0), model.Point(50, 50, 40.0),
              model.Point(16, 50, 60.0)]
    fitted = model.fit(points)
    assert min(fitted.a, fitted.b, fitted.d) >= 0


def test_the_fit_needs_two_concurrency_levels():
    with pytest.raises(ValueError, match='two concurrency'):
        model.fit([model.Point(4, 50, 30.0), model.Point(4, 10, 6.0)])


def test_throughput_peaks_where_contention_outgrows_the_fixed_part():
    curve = model.Curve(a=4.0, b=0.1, d=0.01)
    # X(c) = c / (a + b c + d c^2) is largest at c = sqrt(a / d) = 20
    assert curve.best(100) == 20
    assert curve.best(8) == 8                 # the ceiling binds
    assert model.Curve(a=1.0, b=0.5).best(32) == 32   # no d: more is better


def test_drain_time_is_count_over_throughput():
    curve = model.Curve(a=10.0, b=0.0)        # no contention
    assert model.drain_seconds(curve, 600, 3) == pytest.approx(2000.0)
    assert model.drain_seconds(curve, 600, 600) == pytest.approx(10.0)
    # a pool larger than the work: only ``count`` in flight
    assert model.drain_seconds(curve, 10, 32) == pytest.approx(10.0)
    assert model.drain_seconds(curve, 0, 3) == 0.0


def test_another_cloud_replaces_latency_and_scales_contention():
    lab = model.Curve(a=1.0, b=0.2, d=0.004)
    real = lab.on(latency=60.0, scale=10.0)
    assert real.latency(10) == pytest.approx(60.0 + 0.2 * 1 + 0.004 * 1)
    assert lab.on().latency(10) == lab.latency(10)


def test_predict_compares_pacing_with_fixed_pools():
    curve = model.Curve(a=4.0, b=0.1, d=0.01)
    rows = model.predict(curve, 600, 20, 32, detect=3.0, fence=2.0)
    by_workers = {row['workers']: row for row in rows.values()}
    assert sorted(by_workers) == [3, 20, 32, 60]
    vmha = by_workers[20]
    assert vmha['seconds'] == pytest.approx(
        5.0 + 600 / curve.throughput(20), abs=0.05)
    assert all(vmha['seconds'] <= row['seconds'] for row in rows.values())


def test_load_points_reads_plain_lists_and_bench_results(tmp_path):
    plain = tmp_path / 'points.json'
    plain.write_text(json.dumps([{'concurrency': 4, 'count': 50,
                                  'seconds': 30.0}]))
    assert model.load_points(plain) == [model.Point(4, 50, 30.0)]
    results = tmp_path / 'results.json'
    results.write_text(json.dumps({'runs': [
        {'case': {'kind': 'calibration', 'count': 50, 'workers': 16},
         'ok': True, 'seconds': 20.0},
        {'case': {'kind': 'calibration', 'count': 50, 'workers': 1},
         'ok': False, 'seconds': None},
        {'case': {'kind': 'baseline', 'count': 50, 'workers': 0},
         'ok': True, 'seconds': 35.0}]}))
    assert model.load_points(results) == [model.Point(16, 50, 20.0)]
