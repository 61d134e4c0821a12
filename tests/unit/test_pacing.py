"""vmha.pacing: one adaptive, priority-ordered limit per process."""

import threading

import pytest

from vmha import exception
from vmha import pacing
from tests.unit import fakes
from tests.unit.conftest import make_conf


def _pacer(**kwargs):
    kwargs.setdefault('clock', fakes.Clock())
    return pacing.Pacer(**kwargs)


def _land(pacer, seconds=1.0, busy=True):
    """One evacuation that lands after ``seconds``; ``busy``: another
    waits meanwhile (the limit is in use)."""
    slot = pacer._take(())
    if busy:
        pacer._queue.append(((), -1))
    pacer._clock.advance(seconds)
    pacer._give_back(slot, None)
    if busy:
        pacer._queue.remove(((), -1))


def _fail(pacer, error):
    with pytest.raises(type(error)):
        with pacer.slot():
            raise error


def test_slow_start_grows_by_one_per_landing_up_to_the_ceiling():
    pacer = _pacer(ceiling=6, initial=2)
    limits = []
    for _ in range(6):
        _land(pacer)
        limits.append(pacer.limit)
    assert limits == [3, 4, 5, 6, 6, 6]


def test_no_growth_while_the_limit_is_not_in_use():
    pacer = _pacer(ceiling=8, initial=4)
    _land(pacer, busy=False)
    assert pacer.limit == 4


@pytest.mark.parametrize('error', [
    exception.EvacuateRefused(instance='i', reason='HTTP 409 Conflict'),
    exception.EvacuateRefused(instance='i', reason='HTTP 503 busy'),
    exception.NovaUnavailable(reason='no answer within [nova] timeout'),
    exception.EvacuationTimeout(instance='i', timeout=300, status='x',
                                host='h', task_state='rebuilding'),
])
def test_congestion_halves_the_limit_once_per_round(error):
    pacer = _pacer(ceiling=32, initial=16)
    early = [pacer._take(()) for _ in range(3)]
    pacer._give_back(early[0], error)
    assert pacer.limit == 8
    # the other two started before the shrink: no second halving
    pacer._give_back(early[1], error)
    pacer._give_back(early[2], error)
    assert pacer.limit == 8
    _fail(pacer, error)                     # a new round: halves again
    assert pacer.limit == 4


def test_after_congestion_growth_is_additive():
    pacer = _pacer(ceiling=32, initial=8)
    _fail(pacer, exception.NovaUnavailable(reason='reset'))
    assert pacer.limit == 4
    for _ in range(4):
        _land(pacer)
    assert 4.9 < pacer.limit < 5.1          # about one slot per round


@pytest.mark.parametrize('error', [
    exception.EvacuateRefused(instance='i',
                              reason='HTTP 400 No valid host was found'),
    exception.InstanceNotFound(instance='i'),
    exception.HandedOver(host='hostB', why='it failed'),
    exception.EvacuationFailed(instance='i', reason='bad state'),
])
def test_errors_that_say_nothing_about_load_keep_the_limit(error):
    pacer = _pacer(ceiling=32, initial=16)
    _fail(pacer, error)
    assert pacer.limit == 16


def test_a_late_landing_halves_the_limit():
    pacer = _pacer(ceiling=32, initial=16, latency_factor=3.0)
    for _ in range(3):
        _land(pacer, 2.0)
    assert pacer.limit == 19 and pacer.baseline == 2.0
    _land(pacer, 6.0)                        # 3x: still on time
    assert pacer.limit == 20
    _land(pacer, 6.5)
    assert pacer.limit == 10


def test_never_below_the_floor():
    pacer = _pacer(ceiling=32, initial=4, floor=3)
    for _ in range(3):
        _fail(pacer, exception.NovaUnavailable(reason='x'))
    assert pacer.limit == 3


def test_fixed_limit_without_adaptation():
    pacer = _pacer(ceiling=5, initial=2, adaptive=False)
    assert pacer.limit == 5
    _fail(pacer, exception.NovaUnavailable(reason='x'))
    _land(pacer)
    assert pacer.limit == 5


def test_initial_is_capped_by_the_ceiling():
    conf = make_conf(evacuation__max_in_flight=4,
                     evacuation__initial_in_flight=16)
    pacer = pacing.Pacer.from_conf(conf)
    assert pacer.limit == 4 and pacer.ceiling == 4


def test_in_flight_never_exceeds_the_limit():
    pacer = pacing.Pacer(ceiling=3, initial=3)
    most, lock, now = [0], threading.Lock(), [0]

    def evacuation():
        with pacer.slot():
            with lock:
                now[0] += 1
                most[0] = max(most[0], now[0])
            threading.Event().wait(0.01)
            with lock:
                now[0] -= 1

    workers = [threading.Thread(target=evacuation) for _ in range(12)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert most[0] == 3 and pacer.in_flight == 0


def test_priority_order_across_recoveries():
    """Waiting evacuations of two recoveries take the slot HA-enabled
    first, then by HA_Priority, then in the order they came."""
    pacer = pacing.Pacer(ceiling=1, initial=1, adaptive=False)
    blocker = pacer._take(())
    order, threads = [], []
    entries = [  # (recovery, name, plan entry)
        ('A', 'a-plain', {'ha_enabled': False, 'priority': None}),
        ('B', 'b-p5', {'ha_enabled': False, 'priority': 5}),
        ('A', 'a-ha', {'ha_enabled': True, 'priority': None}),
        ('B', 'b-ha-p900', {'ha_enabled': True, 'priority': 900}),
        ('A', 'a-p1000', {'ha_enabled': False, 'priority': 1000}),
        ('B', 'b-plain', {'ha_enabled': False, 'priority': None}),
    ]
    for _rec, name, entry in entries:
        def run(name=name, entry=entry):
            with pacer.slot(pacing.priority_key(entry)):
                order.append(name)
        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)
        queued = len(threads)
        _wait_for(lambda: pacer.waiting == queued)
    pacer._give_back(blocker, None)
    for thread in threads:
        thread.join(30)
    assert order == ['b-ha-p900', 'a-ha', 'a-p1000', 'b-p5', 'a-plain',
                     'b-plain']


def _wait_for(predicate):
    done = threading.Event()
    for _ in range(3000):
        if predicate():
            return
        done.wait(0.001)
    raise AssertionError('condition not reached')


def test_verdicts():
    assert pacing.verdict(None) == pacing.LANDED
    assert pacing.verdict(exception.NovaError(
        reason='evacuate: HTTP 502 Bad Gateway')) == pacing.CONGESTED
    assert pacing.verdict(exception.NovaError(
        reason='evacuate: HTTP 400 bad')) == pacing.NEUTRAL
    assert pacing.verdict(ValueError('x')) == pacing.NEUTRAL
