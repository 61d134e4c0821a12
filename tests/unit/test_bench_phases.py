"""tools.bench.phases: figures from the timestamps vmha recorded."""

import datetime

from tools.bench import phases

T0 = 1_700_000_000.0


def _marks(**seconds):
    """Epoch instants ``seconds`` after T0; other marks missing."""
    return {name: T0 + seconds[name] if name in seconds else None
            for name in phases.MARKS}


def test_epoch_reads_naive_utc():
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 500000)
    assert phases.epoch(when) == datetime.datetime(
        2024, 1, 2, 3, 4, 5, 500000,
        tzinfo=datetime.timezone.utc).timestamp()
    assert phases.epoch(None) is None


def test_level2_figures():
    rel = phases.relative_marks(T0, _marks(
        detected_at=3.0, started_at=3.6, fenced_at=5.1, service_down_at=5.5,
        disabled_at=5.7, instances_listed_at=5.9, first_evacuation_at=6.0,
        last_confirmed_at=20.0, finished_at=20.2))
    assert phases.figures(rel) == {
        'detection': 3.6, 'fencing': 1.5, 'service_down': 0.4,
        'first_evacuation': 6.0, 'last_confirmed': 20.0,
        'evacuation': 14.0, 'rto': 20.2}


def test_level1_service_down_counts_from_the_declaration():
    rel = phases.relative_marks(T0, _marks(
        started_at=3.5, service_down_at=4.0, first_evacuation_at=4.5,
        last_confirmed_at=9.0, finished_at=9.1))
    fig = phases.figures(rel)
    assert fig['fencing'] is None
    assert fig['service_down'] == 0.5


def test_level1_fallback_fencing_after_force_down_is_not_the_origin():
    # force-down failed, fenced later: service down still counts from the
    # declaration, never negative
    rel = phases.relative_marks(T0, _marks(
        started_at=3.0, service_down_at=10.0, fenced_at=12.0))
    assert phases.figures(rel)['service_down'] == 7.0


def test_evacuation_spans_sorted_and_unissued_left_out():
    spans = phases.evacuation_spans(T0, [
        (T0 + 7.0, T0 + 12.0), (None, None), (T0 + 6.0, None)])
    assert spans == [(6.0, None), (7.0, 12.0)]
