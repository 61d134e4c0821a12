"""All figures of one benchmark run, from the results of its cases.

The summary is what the JSON file holds and what the Markdown table and the
targets are computed from: per experiment the medians of its repetitions,
and the ratios between experiments of the same run.
"""

from tools.bench import model
from tools.bench import phases
from tools.bench import plan
from tools.bench import stats

#: the rack case's figures, failure -> ...
RACK_FIGURES = ('detection', 'first_evacuation', 'last_confirmed', 'rto')


def _of_kind(results, kind):
    return [r for r in results if r['case']['kind'] == kind]


def _groups(results):
    """{group key: [results]} in first-seen order."""
    groups = {}
    for result in results:
        case = result['case']
        key = (case['kind'], case['count'], case['level'], case['workers'],
               case.get('failure', plan.POWER_OFF))
        groups.setdefault(key, []).append(result)
    return groups


def _good(runs):
    return [r for r in runs if r['ok']]


def recovery_rows(results, baselines):
    """One row per (level, N, workers, failure): medians and the bare-Nova
    ratio."""
    rows = []
    for (kind, count, level, workers, failure), runs in _groups(
            results).items():
        if kind != plan.RECOVERY:
            continue
        good = _good(runs)
        figures = stats.medians([r['figures'] for r in good], phases.FIGURES)
        bare = baselines.get(count, {}).get('seconds')
        rows.append({
            'level': level, 'count': count, 'workers': workers,
            'failure': failure, 'runs': len(runs), 'ok_runs': len(good),
            'errors': [r['error'] for r in runs if not r['ok']],
            'figures': figures,
            'after_fencing': after_fencing(figures),
            'bare_nova': bare,
            'overhead': stats.ratio(after_fencing(figures), bare),
        })
    return sorted(rows, key=lambda r: (r['workers'] != 0,
                                       r['failure'] != plan.POWER_OFF,
                                       r['count'], r['level']))


def after_fencing(figures):
    """RTO less detection and fencing: vmha's part that Nova's evacuations
    (the bare-Nova time) are the floor of."""
    if figures.get('rto') is None or figures.get('detection') is None:
        return None
    return round(figures['rto'] - figures['detection']
                 - (figures.get('fencing') or 0.0), 3)


def baseline_rows(results):
    """{N: {runs, seconds (median), calls_seconds, microversion}}."""
    rows = {}
    for (kind, count, _level, _workers, _failure), runs in _groups(
            results).items():
        if kind != plan.BASELINE:
            continue
        good = _good(runs)
        rows[count] = {
            'count': count, 'runs': len(runs), 'ok_runs': len(good),
            'errors': [r['error'] for r in runs if not r['ok']],
            'seconds': stats.median(r['seconds'] for r in good),
            'calls_seconds': stats.median(r['calls_seconds'] for r in good),
            'microversion': good[0]['microversion'] if good else None,
        }
    return rows


def workers_row(rows):
    """Level 2 with one evacuation worker against the default, at the N
    the single-worker run used; None if it was not run."""
    rows = [r for r in rows if r.get('failure', plan.POWER_OFF)
            == plan.POWER_OFF]
    single = [r for r in rows if r['workers'] == 1 and r['level'] == 2]
    if not single:
        return None
    single = single[0]
    default = [r for r in rows if r['workers'] == 0 and r['level'] == 2
               and r['count'] == single['count']]
    default = default[0]['figures'] if default else {}
    return {
        'count': single['count'],
        'evacuation_default': default.get('evacuation'),
        'evacuation_single': single['figures']['evacuation'],
        'rto_default': default.get('rto'),
        'rto_single': single['figures']['rto'],
        'speedup': stats.ratio(single['figures']['evacuation'],
                               default.get('evacuation')),
    }


def detection(results):
    """Failure -> declared over every recovery run (agents on Redis)."""
    values = [r['figures']['detection'] for r in _good(
        _of_kind(results, plan.RECOVERY))]
    span = stats.spread(values)
    return {'runs': len(values), 'median': stats.median(values),
            'min': span[0] if span else None,
            'max': span[1] if span else None}


def cpu_rows(results):
    """Where the CPU went at the largest N: one measured run per recovery
    kind and the bare-Nova baseline (tools.bench.cpu)."""
    measured = [r for r in results if r.get('ok') and r.get('cpu')]
    if not measured:
        return []
    count = max(r['case']['count'] for r in measured)
    rows, seen = [], set()
    for run in measured:
        case = plan.Case(**run['case']).group
        if case.count != count or case in seen:
            continue
        seen.add(case)
        rows.append(dict(run['cpu'], case=case.describe().rsplit(
            ', run', 1)[0], **_cpu_case(case, run['cpu'])))
    return rows


def rack_row(results):
    """The rack case (2 of 6 hosts at once): medians of vmha's figures and
    of bare Nova's time, both from the failure; None if not run."""
    vmha = _of_kind(results, plan.RACK)
    bare = _of_kind(results, plan.RACK_BASELINE)
    if not vmha and not bare:
        return None
    good = _good(vmha)
    figures = stats.medians([r['figures'] for r in good], RACK_FIGURES)
    bare_seconds = stats.median(r['seconds'] for r in _good(bare))
    return {
        'servers': vmha[0]['case']['count'] if vmha else None,
        'runs': len(vmha), 'ok_runs': len(good),
        'bare_runs': len(bare), 'bare_ok_runs': len(_good(bare)),
        'errors': [r['error'] for r in vmha + bare if not r['ok']],
        'figures': figures,
        'last_confirmed_each': [r['figures']['last_confirmed']
                                for r in good],
        'bare_nova': bare_seconds,
        'bare_each': [r['seconds'] for r in _good(bare)],
        'ratio': stats.ratio(figures['last_confirmed'], bare_seconds),
    }


def monitor_loads(results):
    """The monitor-load runs, by member count."""
    return sorted(_of_kind(results, plan.MONITOR_LOAD),
                  key=lambda r: r.get('members') or r['case']['count'])


def calibration(results):
    """The calibration points and the model fitted to them (None when
    fewer than two concurrency levels ran)."""
    points = [model.Point(r['case']['workers'], r['case']['count'],
                          r['seconds'])
              for r in _good(_of_kind(results, plan.CALIBRATION))]
    if not points:
        return None
    rows = [{'concurrency': p.concurrency, 'count': p.count,
             'seconds': p.seconds, 'throughput': round(p.throughput, 3),
             'latency': round(p.latency, 2)} for p in points]
    try:
        curve = model.fit(points)
    except ValueError:
        return {'points': rows, 'fit': None}
    for row, point in zip(rows, points):
        row['fitted'] = round(curve.latency(point.in_flight), 2)
    return {'points': rows, 'fit': {'a': round(curve.a, 4),
                                    'b': round(curve.b, 5),
                                    'd': round(curve.d, 7)}}


def _cpu_case(case, used):
    """What the CPU row is of, and nova-api's CPU seconds per evacuation
    (issue 16: vmha's confirmation must not cost Nova much more than bare
    Nova's own evacuations)."""
    api = used['groups'].get('nova-api')
    return {'kind': case.kind, 'level': case.level, 'workers': case.workers,
            'failure': case.failure, 'count': case.count,
            'nova_api_per_evacuation': (round(api / case.count, 3)
                                        if api is not None and case.count
                                        else None),
            'nova_api_requests_per_evacuation': (
                round(sum(n for n, _ in used['nova_api_requests'].values())
                      / case.count, 1)
                if used.get('nova_api_requests') and case.count else None)}


def build(results, settings):
    """The run's summary (without targets: see tools.bench.targets)."""
    baselines = baseline_rows(results)
    rows = recovery_rows(results, baselines)
    loads = monitor_loads(results)
    default_load = [r for r in loads if r.get('members') == 1000]
    return {
        'settings': settings,
        'recovery': rows,
        'baseline': [baselines[n] for n in sorted(baselines)],
        'workers': workers_row(rows),
        'detection': detection(results),
        'monitor_load': default_load[-1] if default_load else None,
        'monitor_loads': loads,
        'rack': rack_row(results),
        'calibration': calibration(results),
        'cpu': cpu_rows(results),
    }
