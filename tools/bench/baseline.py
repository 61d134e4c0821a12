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

from tools.lab.access import lab as lablib
from tools.bench import cpu
from tools.bench import lablock

SOURCE = 'hostA'
POLL = 0.5   # as vmha's [evacuation] confirm_interval in the lab config


def _client(workdir, lab_info):
    """An admin novaclient at the newest microversion (vmha's session)."""
    conf = lablib.load_conf(workdir / 'nova.conf', lab_info, 'sqlite://')
    session = compute.load_session(conf)
    region = lab_info['auth'].get('region_name', 'RegionOne')
    base = nova_client.Client('2.1', session=session, region_name=region)
    version = api_versions.discover_version(
        base, api_versions.APIVersion('2.latest'))
    return nova_client.Client(version, session=session, region_name=region)


def _force_down(client, host=SOURCE):
    [svc] = [s for s in client.services.list(binary='nova-compute')
             if s.host == host]
    client.services.force_down(svc.id, True)


def _evacuate_all(client, ids):
    """Issue every evacuate call at once; return the instant of the last
    answer."""
    with concurrent.futures.ThreadPoolExecutor(len(ids)) as pool:
        list(pool.map(client.servers.evacuate, ids))
    return time.time()


def _settled(server, sources):
    return (getattr(server, 'OS-EXT-SRV-ATTR:host') not in sources
            and getattr(server, 'OS-EXT-STS:task_state') is None)


def _poll(client, waiting, confirmed, started, sources):
    """One listing: note in ``confirmed`` ({id: instant}) the servers of
    ``waiting`` now ACTIVE elsewhere; start the ones Nova rebuilt stopped
    (``started``: the ids already started)."""
    servers = {s.id: s for s in client.servers.list(
        search_opts={'all_tenants': 1})}
    now = time.time()
    for sid in set(waiting) - set(confirmed):
        server = servers[sid]
        if server.status == 'ERROR':
            raise RuntimeError('server %s went to ERROR' % sid)
        if not _settled(server, sources):
            continue
        if server.status == 'ACTIVE':
            confirmed[sid] = now
        elif server.status == 'SHUTOFF' and sid not in started:
            client.servers.start(sid)
            started.add(sid)


def _check_deadline(deadline, confirmed, ids, timeout):
    if time.monotonic() > deadline:
        raise RuntimeError('%d of %d servers ACTIVE elsewhere after %ss'
                           % (len(confirmed), len(ids), timeout))


def _confirm(client, ids, timeout, sources=(SOURCE,)):
    """Poll until every server is ACTIVE elsewhere; start the ones Nova
    rebuilt stopped. Returns {id: confirmed instant}."""
    confirmed, started = {}, set()
    deadline = time.monotonic() + timeout
    while len(confirmed) < len(ids):
        _check_deadline(deadline, confirmed, ids, timeout)
        _poll(client, ids, confirmed, started, sources)
        time.sleep(POLL)
    return confirmed


def paced(client, ids, concurrency, timeout, sources=(SOURCE,)):
    """Evacuate ``ids`` with at most ``concurrency`` in flight, one listing
    per POLL (the calibration of tools.bench.model). Returns {id: (issued,
    confirmed)} instants."""
    pending, issued, confirmed, started = list(ids), {}, {}, set()
    deadline = time.monotonic() + timeout
    while len(confirmed) < len(ids):
        _check_deadline(deadline, confirmed, ids, timeout)
        free = concurrency - (len(issued) - len(confirmed))
        for sid in pending[:max(0, free)]:
            client.servers.evacuate(sid)
            issued[sid] = time.time()
        del pending[:max(0, free)]
        _poll(client, issued, confirmed, started, sources)
        if len(confirmed) < len(ids):
            time.sleep(POLL)
    return {sid: (issued[sid], confirmed[sid]) for sid in ids}


def _prepare(case, workdir, lab_info):
    """Servers on hostA, hostA powered off and forced down: (client,
    ids)."""
    lablib.lab('reset')
    ids = [s['id'] for s in lablib.boot(case.count, SOURCE, prefix='bare')]
    client = _client(workdir, lab_info)
    lablib.lab('fail', SOURCE, '--mode', 'bmc')
    _force_down(client)
    return client, ids


def calibrate(case, workdir, lab_info, waits):
    """Measure ``case`` (kind calibration: ``count`` evacuations, at most
    ``workers`` in flight); return its result."""
    workdir.mkdir(parents=True, exist_ok=True)
    with lablock.held(waits):
        client, ids = _prepare(case, workdir, lab_info)
        before, start = cpu.snapshot(), time.time()
        spans = paced(client, ids, case.workers, 120 + 10 * case.count)
        used = cpu.usage(before, cpu.snapshot(), time.time() - start)
    return {
        'ok': True, 'error': None, 'cpu': used,
        'microversion': client.api_version.get_string(),
        'seconds': round(max(c for _, c in spans.values()) - start, 3),
        'latencies': sorted(round(c - i, 3) for i, c in spans.values()),
    }


def run(case, workdir, lab_info, waits):
    """Measure ``case`` (plan.Case of kind baseline); return its result."""
    workdir.mkdir(parents=True, exist_ok=True)
    with lablock.held(waits):
        client, ids = _prepare(case, workdir, lab_info)
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
