"""Heartbeats: vmha.coordination, vmha.agent and the heartbeat source.

Against tooz's real file:// backend (the embedded default) in a temporary
directory; expiry itself is exercised against Redis in the functional suite.
"""

import threading

import pytest

from vmha import agent as agent_mod
from vmha.cmd import agent as agent_cmd
from vmha import coordination
from vmha.detection import base
from vmha.detection import heartbeat
from vmha import exception
from tests.unit.conftest import make_conf
from tests.unit import fakes


@pytest.fixture
def hb_conf(tmp_path):
    return make_conf(state_path=str(tmp_path),
                     coordination__heartbeat_interval=0.2,
                     coordination__heartbeat_timeout=2.0,
                     agent__host='c1')


@pytest.fixture
def observer(hb_conf):
    """The monitor's side of the group."""
    membership = coordination.Membership.connect(hb_conf, 'test-monitor')
    yield membership
    membership.close()


@pytest.fixture
def agent(hb_conf):
    made = agent_mod.Agent(hb_conf)
    yield made
    made.leave()


# -- coordination -------------------------------------------------------------

@pytest.mark.parametrize('url, expiry, settle', [
    ('redis://127.0.0.1:6379', 4.5, 1.5),       # timeout 6, interval 1.5
    ('file:///tmp/x', 4, 2.0),                  # integer drivers round down
    ('zookeeper://127.0.0.1:2181', 4, 2.0),
    ('etcd3+http://127.0.0.1:2379', 4, 2.0),
])
def test_expiry_plus_settle_is_the_heartbeat_timeout(url, expiry, settle):
    conf = make_conf(coordination__backend_url=url,
                     coordination__heartbeat_interval=1.5,
                     coordination__heartbeat_timeout=6.0)
    assert coordination.expiry(conf) == expiry
    assert coordination.settle_time(conf) == settle
    assert settle >= conf.coordination.heartbeat_interval


def test_default_backend_is_a_directory_under_state_path(tmp_path):
    conf = make_conf(state_path=str(tmp_path))
    assert conf.coordination.backend_url == 'file://%s/coordination' % (
        tmp_path)


def test_interval_longer_than_half_the_timeout_is_refused():
    conf = make_conf(coordination__heartbeat_interval=3.0,
                     coordination__heartbeat_timeout=5.0)
    with pytest.raises(exception.ConfigError, match='at most half'):
        coordination.check_timing(conf)
    with pytest.raises(exception.ConfigError):
        agent_mod.Agent(conf)


def test_backend_description_hides_credentials():
    assert coordination.describe(
        'redis://:s3cret@10.0.0.5:6379?timeout=5&password=x') == (
        'redis://10.0.0.5:6379')


def test_unknown_backend_scheme_is_a_config_error():
    conf = make_conf(coordination__backend_url='nosuch://x')
    with pytest.raises(exception.ConfigError, match='"nosuch"'):
        coordination.Membership.connect(conf, 'm')


def test_unreachable_backend_is_one_coordination_error():
    conf = make_conf(coordination__backend_url='file:///proc/nope')
    with pytest.raises(exception.CoordinationError) as err:
        coordination.Membership.connect(conf, 'm')
    assert 'file:///proc/nope' in str(err.value)


# -- agent --------------------------------------------------------------------

def test_agent_joins_and_a_planned_stop_leaves(agent, observer):
    assert observer.members() is None           # nobody joined yet
    agent.beat()
    assert observer.members() == {'c1'}
    assert observer.left() == set()
    agent.leave()
    assert observer.members() == set()
    assert observer.left() == {'c1'}
    agent.beat()                                # started again
    assert observer.members() == {'c1'}
    assert observer.left() == set()


def test_agent_rejoins_when_the_backend_forgot_it(agent, observer,
                                                  hb_conf):
    agent.beat()
    forget = coordination.Membership.connect(hb_conf, 'c1')
    forget._call('leave', 'leave_group', b'vmha-agents')
    forget.close()
    assert observer.members() == set()
    agent.beat()
    assert observer.members() == {'c1'}


def test_a_restarted_agent_replaces_its_stale_membership(hb_conf, observer):
    first = agent_mod.Agent(hb_conf)
    first.beat()
    first._membership.close()       # killed: no leave
    second = agent_mod.Agent(hb_conf)
    second.beat()
    assert second.beats == 1
    assert observer.members() == {'c1'}
    second.leave()


def test_agent_keeps_trying_an_unreachable_backend(hb_conf, caplog):
    attempts = []

    def connect(conf, member):
        attempts.append(member)
        raise exception.CoordinationError(backend='redis://x',
                                          action='connect', reason='down')

    flaky = agent_mod.Agent(hb_conf, connect=connect)
    for _ in range(3):
        flaky.beat()
    assert attempts == ['c1'] * 3 and flaky.beats == 0
    assert caplog.text.count('Heartbeat of c1 failed') == 1


def test_agent_run_beats_until_stopped_then_leaves(agent, observer):
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: agent.beats >= 3)
        assert observer.members() == {'c1'}
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert observer.left() == {'c1'}


def wait_until(predicate, timeout=5.0):
    event = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        event.wait(0.02)
    pytest.fail('condition not met within %ss' % timeout)


def test_agent_command_refuses_bad_timing(tmp_path, monkeypatch, capsys,
                                          restore_logging):
    config = tmp_path / 'agent.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n[coordination]\n'
                      'heartbeat_interval = 4\nheartbeat_timeout = 5\n'
                      % (tmp_path / 'log'))
    monkeypatch.setattr(agent_cmd.cfg, 'CONF', agent_cmd.cfg.ConfigOpts())
    assert agent_cmd.main(['--config-file', str(config)]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith('vmha-agent: error: ') and 'at most half' in line


# -- heartbeat source ---------------------------------------------------------

@pytest.fixture
def source(hb_conf):
    def make(membership):
        clock = fakes.Clock()
        return heartbeat.HeartbeatSource(hb_conf, membership=membership,
                                         clock=clock), clock
    return make


def states(observed):
    return {host: obs.state for host, obs in observed.items()}


def test_source_reports_alive_missing_then_lost(source):
    agents = fakes.FakeMembership(['c1', 'c2'])
    src, clock = source(agents)
    assert states(src.observe()) == {'c1': base.ALIVE, 'c2': base.ALIVE}
    agents.current.discard('c2')
    seen = src.observe()
    assert seen['c2'] == base.Observation(base.MISSING, clock.now)
    assert src.next_change() == clock.now + src.settle
    clock.advance(src.settle)
    assert src.observe()['c2'] == base.Observation(base.LOST,
                                                   clock.now - src.settle)
    assert src.next_change() is None
    agents.current.add('c2')                    # restarted agent
    assert states(src.observe())['c2'] == base.ALIVE
    assert src.next_change() is None


def test_every_live_member_is_reported_with_one_shared_observation(source):
    """Issue 16: no object per member and poll at 10,000 members."""
    agents = fakes.FakeMembership(['c%d' % i for i in range(100)])
    src, _ = source(agents)
    first, second = src.observe(), src.observe()
    assert {id(obs) for obs in first.values()} == {id(heartbeat.ALIVE)}
    assert second['c7'] is first['c7'] is heartbeat.ALIVE
    assert heartbeat.ALIVE == base.Observation(base.ALIVE)


def test_source_reports_a_planned_stop_as_left(source):
    agents = fakes.FakeMembership(['c1'])
    src, clock = source(agents)
    src.observe()
    agents.current.clear()
    agents.left_hosts.add('c1')
    clock.advance(100)
    assert states(src.observe()) == {'c1': base.LEFT}


def test_source_ignores_hosts_it_never_saw(source):
    src, _ = source(fakes.FakeMembership(['c1'], left=['c9']))
    assert states(src.observe()) == {'c1': base.ALIVE}


def test_source_forgets_when_the_group_vanishes(source, caplog):
    agents = fakes.FakeMembership(['c1', 'c2'])
    src, clock = source(agents)
    src.observe()
    agents.current = None                       # backend lost its data
    assert src.observe() == {}
    assert 'forgetting 2 known agent(s)' in caplog.text
    agents.current = {'c1'}
    assert states(src.observe()) == {'c1': base.ALIVE}


def test_source_over_the_file_backend(hb_conf, agent):
    src = heartbeat.HeartbeatSource(hb_conf)
    try:
        agent.beat()
        assert states(src.observe()) == {'c1': base.ALIVE}
        agent.leave()
        assert states(src.observe()) == {'c1': base.LEFT}
    finally:
        src.close()
