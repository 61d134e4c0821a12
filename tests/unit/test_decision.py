"""The detection rule (vmha.detection.decision), case by case."""

import pytest

from vmha.detection import base
from vmha.detection import decision

T0 = 1000.0


def view(heartbeat=None, service=None, hb_since=T0, svc_since=T0 + 5):
    return decision.HostView(
        'h1',
        heartbeat=base.Observation(heartbeat, hb_since) if heartbeat
        else None,
        service=base.Observation(service, svc_since) if service else None)


class BMC:
    """bmc_answer() stand-in that counts its calls."""

    def __init__(self, power=None):
        self.power = power
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.power


@pytest.mark.parametrize('heartbeat, service, power, expected', [
    # a live heartbeat vetoes everything, Nova included
    (base.ALIVE, base.DOWN, 'on', None),
    # heartbeat lost + Nova agrees
    (base.LOST, base.DOWN, None,
     'heartbeat lost, Nova reports the service down'),
    # heartbeat lost + BMC answers (Nova not down yet, or no Nova source)
    (base.LOST, base.UP, 'on', 'heartbeat lost, BMC answers (power on)'),
    (base.LOST, None, 'off', 'heartbeat lost, BMC answers (power off)'),
    # heartbeat lost, nothing agrees: not failed (monitor may be cut off)
    (base.LOST, base.UP, None, None),
    (base.LOST, None, None, None),
    # handled or unknown to Nova: vetoed
    (base.LOST, base.HANDLED, 'on', None),
    (base.LOST, base.ABSENT, 'on', None),
    # expired but still settling: never acted on
    (base.MISSING, base.DOWN, 'on', None),
    (base.MISSING, base.UP, 'on', None),
    # no heartbeat evidence: Nova alone decides
    (None, base.DOWN, None,
     'Nova reports the service down (no agent heartbeat)'),
    (base.LEFT, base.DOWN, None,
     'Nova reports the service down (no agent heartbeat)'),
    (base.LEFT, base.UP, 'on', None),
    (None, base.UP, 'on', None),
    (None, base.HANDLED, 'on', None),
])
def test_rule(heartbeat, service, power, expected):
    assert decision.judge(view(heartbeat, service), 2, BMC(power)) == expected


def test_bmc_asked_only_when_the_rule_needs_it():
    bmc = BMC('on')
    decision.judge(view(base.LOST, base.DOWN), 2, bmc)
    decision.judge(view(None, base.DOWN), 2, bmc)
    decision.judge(view(base.ALIVE, base.DOWN), 2, bmc)
    decision.judge(view(base.MISSING, base.UP), 2, bmc)
    assert bmc.calls == 0
    decision.judge(view(base.LOST, base.UP), 2, bmc)
    assert bmc.calls == 1


def test_level1_needs_the_bmc_when_nova_is_the_only_signal():
    assert decision.judge(view(None, base.DOWN), 1, BMC(None)) is None
    assert decision.judge(view(None, base.DOWN), 1, BMC('on')) == (
        'Nova reports the service down (no agent heartbeat), level 1, BMC '
        'answers (power on)')
    # two signals already: no BMC needed
    assert decision.judge(view(base.LOST, base.DOWN), 1, BMC(None))


@pytest.mark.parametrize('heartbeat, service, suspect', [
    (base.ALIVE, base.DOWN, False),
    (base.MISSING, base.UP, True),
    (base.LOST, None, True),
    (base.LEFT, base.UP, False),
    (base.LEFT, base.DOWN, True),
    (None, base.DOWN, True),
    (base.LOST, base.HANDLED, False),
    (None, None, False),
])
def test_suspect(heartbeat, service, suspect):
    assert decision.is_suspect(view(heartbeat, service)) is suspect


def test_first_seen_is_the_earliest_failure_signal():
    assert view(base.MISSING, base.DOWN, 10.0, 7.0).first_seen == 7.0
    assert view(base.LOST, base.UP, 10.0, 7.0).first_seen == 10.0
    assert view(base.ALIVE, base.UP).first_seen is None


def test_combine_marks_hosts_nova_does_not_know_absent():
    views = decision.combine({
        base.HEARTBEAT: {'a': base.Observation(base.ALIVE),
                         'ghost': base.Observation(base.LOST, 1.0)},
        base.SERVICE: {'a': base.Observation(base.UP),
                       'b': base.Observation(base.DOWN, 2.0)}})
    assert sorted(views) == ['a', 'b', 'ghost']
    assert views['ghost'].service_state == base.ABSENT
    assert views['b'].heartbeat is None
    # without a service source, nobody is absent: Nova was not asked
    views = decision.combine({base.HEARTBEAT: {
        'ghost': base.Observation(base.LOST, 1.0)}})
    assert views['ghost'].service is None


@pytest.mark.parametrize('recent, total, pct, count, mass', [
    (2, 4, 50, 0, False),     # exactly the share is not more
    (3, 4, 50, 0, True),
    (1, 1, 100, 0, False),
    (2, 10, 50, 1, True),     # absolute limit
    (1, 10, 50, 1, False),
    (0, 0, 50, 0, False),
])
def test_mass_failure(recent, total, pct, count, mass):
    assert decision.mass_failure(recent, total, pct, count) is mass
