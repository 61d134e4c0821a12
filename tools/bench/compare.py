"""vmha against Masakari: the figures, the table and the target (pure).

``tox -e bench -- --compare masakari`` (tools.bench.compare_masakari) runs
the same failure (hostA powered off through its BMC) with the same N
servers for vmha (levels 2 and 3), Masakari (default and tuned) and bare
Nova. Every instant is read from the tool's own records and expressed as
seconds after the confirmed power-off the bench caused:

- vmha: its recovery's recorded phases (``tools.bench.phases``);
- Masakari: its notification (``created_at``, whole seconds), its
  recovery-workflow progress records (microseconds) and its vmoves
  (per-server ``start_time``/``end_time``, whole seconds).

This module knows nothing of the lab and is unit-tested.
"""

from tools.bench import phases
from tools.bench import stats

#: the issue's target: vmha level 2 at least this many times faster than
#: Masakari at its defaults, N = TARGET_N, from the same confirmed power-off
TARGET_FACTOR = 10.0
TARGET_N = 10

VMHA = 'vmha'
MASAKARI = 'masakari'
BARE = 'bare'

#: figure -> meaning (seconds); the comparison table's columns
FIGURES = {
    'declared': 'power-off -> recovery started: failure declared (vmha), '
                'first recovery-workflow record (Masakari)',
    'first_evacuation': 'power-off -> first evacuate call',
    'last_active': 'power-off -> last server ACTIVE elsewhere, as the '
                   'tool confirmed it',
    'declared_to_first': 'declared -> first evacuate call',
    'declared_to_last': 'declared -> last server ACTIVE elsewhere',
}

_COMPLETED = ('Evacuation process completed!',)


def _progress(recs, task, prefix):
    """Instants of ``task``'s progress messages starting with ``prefix``."""
    return [d['at'] for t in recs['progress'] if t['name'] == task
            for d in t['details'] if d['message'].startswith(prefix)
            and d['at'] is not None]


def masakari_figures(posted, recs):
    """FIGURES of one Masakari recovery from its records.

    ``posted``: what the bench recorded when it failed the host
    (``powered_off_at``); ``recs``: lab_masakari.records.
    The recovery starts at the workflow's first progress record (the
    engine disabling the service; the notification's ``created_at`` if there
    is none: it has whole seconds only). The last server ACTIVE elsewhere
    is the engine's "Evacuation process completed!" record (every vmove
    confirmed), else the last succeeded vmove's end (whole seconds).
    """
    origin = posted['powered_off_at']
    moves = recs['vmoves']
    starts = [v['start'] for v in moves if v['start'] is not None]
    ends = [v['end'] for v in moves if v['status'] == 'succeeded'
            and v['end'] is not None]
    completed = _progress(recs, 'EvacuateInstancesTask', _COMPLETED[0])
    last = completed[-1] if completed else (max(ends) if ends else None)
    disabling = _progress(recs, 'DisableComputeServiceTask', 'Disabling')
    disabled = _progress(recs, 'DisableComputeServiceTask', 'Disabled')
    declared = disabling[0] if disabling else recs['created_at']
    return {
        'declared': phases.since(origin, declared),
        'first_evacuation': phases.since(origin, min(starts)
                                         if starts else None),
        'last_active': phases.since(origin, last),
        'declared_to_first': phases.since(declared, min(starts)
                                          if starts else None),
        'declared_to_last': phases.since(declared, last),
        'disable_task': phases.since(disabling[0] if disabling else None,
                                     disabled[0] if disabled else None),
    }


def vmha_figures(result):
    """FIGURES of one vmha recovery (a tools.bench.recovery_case result)."""
    marks = result['marks']
    declared = marks['started_at']
    return {
        'declared': declared,
        'first_evacuation': marks['first_evacuation_at'],
        'last_active': marks['last_confirmed_at'],
        'declared_to_first': phases.since(declared,
                                          marks['first_evacuation_at']),
        'declared_to_last': phases.since(declared,
                                         marks['last_confirmed_at']),
    }


def bare_figures(result):
    """Bare Nova has no declaration: its clock starts at the evacuate
    calls (the service forced down by hand first)."""
    return {'declared': None, 'first_evacuation': None, 'last_active': None,
            'declared_to_first': 0.0,
            'declared_to_last': result['seconds']}


def evacuate_actions(counts):
    """Nova's evacuations per server, summarised: "1 each", "0-2", ..."""
    values = sorted(counts.values())
    if not values:
        return 'unknown'
    if values[0] == values[-1]:
        return '%d each' % values[0]
    return '%d-%d' % (values[0], values[-1])


def row(label, tool, count, results):
    """One table row: medians over the runs that recovered every server."""
    good = [r for r in results if r['ok']]
    figures = stats.medians([r['figures'] for r in good],
                            list(FIGURES) + ['disable_task'])
    return {
        'label': label, 'tool': tool, 'count': count, 'runs': len(results),
        'ok_runs': len(good), 'figures': figures,
        'errors': [r['error'] for r in results if not r['ok']],
        'evacuate_actions': (good[0]['evacuate_actions'] if good
                             else 'unknown'),
        'recovered': ('%d/%d' % (good[0]['recovered'], count) if good else
                      ', '.join('%s/%d' % (r.get('recovered', '?'), count)
                                for r in results)),
    }


def _find(rows, label, count):
    found = [r for r in rows if r['label'] == label and r['count'] == count
             and r['ok_runs']]
    return found[0] if found else None


def ratios(rows, vmha_label='vmha level 2',
           masakari_label='Masakari default'):
    """{N: vmha / Masakari} of "power-off -> last ACTIVE" per N."""
    result = {}
    for count in sorted({r['count'] for r in rows}):
        vmha, masakari = (_find(rows, vmha_label, count),
                          _find(rows, masakari_label, count))
        if vmha and masakari:
            result[count] = stats.ratio(vmha['figures']['last_active'],
                                        masakari['figures']['last_active'])
    return result


def target(rows):
    """The issue's target, met / not met / not measured (None)."""
    name = ('vmha level 2 recovers N=%d >= %.0fx faster than Masakari '
            'default, from the same confirmed power-off'
            % (TARGET_N, TARGET_FACTOR))
    vmha = _find(rows, 'vmha level 2', TARGET_N)
    masakari = _find(rows, 'Masakari default', TARGET_N)
    if not vmha or not masakari or not vmha['figures']['last_active'] \
            or masakari['figures']['last_active'] is None:
        return {'target': name, 'met': None, 'measured': 'not measured'}
    factor = (masakari['figures']['last_active']
              / vmha['figures']['last_active'])
    return {'target': name, 'met': factor >= TARGET_FACTOR,
            'measured': 'last server ACTIVE elsewhere %.1f s (vmha level 2) '
                        'vs %.1f s (Masakari default): %.1fx' % (
                            vmha['figures']['last_active'],
                            masakari['figures']['last_active'], factor)}


def _s(value):
    return '–' if value is None else '%.1f' % value


_MET = {True: 'met', False: '**not met**', None: 'not measured'}


def table(rows, ratio_by_n):
    """The comparison table (Markdown)."""
    lines = ['| tool | N | runs | declared | 1st evacuate | last ACTIVE | '
             'declared → 1st evacuate | declared → last ACTIVE | '
             'evacuate actions per server | recovered |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        f = r['figures']
        runs = ('%d' % r['runs'] if r['runs'] == r['ok_runs']
                else '%d of %d ok' % (r['ok_runs'], r['runs']))
        lines.append('| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            r['label'], r['count'], runs, _s(f.get('declared')),
            _s(f.get('first_evacuation')), _s(f.get('last_active')),
            _s(f.get('declared_to_first')), _s(f.get('declared_to_last')),
            r['evacuate_actions'], r['recovered']))
    for count, value in sorted(ratio_by_n.items()):
        lines.append('| **vmha level 2 / Masakari default** | %d | | | | '
                     '**%s** | | | | |' % (
                         count, '–' if value is None else '%.2f' % value))
    return '\n'.join(lines)


def targets_table(found):
    return '\n'.join(['| target | measured | |', '|---|---|---|',
                      '| %s | %s | %s |' % (found['target'],
                                            found['measured'],
                                            _MET[found['met']])])


def mix_table(mix):
    """Which instance of the state mix each tool recovered (Nova's view
    after the recovery): {'rows': [{state, vmha: {...}, masakari: {...}}]}.
    """
    lines = ['| before the failure | vmha level 2 | Masakari |',
             '|---|---|---|']

    def cell(outcome):
        if outcome is None:
            return 'not run'
        text = '%s on %s, %s' % (outcome['vm_state'], outcome['host'],
                                 'recovered' if outcome['recovered']
                                 else '**not recovered**')
        if outcome['evacuations'] != 1:
            text += ' (%d evacuations)' % outcome['evacuations']
        return text
    for entry in mix['rows']:
        lines.append('| %s | %s | %s |' % (entry['state'],
                                           cell(entry.get(VMHA)),
                                           cell(entry.get(MASAKARI))))
    return '\n'.join(lines)


#: vm_states in which a guest was running (or would be, once resumed)
_RUNNING_BEFORE = ('paused', 'suspended', 'active')


def mix_note(mix):
    """Which tool left a guest that was running stopped: "recovered"
    counts where the instance is, its state says whether it runs."""
    notes = []
    for tool, name in ((VMHA, 'vmha'), (MASAKARI, 'Masakari')):
        stopped = [e['state'] for e in mix['rows']
                   if e['state'].startswith(_RUNNING_BEFORE)
                   and (e.get(tool) or {}).get('vm_state') == 'stopped']
        if stopped:
            notes.append('%s brought back stopped (not running) the '
                         'server(s) that were %s.' % (name,
                                                      ', '.join(stopped)))
    return ' '.join(notes) or ('Every server that was running, paused or '
                               'suspended came back running with both '
                               'tools.')
