"""``tox -e bench -- --compare masakari``: vmha against Masakari in the lab.

Needs the lab with Masakari (``tools/lab/lab up --with masakari``). First
the functional check of tests/functional/test_masakari_lab.py (a
notification leads to a real evacuation): the comparison refuses to run
against a Masakari that fails it. Then, per N, each holding the lab lock:
vmha level 2 and level 3 (tools.bench.recovery_case: agents, monitor,
hostA powered off through its BMC), Masakari at its defaults and tuned
(hostA powered off through its BMC, hostmonitor's notification posted the
moment the power-off is confirmed), and the same evacuations issued
straight at Nova (tools.bench.baseline). Last, the instance-state mix
(tools.bench.state_mix) through vmha and Masakari. The README's
``bench-masakari`` section is rewritten from the results.
"""

import json
import time

import pytest

from tools.lab.access import lab as lablib
from tools.lab.access import masakari
from tools.bench import baseline
from tools.bench import compare
from tools.bench import cpu
from tools.bench import lablock
from tools.bench import plan
from tools.bench import recovery_case
from tools.bench import report
from tools.bench import state_mix

SOURCE = masakari.SOURCE
#: the sizes of ``--compare masakari`` without ``--sizes``: N=10 alone
#: holds the lab about 17 minutes on the 2-core machine; ``--sizes 10,50``
#: (the README's table) about 42, more than the 30 the issue allows
DEFAULT_SIZES = '10'
START = '<!-- bench-masakari:start -->'
END = '<!-- bench-masakari:end -->'
#: what each run of the comparison measures, in order, per N
VARIANTS = (('vmha level 2', compare.VMHA, 2),
            ('vmha level 3', compare.VMHA, 3),
            ('Masakari default', compare.MASAKARI, 'default'),
            ('Masakari tuned', compare.MASAKARI, 'tuned'),
            ('bare Nova', compare.BARE, None))


def nova_client(workdir, lab_info):
    """An admin novaclient at the newest microversion (baseline's)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return baseline._client(workdir, lab_info)


def evacuation_counts(client, ids):
    """{id: evacuations Nova recorded} (its migrations of that type)."""
    return {sid: len(client.migrations.list(instance_uuid=sid,
                                            migration_type='evacuation'))
            for sid in ids}


def _servers(client):
    return {s.id: s for s in client.servers.list(
        search_opts={'all_tenants': 1})}


def recovered(client, ids):
    """How many of ``ids`` Nova shows ACTIVE off SOURCE with no task."""
    servers = _servers(client)
    return sum(1 for sid in ids if sid in servers
               and getattr(servers[sid], 'OS-EXT-SRV-ATTR:host') != SOURCE
               and servers[sid].status == 'ACTIVE'
               and getattr(servers[sid], 'OS-EXT-STS:task_state') is None)


def masakari_case(count, variant, workdir, lab_info, waits):
    """One Masakari recovery of ``count`` servers, measured."""
    workdir.mkdir(parents=True, exist_ok=True)
    client = nova_client(workdir, lab_info)
    with lablock.held(waits):
        lablib.lab('reset')
        ids = [s['id'] for s in lablib.boot(count, SOURCE,
                                            prefix='masakari')]
        masakari.variant(variant)
        try:
            before = cpu.snapshot()
            posted = masakari.fail_and_notify()
            recs = masakari.records(posted['notification_uuid'],
                                    600 + 15 * count)
            used = cpu.usage(before, cpu.snapshot(),
                             time.time() - posted['powered_off_at'])
            counts = evacuation_counts(client, ids)
            back = recovered(client, ids)
        finally:
            masakari.variant('default')
    (workdir / 'records.json').write_text(json.dumps(
        {'posted': posted, 'records': recs}, indent=1))
    ok = recs['status'] == 'finished' and back == count
    return {'ok': ok, 'error': None if ok else '%s, %d of %d ACTIVE '
            'elsewhere' % (recs['status'], back, count),
            'figures': compare.masakari_figures(posted, recs),
            'evacuate_actions': compare.evacuate_actions(counts),
            'recovered': back, 'cpu': used, 'notification': recs['uuid']}


def vmha_case(count, level, workdir, lab_info, waits):
    """One vmha recovery (tools.bench.recovery_case), plus Nova's view."""
    client = nova_client(workdir, lab_info)

    def nova_view():
        ids = [s.id for s in _servers(client).values()
               if s.name.startswith('bench-')]
        return {'evacuate_actions': compare.evacuate_actions(
            evacuation_counts(client, ids)),
            'recovered': recovered(client, ids)}
    result = recovery_case.run(plan.Case(plan.RECOVERY, count, level),
                               workdir, lab_info, waits, after=nova_view)
    result['figures'] = compare.vmha_figures(result)
    result['ok'] = result['ok'] and result['recovered'] == count
    return result


def bare_case(count, workdir, lab_info, waits):
    result = baseline.run(plan.Case(plan.BASELINE, count), workdir,
                          lab_info, waits)
    result.update(figures=compare.bare_figures(result),
                  evacuate_actions='1 each', recovered=count)
    return result


def run_one(label, tool, arg, count, workdir, lab_info, waits):
    try:
        if tool == compare.VMHA:
            return vmha_case(count, arg, workdir, lab_info, waits)
        if tool == compare.MASAKARI:
            return masakari_case(count, arg, workdir, lab_info, waits)
        return bare_case(count, workdir, lab_info, waits)
    except (Exception, pytest.fail.Exception) as err:   # recorded
        return {'ok': False, 'error': '%s: %s' % (type(err).__name__,
                                                  str(err)[-1500:])}


def preflight(workdir, lab_info, waits):
    """The functional test's check; raises if Masakari does not evacuate."""
    if not masakari.api_answers():
        raise SystemExit('Masakari is not up: tools/lab/lab up --with '
                         'masakari')
    client = nova_client(workdir, lab_info)

    def nova(version='2.53'):
        return client
    with lablock.held(waits):
        lablib.lab('reset')
        try:
            masakari.prove_evacuation(nova)
        except (Exception, pytest.fail.Exception) as err:
            raise SystemExit('Masakari failed the functional check (a '
                             'notification must lead to an evacuation); '
                             'not comparing: %s' % err)
        finally:
            lablib.lab('reset')


def run(sizes, workdir, lab_info, say, mix=True):
    """Every case; the summary (rows, ratios, target, mix, cpu)."""
    waits, runs = [], []
    started = time.monotonic()
    say('masakari: functional check (tuned, 2 servers)')
    preflight(workdir / 'preflight', lab_info, waits)
    options = masakari.info()
    for count in sizes:
        for label, tool, arg in VARIANTS:
            say('compare: %s, %d servers' % (label, count))
            result = run_one(label, tool, arg, count, workdir / (
                '%s-%d' % (label.replace(' ', '-'), count)), lab_info,
                waits)
            result.update(label=label, tool=tool, count=count)
            say('   %s' % ('ok: last ACTIVE %s s' % result['figures'].get(
                'last_active') if result['ok'] else 'FAILED: %s'
                % result['error']))
            runs.append(result)
            (workdir / 'compare.json').write_text(json.dumps(
                runs, indent=1, default=str))
    mix_result = None
    if mix:
        say('compare: instance-state mix through vmha and Masakari')
        mix_result = state_mix.run(workdir / 'mix', lab_info, waits)
    return summarize(runs, sizes, options, mix_result,
                     (time.monotonic() - started) / 60, sum(waits) / 60)


def summarize(runs, sizes, options, mix, minutes, lock_wait_minutes):
    """The comparison's summary from its case results (also from the
    partial results.json of a run that did not finish)."""
    rows = [compare.row(label, tool, count,
                        [r for r in runs if r['label'] == label
                         and r['count'] == count])
            for count in sizes for label, tool, _ in VARIANTS]
    rows = [r for r in rows if r['runs']]
    measured = [r['count'] for r in runs if r.get('ok') and r.get('cpu')]
    largest = max(measured) if measured else None
    return {
        'rows': rows, 'ratios': compare.ratios(rows),
        'target': compare.target(rows), 'mix': mix,
        'masakari': options, 'sizes': list(sizes),
        'minutes': round(minutes, 1),
        'lock_wait_minutes': round(lock_wait_minutes, 1),
        'cpu': [dict(r['cpu'], case='%s, %d servers' % (r['label'],
                                                        r['count']))
                for r in runs if r.get('ok') and r.get('cpu')
                and r['count'] == largest],
        'runs': runs,
    }


CPU_GROUPS = report.CPU_GROUPS + ('masakari',)


def render(summary, date, command):
    """The README section (Markdown) of a comparison run."""
    opts = summary['masakari']['options']
    tuned = summary['masakari']['tuned']
    defaults = ', '.join('`%s` %s' % (name.split('.', 1)[1], o['default'])
                         for name, o in sorted(opts.items()))
    parts = [
        '### vmha against Masakari\n\nLast run %s: `%s`, %.1f min (%.1f of '
        'them waiting for the lab lock). Masakari %s (PyPI) in the same lab: '
        'masakari-api and masakari-engine, one failover segment '
        '(`recovery_method` auto) with hostA, hostB, hostC. Its shipped '
        'defaults, read from the installed package: %s.' % (
            date, command, summary['minutes'],
            summary['lock_wait_minutes'], summary['masakari']['version'],
            defaults),
        '"Masakari tuned" cuts only the waits that are pure sleeps: %s.'
        % '; '.join('`%s` = %s (%s)' % (name, t['value'], t['why'])
                    for name, t in sorted(tuned.items())),
        compare.table(summary['rows'], summary['ratios']),
        'Seconds after the host was powered off through its BMC (its '
        'nova-compute died): the instant both tools start from. vmha: '
        'detection, fencing and recovery by a real vmha-monitor and agents '
        '(Redis), figures from its recorded phases. Masakari: '
        'masakari-monitors\' hostmonitor notification (`COMPUTE_HOST`, '
        '`STOPPED`, `host_status` NORMAL, `cluster_status` OFFLINE) posted '
        'through openstacksdk the moment the power-off was confirmed; '
        '"declared" is its recovery workflow\'s first progress record, '
        '1st evacuate its first vmove `start_time` (whole seconds), last '
        'ACTIVE its "Evacuation process completed!" progress record. Bare '
        'Nova: the evacuate calls issued at once after forcing the service '
        'down, until every server is ACTIVE elsewhere. Evacuate actions '
        'per server and "recovered" (ACTIVE off hostA, no task) are Nova\'s '
        'view after the recovery.',
        '**Not measured: Masakari\'s detection.** Pacemaker is not run. '
        'masakari-monitors\' hostmonitor (22.0.0, its shipped defaults) '
        'reads Pacemaker\'s cluster state every `monitoring_interval` = '
        '60 s (`monitoring_samples` = 1) and, once a node is OFFLINE, '
        'checks its power with `ipmitool power status` before it posts the '
        'notification: 0 to 60 s (30 s on average) after Pacemaker has '
        'declared the node OFFLINE and fenced it, which itself takes '
        'corosync\'s token timeout and the STONITH. Add that to the '
        'Masakari rows for an end-to-end figure; vmha\'s rows include its '
        'own detection and fencing.',
        compare.targets_table(summary['target']),
    ]
    disable = [r for r in summary['rows'] if r['tool'] == compare.MASAKARI
               and r['figures'].get('disable_task') is not None]
    if disable:
        parts.append(
            'Where Masakari\'s time goes: its first task disables hostA\'s '
            'service and then sleeps `wait_period_after_service_update`; '
            'that task took %s. Nova still believes the service up right '
            'after the power-off (Masakari disables it, it does not force it '
            'down), so nova-api asks the dead compute to sync its '
            '`COMPUTE_STATUS_DISABLED` trait over RPC and answers only after '
            'Nova\'s `rpc_response_timeout` (60 s). vmha forces the service '
            'down first (level 2), which Nova does not forward to the '
            'compute.' % ', '.join('%.1f s (%s, N=%d)' % (
                r['figures']['disable_task'], r['label'], r['count'])
                for r in disable))
    if summary.get('mix'):
        parts += ['Instance-state mix (the states of tests/functional/'
                  'test_completeness_lab.py, one server each, hostA powered '
                  'off through its BMC; Masakari tuned, vmha level 2; '
                  'Nova\'s view after the recovery):',
                  compare.mix_table(summary['mix']),
                  compare.mix_note(summary['mix'])]
    if summary.get('cpu'):
        parts += [cpu_note(summary['cpu']),
                  report.cpu_table(summary['cpu'], CPU_GROUPS)]
    return '\n\n'.join(parts) + '\n'


def cpu_note(rows):
    """Keystone's share: Masakari's Nova client authenticates anew for
    every call (masakari.compute.nova.novaclient builds a new session)."""
    keystone = ['%.1f s during %s' % (r['groups'].get('keystone', 0.0),
                                      r['case']) for r in rows
                if r['case'].startswith('Masakari')]
    return ('CPU seconds from the power-off (bare Nova: from the first '
            'evacuate call) to the last confirmation, by process group%s:'
            % ('; keystone used %s, as Masakari\'s Nova client '
               'authenticates anew for every call' % ', '.join(keystone)
               if keystone else ''))


def write(summary, doc_dir, readme, date, command):
    """doc_dir/masakari.json and .md; the README section if ``readme``."""
    doc_dir.mkdir(parents=True, exist_ok=True)
    (doc_dir / 'masakari.json').write_text(json.dumps(
        summary, indent=1, sort_keys=True, default=str) + '\n')
    body = render(summary, date, command)
    (doc_dir / 'masakari.md').write_text(body)
    if readme:
        text = readme.read_text()
        if START not in text:
            text = text.replace(report.END, report.END + '\n\n' + START
                                + '\n' + END, 1)
        head, rest = text.split(START, 1)
        _old, tail = rest.split(END, 1)
        readme.write_text('%s%s\n%s%s%s' % (head, START, body, END, tail))
    return body
