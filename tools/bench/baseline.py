"""The floor: the same evacuations issued straight at Nova, no vmha.

Inside the lab lock: reset, boot N servers on hostA, power hostA off
through its BMC and force its service down (Nova refuses to evacuate from
a host it believes up), then the clock starts: N ``evacuate`` calls at
once (python-novaclient, one thread each) and one ``servers.list`` every
``POLL`` seconds until every server is ACTIVE on another host with no task.
From microversion 2.95 Nova rebuilds evacuated servers stopped; they are
started as soon as they land, as vmha does. The microversion is the newest
both sides support, as vmha negotiates it.
"""

import concurrent.futures
import time

from novaclient import api_versions
from novaclient import client as nova_client

from vmha import compute

from tests.functional import lab as lablib
from tools.bench import cpu
from tools.bench import lablock

SOURCE = 'hostA'
POLL = 0.5   # as vmha's [evacuation] confirm_interval in the lab config


def _client(workdir, lab_info):
    """An admin novaclient at the newest microversion (vmha's session)."""
    conf = lablib.make_conf(workdir / 'nova.conf', lab_info, 'sqlite://')
    session = compute.load_session(conf)
    region = lab_info['auth'].get('region_name', 'RegionOne')
    base = nova_client.Client('2.1', session=session, region_name=region)
    version = api_versions.discover_version(
        base, api_versions.APIVersion('2.latest'))
    return nova_client.Client(version, session=session, region_name=region)


def _force_down(client):
    [svc] = [s for s in client.services.list(binary='nova-compute')
             if s.host == SOURCE]
    client.services.force_down(svc.id, True)


def _evacuate_all(client, ids):
    """Issue every evacuate call at once; return the instant of the last
    answer."""
    with concurrent.futures.ThreadPoolExecutor(len(ids)) as pool:
        list(pool.map(client.servers.evacuate, ids))
    return time.time()


def _settled(server):
    return (getattr(server, 'OS-EXT-SRV-ATTR:host') != SOURCE
            and getattr(server, 'OS-EXT-STS:task_state') is None)


def _confirm(client, ids, timeout):
    """Poll until every server is ACTIVE elsewhere; start the ones Nova
    rebuilt stopped. Returns {id: confirmed instant}."""
    confirmed, started = {}, set()
    deadline = time.monotonic() + timeout
    while len(confirmed) < len(ids):
        if time.monotonic() > deadline:
            raise RuntimeError('%d of %d servers ACTIVE elsewhere after %ss'
                               % (len(confirmed), len(ids), timeout))
        servers = {s.id: s for s in client.servers.list(
            search_opts={'all_tenants': 1})}
        now = time.time()
        for sid in set(ids) - set(confirmed):
            server = servers[sid]
            if server.status == 'ERROR':
                raise RuntimeError('server %s went to ERROR' % sid)
            if not _settled(server):
                continue
            if server.status == 'ACTIVE':
                confirmed[sid] = now
            elif server.status == 'SHUTOFF' and sid not in started:
                client.servers.start(sid)
                started.add(sid)
        time.sleep(POLL)
    return confirmed


def run(case, workdir, lab_info, waits):
    """Measure ``case`` (plan.Case of kind baseline); return its result."""
    workdir.mkdir(parents=True, exist_ok=True)
    with lablock.held(waits):
        lablib.lab('reset')
        ids = [s['id'] for s in lablib.boot(case.count, SOURCE,
                                            prefix='bare')]
        client = _client(workdir, lab_info)
        lablib.lab('fail', SOURCE, '--mode', 'bmc')
        _force_down(client)
        before, start = cpu.snapshot(), time.time()
        answered = _evacuate_all(client, ids)
        confirmed = _confirm(client, ids, 120 + 5 * case.count)
        used = cpu.usage(before, cpu.snapshot(), time.time() - start)
    return {
        'ok': True, 'error': None, 'cpu': used,
        'microversion': client.api_version.get_string(),
        'seconds': round(max(confirmed.values()) - start, 3),
        'calls_seconds': round(answered - start, 3),
    }
