"""A real recovery, read from vmha-monitor's metrics endpoint (issue 19).

Against the real-Nova lab, with real vmha-agent processes on Redis and a
real ``vmha-monitor`` process serving ``[metrics]`` on a free port: hostA,
with servers on it, is powered off through its BMC and its agent killed.
The monitor declares it on two signals, fences it through IPMI, forces it
down and evacuates its servers; everything it did must show in the metrics
read over HTTP, as Prometheus would scrape them, and agree with what the
recovery recorded. The messaging driver points at a broker that is not
there, so notification delivery failures are counted too.
"""

import signal
import socket
import time
import urllib.request

from prometheus_client import parser
import pytest

from vmha.db import api as db_api

from tools.lab.access import agents as agentlib
from tools.lab.access import lab as lablib
from tools.lab.access import monitors as lab_monitors

pytestmark = [lablib.requires_lab, pytest.mark.lab]

SOURCE = 'hostA'
SERVERS = 2
#: nothing listens there (checked): every messaging notification fails
CLOSED_BROKER_PORT = 16298
PHASES = ('detection', 'fencing', 'service_down', 'first_evacuation',
          'last_confirmed', 'total')
SERVING = 'Serving Prometheus metrics on '


def scrape(url):
    """{(sample name, frozenset(labels)): value} of one scrape."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in parser.text_string_to_metric_families(text)
            for s in family.samples}


class Scrapes:
    """The endpoint, and what moved between two scrapes."""

    def __init__(self, url):
        self.url = url
        self.before = scrape(url)
        self.after = self.before

    def again(self):
        self.after = scrape(self.url)
        return self

    def now(self, name, **labels):
        return self.after.get((name, frozenset(labels.items())), 0.0)

    def delta(self, name, **labels):
        key = (name, frozenset(labels.items()))
        return self.after.get(key, 0.0) - self.before.get(key, 0.0)


def endpoint(log_text):
    """The URL a process logged (it was given port 0: any free one)."""
    line = agentlib.wait_for(
        lambda: [ln for ln in log_text().splitlines()
                 if SERVING in ln], 30, what='the metrics endpoint')[0]
    return line.split(SERVING, 1)[1].split()[0]


def agent_log(tmp_path, host):
    path = tmp_path / ('agent-%s.log' % host)
    return lambda: path.read_text() if path.exists() else ''


def _recovered(db):
    recs = [r for r in db.list_recoveries(host=SOURCE)
            if r.state in db_api.FINAL_STATES]
    return recs[0] if recs else None


def test_a_lab_recovery_moves_the_monitors_metrics(start_cluster, nova,
                                                    lab_info, tmp_path):
    with socket.socket() as probe:
        assert probe.connect_ex(('127.0.0.1', CLOSED_BROKER_PORT)) != 0
    ids = [s['id'] for s in lablib.boot(SERVERS, SOURCE)]
    db, agents, proc = start_cluster(2, **{
        'metrics.enabled': 'true', 'metrics.port': 0,
        'metrics.agent_enabled': 'true', 'metrics.agent_port': 0,
        'notification.drivers': 'log,messaging',
        'notification.flush_timeout': 1,
        'oslo_messaging_notifications.transport_url':
            'rabbit://guest:guest@127.0.0.1:%d/' % CLOSED_BROKER_PORT,
        'notification_messaging.retry': 0,
        'notification_messaging.send_timeout': 2})
    url = endpoint(proc.log_text)
    started = time.monotonic()
    metrics = Scrapes(url)
    scrape_seconds = time.monotonic() - started
    assert metrics.now('vmha_hosts', state='ok') == len(lablib.HOSTS)
    assert metrics.now('vmha_monitor_polls_total') >= 1

    failed_at = time.time()
    lablib.lab('fail', SOURCE, '--mode', 'bmc')
    agents.procs[SOURCE].signal(signal.SIGKILL)
    rec = agentlib.wait_for(lambda: _recovered(db), 90, interval=0.5,
                            what='recovery of %s' % SOURCE)
    assert rec.state == db_api.COMPLETED, rec.error
    lablib.assert_evacuated_once(nova, ids, SOURCE)

    # counted as the run ends, then the poll after it sees hostA handled
    agentlib.wait_for(
        lambda: metrics.again().delta(
            'vmha_recoveries_total', level='2', outcome='completed') == 1
        and metrics.now('vmha_hosts', state='handled') == 1
        and metrics.delta('vmha_notification_failures_total',
                          driver='messaging') > 0,
        30, what='the recovery in the metrics')

    assert metrics.delta('vmha_host_declarations_total',
                         rule='two_signals') == 1
    assert metrics.delta('vmha_heartbeats_lost_total') >= 1
    assert metrics.delta('vmha_evacuations_total',
                         outcome='evacuated') == SERVERS
    assert metrics.delta('vmha_evacuations_total', outcome='failed') == 0
    assert metrics.delta('vmha_bmc_call_seconds_count', driver='ipmi',
                         operation='power off', outcome='ok') == 1
    assert metrics.delta('vmha_nova_call_seconds_count', call='evacuate',
                         outcome='ok') >= SERVERS
    assert metrics.delta('vmha_nova_call_seconds_count', call='force_down',
                         outcome='ok') == 1
    assert metrics.delta('vmha_events_total',
                         event_type='vmha.host.fence.end') == 1

    # the histograms observed what the recovery recorded
    marks = {name: lab_monitors.epoch(getattr(rec, name))
             for name in db_api.PHASES}
    recorded = {
        'detection': marks['started_at'] - marks['detected_at'],
        'fencing': marks['fenced_at'] - marks['started_at'],
        'service_down': marks['service_down_at'] - marks['fenced_at'],
        'first_evacuation': marks['first_evacuation_at']
        - marks['detected_at'],
        'last_confirmed': marks['last_confirmed_at'] - marks['detected_at'],
        'total': marks['finished_at'] - marks['detected_at'],
    }
    for phase in PHASES:
        assert metrics.delta('vmha_recovery_phase_seconds_count',
                             phase=phase) == 1, phase
        observed = metrics.delta('vmha_recovery_phase_seconds_sum',
                                 phase=phase)
        assert observed == pytest.approx(recorded[phase], abs=0.01), phase
    print('metrics endpoint %s (scrape %.0f ms); power-off at +0; phases '
          'as observed: %s; messaging failures %d' % (
              url, 1000 * scrape_seconds,
              ', '.join('%s %.1fs' % (phase, metrics.delta(
                  'vmha_recovery_phase_seconds_sum', phase=phase))
                  for phase in PHASES),
              metrics.delta('vmha_notification_failures_total',
                            driver='messaging')))
    print('declared %.1fs after the power-off'
          % (marks['started_at'] - failed_at))

    # a surviving host's agent serves its own heartbeat counters
    agent = Scrapes(endpoint(agent_log(tmp_path, 'hostB')))
    assert agent.now('vmha_agent_heartbeats_total', outcome='ok') > 0
    assert agent.now('vmha_agent_heartbeats_total', outcome='error') == 0
    assert time.time() - agent.now(
        'vmha_agent_last_heartbeat_timestamp_seconds') < 5
