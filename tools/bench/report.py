"""The run's figures as Markdown, written to a file and into the README.

The README section between ``<!-- bench:start -->`` and ``<!-- bench:end
-->`` belongs to the benchmark: every run rewrites it from the summary, so
the figures a reader sees are the last ones measured, never typed.
"""

import json
import os

START = '<!-- bench:start -->'
END = '<!-- bench:end -->'

_COLUMNS = (
    ('level', 'level'), ('failure', 'failure'), ('N', 'count'),
    ('workers', 'workers'),
    ('runs', 'runs'), ('detection', 'detection'), ('fencing', 'fencing'),
    ('service down', 'service_down'), ('1st evacuate', 'first_evacuation'),
    ('last confirmed', 'last_confirmed'), ('evacuations', 'evacuation'),
    ('RTO', 'rto'), ('bare Nova', 'bare_nova'),
    ('after fencing / bare', 'overhead'))
_MET = {True: 'met', False: '**not met**', None: 'not measured'}


def seconds(value):
    return '–' if value is None else '%.1f' % value


def _cell(row, key, default_workers):
    if key in row['figures']:
        return seconds(row['figures'][key])
    if key == 'failure':
        return row.get('failure', 'power-off')
    value = row[key]
    if key == 'workers':
        return str(value) if value else 'default (%s)' % default_workers
    if key == 'runs':
        return ('%d' % value if row['ok_runs'] == value
                else '%d of %d ok' % (row['ok_runs'], value))
    if key == 'bare_nova':
        return seconds(value)
    if key == 'overhead':
        return '–' if value is None else '%.2f×' % value
    return str(value)


def recovery_table(summary):
    default_workers = summary['settings']['max_workers_default']
    lines = ['| %s |' % ' | '.join(title for title, _ in _COLUMNS),
             '|%s' % ('---|' * len(_COLUMNS))]
    for row in summary['recovery']:
        lines.append('| %s |' % ' | '.join(
            _cell(row, key, default_workers) for _, key in _COLUMNS))
    return '\n'.join(lines)


def targets_table(targets):
    lines = ['| target | measured | |', '|---|---|---|']
    lines += ['| %s | %s | %s |' % (t['target'], t['measured'], _MET[t['met']])
              for t in targets]
    return '\n'.join(lines)


#: the process groups the CPU table shows, in this order (tools.bench.cpu)
CPU_GROUPS = ('nova-compute', 'nova-conductor', 'nova-api',
               'nova-scheduler', 'placement', 'keystone', 'mariadb',
               'rabbitmq', 'vmha-monitor', 'vmha-agents')


def cpu_table(rows, groups=CPU_GROUPS):
    """CPU seconds per process group during the measured interval, and
    nova-api's CPU seconds and requests per evacuation."""
    lines = ['| case | wall s | machine busy | %s | nova-api s per '
             'evacuation | nova-api requests per evacuation |'
             % ' | '.join(groups),
             '|%s' % ('---|' * (5 + len(groups)))]
    for row in rows:
        lines.append('| %s | %.1f | %.0f%% of %d cores | %s | %s | %s |' % (
            row['case'], row['seconds'], row['machine_busy_percent'],
            row['cores'], ' | '.join(
                '%.1f' % row['groups'].get(group, 0.0)
                for group in groups), _per_evacuation(row),
            _num(row.get('nova_api_requests_per_evacuation'))))
    return '\n'.join(lines)


def requests_table(rows, top=8):
    """The kinds of request nova-api served per evacuation, and the
    seconds it spent in them per evacuation, one column per CPU row that
    has them (the lab's request log: tools.bench.api_requests): what to cut
    when nova-api's CPU is over its target."""
    rows = [r for r in rows if r.get('nova_api_requests') and r['count']]
    if not rows:
        return ''
    totals = {}
    for row in rows:
        for name, (n, _) in row['nova_api_requests'].items():
            totals[name] = totals.get(name, 0) + n / row['count']
    names = sorted(totals, key=lambda name: -totals[name])[:top]
    lines = ['| request (per evacuation: requests, seconds in nova-api) | '
             '%s |' % ' | '.join(r['case'] for r in rows),
             '|---|%s' % ('---|' * len(rows))]
    for name in names:
        cells = []
        for row in rows:
            n, seconds = row['nova_api_requests'].get(name, (0, 0.0))
            cells.append('%.2f, %.3f s' % (n / row['count'],
                                          seconds / row['count']))
        lines.append('| `%s` | %s |' % (name, ' | '.join(cells)))
    return '\n'.join(lines)


def _num(value, fmt='%.1f'):
    return '–' if value is None else fmt % value


def rack_table(row):
    """The rack case: vmha's medians against bare Nova, from the
    failure."""
    fig = row['figures']
    return '\n'.join([
        '| 2 of 6 hosts, 25 servers each | runs | detection | 1st evacuate '
        '| last confirmed | RTO | bare Nova | last confirmed / bare |',
        '|---|---|---|---|---|---|---|---|',
        '| vmha level 2 | %d of %d ok (bare: %d of %d) | %s | %s | %s | %s '
        '| %s | %s |' % (
            row['ok_runs'], row['runs'], row['bare_ok_runs'],
            row['bare_runs'], _num(fig['detection']),
            _num(fig['first_evacuation']), _num(fig['last_confirmed']),
            _num(fig['rto']), _num(row['bare_nova']),
            _num(row['ratio'], '%.2f×'))])


def monitor_loads_table(loads):
    """One row per member count: the monitor's cost and its detection."""
    lines = ['| members | swarm | monitor CPU (% of one core) | monitor RSS '
             'max (MB) | Redis CPU (%) | swarm CPU (%) | detection (s) |',
             '|---|---|---|---|---|---|---|']
    for load in loads:
        if not load['ok']:
            lines.append('| %s | failed: %s | | | | | |' % (
                load['case']['count'], load['error']))
            continue
        lines.append('| %d | %s | %.2f | %.0f | %s | %s | %s |' % (
            load['members'], '%d process(es)%s' % (
                load.get('swarm_processes', 1),
                ', pipelined' if load.get('pipelined') else ''),
            load['cpu_percent'], load['rss_mb_max'],
            _num(load.get('redis_cpu_percent')),
            _num(load.get('swarm_cpu_percent')),
            _num(load.get('detection'))))
    return '\n'.join(lines)


def calibration_table(calibration):
    """The bare-Nova calibration runs and the model's fit."""
    lines = ['| at most in flight | N | seconds | evacuations/s | s per '
             'evacuation (Little) | fitted |', '|---|---|---|---|---|---|']
    for p in calibration['points']:
        lines.append('| %d | %d | %.1f | %.2f | %.2f | %s |' % (
            p['concurrency'], p['count'], p['seconds'], p['throughput'],
            p['latency'], _num(p.get('fitted'), '%.2f')))
    fit = calibration['fit']
    if fit:
        lines.append('\nFitted (tools/bench/model.py): L(c) = %(a).3f + '
                     '%(b).4f c + %(d).6f c² seconds per evacuation.' % fit)
    return '\n'.join(lines)


def _per_evacuation(row):
    value = row.get('nova_api_per_evacuation')
    return '–' if value is None else '%.2f' % value


def settings_line(summary):
    s = summary['settings']
    return (
        'Last run %(date)s: `%(command)s`, %(wall_minutes).1f min wall '
        '(%(lock_wait_minutes).1f of them waiting for the lab lock). Lab '
        'Nova: `service_down_time` = %(service_down_time)s s, '
        '`report_interval` = %(report_interval)s s. vmha: agents on Redis '
        'with `heartbeat_interval` %(heartbeat_interval)s s, '
        '`heartbeat_timeout` %(heartbeat_timeout)s s, `poll_interval` '
        '%(poll_interval)s s; `confirm_interval` %(confirm_interval)s s; '
        'compute API microversion %(microversion)s. Medians of %(reps)s.'
        % dict(s, reps=', '.join('%s run(s) at N=%s' % (r, n)
                                 for n, r in sorted(s['reps'].items()))))


def charts(summary, prefix):
    return ' '.join('![level %s timeline](%s%s)' % (level, prefix, name)
                    for level, name in sorted(summary.get('charts',
                                                          {}).items()))


def render(summary, image_prefix=''):
    """The Markdown of the whole result: settings, tables, charts."""
    load = summary.get('monitor_load') or {}
    parts = [
        settings_line(summary),
        recovery_table(summary),
        'Seconds. Detection, 1st evacuate, last confirmed and RTO count '
        'from the failure (the host powered off through its BMC, its '
        'vmha-agent killed); fencing from the declaration, service down '
        'from the confirmed power-off (level 1: from the declaration). '
        '"after fencing / bare" is (RTO − detection − fencing) over the '
        'same N evacuations issued straight at Nova in parallel '
        '(python-novaclient) until every instance is ACTIVE elsewhere.',
        targets_table(summary['targets']),
    ]
    if load.get('ok'):
        parts.append(
            'Monitor load: one vmha-monitor (sources %s, `poll_interval` '
            '%s s) watching %d tooz members heartbeating every %s s on Redis '
            'from another process: %.2f%% of one core, RSS %.0f MB max '
            '(%.0f MB median) over %.0f s; %d of %d members alive at the '
            'end.' % (load['sources'], load['poll_interval'], load['members'],
                      load['heartbeat_interval'], load['cpu_percent'],
                      load['rss_mb_max'], load['rss_mb_median'],
                      load['seconds'], load['members_alive'],
                      load['members']))
    if summary.get('rack'):
        parts += ['Rack failure (`--rack`): hostA and hostB powered off '
                  'through their BMCs at the same moment in a six-host lab, '
                  'their agents killed; seconds from the failure. Bare Nova '
                  'issues the 50 evacuations the instant both computes are '
                  'dead (it needs no detection).',
                  rack_table(summary['rack'])]
    loads = [r for r in summary.get('monitor_loads') or ()
             if r.get('members') != 1000]
    if loads:
        parts += ['Monitor at scale (`--members`): one vmha-monitor '
                  'watching the members and the lab\'s three agents; '
                  'detection is hostA powered off among them, failure -> '
                  'declared. Above 1,000 members the swarm pipelines its '
                  'heartbeats (tools/bench/swarm.py), so Redis serves far '
                  'fewer connections and round trips than under real '
                  'agents: its CPU here is a floor.',
                  monitor_loads_table(summary['monitor_loads'])]
    if summary.get('calibration'):
        parts += ['Calibration (`--calibrate`): bare Nova evacuating 50 '
                  'servers with at most C in flight, one listing every '
                  '0.5 s:', calibration_table(summary['calibration'])]
    if summary.get('cpu'):
        parts += [
            'CPU seconds used from the failure (bare Nova: from the first '
            'evacuate call) to the last confirmation, by process group, at '
            'the largest N; nova-api is one gunicorn process (8 threads):',
            cpu_table(summary['cpu'])]
        kinds = requests_table(summary['cpu'])
        if kinds:
            parts += ['nova-api requests per evacuation by kind (its request '
                      'log), the most frequent:', kinds]
    if summary.get('charts'):
        parts.append(charts(summary, image_prefix))
    return '\n\n'.join(parts) + '\n'


def replace_section(text, body):
    """``text`` with the benchmark section replaced by ``body``."""
    try:
        head, rest = text.split(START, 1)
        _old, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError('the README has no %s ... %s section' % (START, END))
    return '%s%s\n%s%s%s' % (head, START, body, END, tail)


def write(summary, doc_dir, readme=None):
    """results.json and results.md in ``doc_dir``; the README section if
    ``readme`` is a path. Returns the Markdown."""
    os.makedirs(doc_dir, exist_ok=True)
    with open(os.path.join(doc_dir, 'results.json'), 'w') as f:
        json.dump(summary, f, indent=1, sort_keys=True, default=str)
        f.write('\n')
    body = render(summary)
    with open(os.path.join(doc_dir, 'results.md'), 'w') as f:
        f.write('# vmha recovery benchmark\n\n' + body)
    if readme:
        prefix = os.path.relpath(doc_dir, os.path.dirname(
            os.path.abspath(readme))) + '/'
        with open(readme) as f:
            text = f.read()
        with open(readme, 'w') as f:
            f.write(replace_section(text, render(summary, prefix)))
    return body
