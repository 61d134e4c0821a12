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


FAILED, AGENT_LOST = decision.FAILED, decision.AGENT_LOST


@pytest.mark.parametrize('heartbeat, service, kind, host_stopped', [
    # a live heartbeat vetoes everything, Nova included
    (base.ALIVE, base.DOWN, None, None),
    (base.ALIVE, base.STALE, None, None),
    # heartbeat lost and nova-compute stopped reporting: two signals
    (base.LOST, base.STALE, FAILED, True),
    (base.LOST, base.DOWN, FAILED, True),
    # heartbeat lost, nova-compute still reports: the agent died, not the
    # host. The old rule declared this failed when the BMC answered; it
    # powered off healthy hosts (issue 12). Never again.
    (base.LOST, base.UP, AGENT_LOST, False),
    # heartbeat lost, Nova configured but did not answer: unknown, wait
    (base.LOST, None, None, None),
    # vmha handled it, or Nova does not know it: vetoed
    (base.LOST, base.HANDLED, None, None),
    (base.LOST, base.ABSENT, None, None),
    # expired but still settling: never acted on
    (base.MISSING, base.DOWN, None, None),
    (base.MISSING, base.STALE, None, None),
    (base.MISSING, base.UP, None, None),
    # no heartbeat evidence: Nova's own "down" decides, one signal only
    (None, base.DOWN, FAILED, False),
    (base.LEFT, base.DOWN, FAILED, False),
    # ... and vmha's early "stale" is not enough without an agent
    (None, base.STALE, None, None),
    (base.LEFT, base.STALE, None, None),
    (base.LEFT, base.UP, None, None),
    (None, base.UP, None, None),
    (None, base.HANDLED, None, None),
    (None, None, None, None),
])
def test_rule(heartbeat, service, kind, host_stopped):
    verdict = decision.judge(view(heartbeat, service))
    if kind is None:
        assert verdict is None
    else:
        assert (verdict.kind, verdict.host_stopped) == (kind, host_stopped)


def test_reasons_say_what_the_verdict_rests_on():
    stale = decision.HostView('h1', base.Observation(base.LOST, T0),
                              base.Observation(base.STALE, T0, 'silent 13s'))
    assert decision.judge(stale).reason == (
        'agent heartbeat lost and nova-compute stopped reporting '
        '(silent 13s)')
    alive = decision.HostView('h1', base.Observation(base.LOST, T0),
                              base.Observation(base.UP, T0, 'report 1s ago'))
    assert decision.judge(alive).reason == (
        'agent heartbeat lost but nova-compute still reports (report 1s ago)')


def test_heartbeat_alone_declares_only_without_a_nova_source():
    lost = view(base.LOST, None)
    assert decision.judge(lost, nova_configured=True) is None
    verdict = decision.judge(lost, nova_configured=False)
    assert (verdict.kind, verdict.host_stopped) == (FAILED, False)
    assert 'no Nova source' in verdict.reason


def test_first_seen_is_the_earliest_failure_signal():
    assert view(base.MISSING, base.DOWN, 10.0, 7.0).first_seen == 7.0
    assert view(base.LOST, base.STALE, 10.0, 7.0).first_seen == 7.0
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


def test_combine_keeps_the_view_of_a_host_whose_observations_are_unchanged():
    """Issue 16: 10,000 quiet members must not cost 10,000 new views a
    poll; a host whose observations changed gets a new view."""
    alive, up = base.Observation(base.ALIVE), base.Observation(base.UP)
    first = decision.combine({base.HEARTBEAT: {'a': alive, 'b': alive},
                              base.SERVICE: {'a': up}})
    lost = base.Observation(base.LOST, 1.0)
    second = decision.combine({base.HEARTBEAT: {'a': alive, 'b': lost},
                               base.SERVICE: {'a': up}}, first)
    assert second['a'] is first['a']
    assert second['b'] is not first['b'] and second['b'].heartbeat is lost
    # absent from Nova both times: still the same view
    third = decision.combine({base.HEARTBEAT: {'b': lost},
                              base.SERVICE: {}}, second)
    assert third['b'].service_state == base.ABSENT
    assert decision.combine({base.HEARTBEAT: {'b': lost},
                             base.SERVICE: {}}, third)['b'] is third['b']
    # an equal but new observation is a change: sources share unchanged ones
    assert decision.combine({base.HEARTBEAT: {'a': base.Observation(
        base.ALIVE)}, base.SERVICE: {'a': up}}, first)['a'] is not first['a']


def test_suspects_are_the_hosts_whose_agent_does_not_heartbeat():
    views = {'alive': view(base.ALIVE, base.DOWN),
             'lost': view(base.LOST, base.UP),
             'no-agent': view(None, base.DOWN)}
    assert sorted(decision.suspects(views)) == ['lost', 'no-agent']
    # nothing the rule says is lost by looking at the suspects only
    judged = {h: decision.judge(v) for h, v in views.items()}
    assert {h for h, v in judged.items() if v} <= set(
        decision.suspects(views))


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
