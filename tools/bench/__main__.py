"""Run vmha's recovery benchmark against the lab: ``tox -e bench``.

Runs the cases of tools.bench.plan one by one (each holding the lab lock),
then writes doc/bench/results.json (every figure and every raw run),
doc/bench/results.md, one timeline chart per level, and rewrites the
README's benchmark section. Exits 1 if a case failed (its figures are left
out, and the table says so).
"""

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import sys
import time

import pytest

from vmha.conf import evacuation as evacuation_opts

from tools.lab.access import lab as lablib
from tools.bench import baseline
from tools.bench import lablock
from tools.bench import monitor_load
from tools.bench import plan
from tools.bench import rack_case
from tools.bench import recovery_case
from tools.bench import report
from tools.bench import summary as summary_mod
from tools.bench import targets
from tools.bench import vmhaconf

ROOT = pathlib.Path(lablib.ROOT)


def parser():
    p = argparse.ArgumentParser(prog='python -m tools.bench',
                                description=__doc__.split('\n')[0])
    p.add_argument('--sizes', default=None,
                   help='server counts (default: 10,50; 200 is optional; '
                        'with --compare: 10, as 10,50 takes about 35 min '
                        'of lab time)')
    p.add_argument('--levels', default='1,2,3')
    p.add_argument('--reps', default='10:2,50:2',
                   help='repetitions per size, SIZE:REPS,... (default '
                        '10:2,50:2; a size not listed runs once)')
    p.add_argument('--workers-size', type=int, default=50,
                   help='N of the 1-worker level-2 run (0: skip it)')
    p.add_argument('--no-baseline', action='store_true')
    p.add_argument('--no-monitor-load', action='store_true')
    p.add_argument('--no-hung', action='store_true',
                   help='skip the hung-host case (level 2, smallest size)')
    p.add_argument('--members', default='1000',
                   help='tooz members of the monitor-load case, one case '
                        'per count (default 1000; 10,10000 compares 10 '
                        'with 10,000 members: about 4 min)')
    p.add_argument('--rack', type=int, default=0, metavar='REPS',
                   help='repetitions of the rack case: 2 of 6 hosts fail '
                        'together with 25 servers each, vmha level 2 and '
                        'bare Nova (default 0; about 5 min per repetition)')
    p.add_argument('--calibrate', default='', metavar='C,C,...',
                   help='bare-Nova runs of 50 evacuations with at most C '
                        'in flight, for tools.bench.model (e.g. 1,4,16,50; '
                        'about 2 min each)')
    p.add_argument('--load-seconds', type=float, default=60.0)
    p.add_argument('--work-dir', type=pathlib.Path,
                   help='raw outputs (default: bench-results/<time>)')
    p.add_argument('--doc-dir', type=pathlib.Path,
                   default=ROOT / 'doc' / 'bench')
    p.add_argument('--readme', type=pathlib.Path, default=ROOT / 'README.md',
                   help='README whose benchmark section is rewritten')
    p.add_argument('--no-readme', action='store_true')
    p.add_argument('--results', type=pathlib.Path, metavar='RESULTS_JSON',
                   help='run nothing: summarise the raw results.json of an '
                        'earlier run (its work dir) with this code')
    p.add_argument('--compare', choices=('masakari',),
                   help='instead of the cases above: vmha against Masakari '
                        '(needs tools/lab/lab up --with masakari; see '
                        'tools/bench/compare_masakari.py)')
    p.add_argument('--no-mix', action='store_true',
                   help='--compare: skip the instance-state mix')
    return p


def _ints(text):
    return [int(v) for v in text.split(',') if v.strip()]


def say(start, message):
    print('== [%5.0fs] %s' % (time.monotonic() - start, message),
          file=sys.stderr, flush=True)


def run_case(case, workdir, lab_info, waits, args):
    """One case's result; a failure is recorded, not raised."""
    started, waited = time.monotonic(), len(waits)
    try:
        if case.kind == plan.RECOVERY:
            result = recovery_case.run(case, workdir, lab_info, waits)
        elif case.kind == plan.BASELINE:
            result = baseline.run(case, workdir, lab_info, waits)
        elif case.kind == plan.CALIBRATION:
            result = baseline.calibrate(case, workdir, lab_info, waits)
        elif case.kind in (plan.RACK, plan.RACK_BASELINE):
            result = rack_case.run(case, workdir, lab_info, waits)
        else:
            result = monitor_load.run(case, workdir, lab_info, waits,
                                      args.load_seconds)
    except (Exception, pytest.fail.Exception) as err:
        result = {'ok': False, 'error': '%s: %s' % (type(err).__name__,
                                                    str(err)[-2000:])}
    result['case'] = dataclasses.asdict(case)
    result['wall_seconds'] = round(time.monotonic() - started, 1)
    result['lock_wait_seconds'] = round(sum(waits[waited:]), 1)
    return result


def _default_workers():
    return [o for o in evacuation_opts.OPTS if o.name == 'max_workers'][
        0].default


def settings(args, lab_info, results, wall, waits):
    recoveries = [r for r in results if r.get('microversion')
                  and 'marks' in r]
    return dict(
        vmhaconf.timings(),
        date=datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'),
        command=('tox -e bench' if os.environ.get('TOX_ENV_NAME') == 'bench'
                 else 'python -m tools.bench ' + ' '.join(sys.argv[1:])),
        wall_minutes=round(wall / 60, 1),
        lock_wait_minutes=round(sum(waits) / 60, 1),
        service_down_time=lab_info['service_down_time'],
        report_interval=lab_info['report_interval'],
        confirm_interval=baseline.POLL,
        max_workers_default=_default_workers(),
        microversion=(recoveries[0]['microversion'] if recoveries
                      else None),
        reps={size: plan.parse_reps(args.reps).get(size, 1)
              for size in _ints(args.sizes)},
        members=_ints(args.members), rack=args.rack)


def draw_charts(summary, results, doc_dir):
    """One timeline per level, from the median-RTO run at the largest N
    with the default workers; returns {level: file name}."""
    from tools.bench import chart
    doc_dir.mkdir(parents=True, exist_ok=True)
    charts = {}
    good = [r for r in results if r['ok'] and r['case']['kind']
            == plan.RECOVERY and not r['case']['workers']
            and r['case'].get('failure', plan.POWER_OFF) == plan.POWER_OFF]
    for level in sorted({r['case']['level'] for r in good}):
        runs = [r for r in good if r['case']['level'] == level]
        count = max(r['case']['count'] for r in runs)
        runs = sorted((r for r in runs if r['case']['count'] == count),
                      key=lambda r: r['figures']['rto'])
        median_run = runs[(len(runs) - 1) // 2]
        bare = [b['seconds'] for b in summary['baseline']
                if b['count'] == count]
        name = 'timeline-level%d.png' % level
        chart.timeline(
            median_run, bare[0] if bare else None,
            'level %d, %d servers: RTO %.1f s (median of %d)' % (
                level, count, median_run['figures']['rto'], len(runs)),
            doc_dir / name)
        charts[level] = name
    return charts


def _command():
    return ('tox -e bench' if os.environ.get('TOX_ENV_NAME') == 'bench'
            else 'python -m tools.bench') + (
        ' -- ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else '')


def compare_main(args, work, lab_info, start):
    """``--compare masakari``: tools.bench.compare_masakari."""
    from tools.bench import compare_masakari
    summary = compare_masakari.run(
        _ints(args.sizes or compare_masakari.DEFAULT_SIZES), work,
        lab_info, lambda m: say(start, m),
        mix=not args.no_mix)
    date = datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y-%m-%d %H:%M UTC')
    print(compare_masakari.write(summary, args.doc_dir,
                                 None if args.no_readme else args.readme,
                                 date, _command()))
    say(start, 'comparison done; raw outputs in %s' % work)
    return 0 if all(r['ok'] for r in summary['runs']) else 1


def main(argv=None):
    args = parser().parse_args(argv)
    start = time.monotonic()
    work = args.work_dir or ROOT / 'bench-results' / time.strftime(
        '%Y%m%d-%H%M%S')
    work.mkdir(parents=True, exist_ok=True)
    lab_info = json.loads(lablib.lab('info'))
    if args.compare:
        return compare_main(args, work, lab_info, start)
    args.sizes = args.sizes or '10,50'
    cases = plan.build(
        _ints(args.sizes), _ints(args.levels), plan.parse_reps(args.reps),
        args.workers_size if args.workers_size in _ints(args.sizes) else 0,
        baseline=not args.no_baseline,
        monitor_load=not args.no_monitor_load, hung=not args.no_hung,
        members=_ints(args.members), rack=args.rack,
        calibrate=_ints(args.calibrate))
    waits, results = [], []
    if args.results:
        results, cases = json.loads(args.results.read_text()), []
    for number, case in enumerate(cases, 1):
        say(start, '%d/%d %s' % (number, len(cases), case.describe()))
        results.append(run_case(case, work / ('%02d-%s' % (
            number, case.kind)), lab_info, waits, args))
        last = results[-1]
        say(start, '   %s in %.0fs (%.0fs of them waiting for the lab)' % (
            'ok' if last['ok'] else 'FAILED: %s' % last['error'],
            last['wall_seconds'], last['lock_wait_seconds']))
        (work / 'results.json').write_text(json.dumps(results, indent=1))
    if cases:
        with lablock.held(waits):
            lablib.lab('reset')
    summary = summary_mod.build(results, settings(
        args, lab_info, results, time.monotonic() - start, waits))
    summary['targets'] = targets.evaluate(summary)
    summary['charts'] = draw_charts(summary, results, args.doc_dir)
    summary['runs'] = results
    print(report.write(summary, args.doc_dir,
                       None if args.no_readme else args.readme))
    say(start, 'benchmark done; raw outputs in %s' % work)
    return 0 if all(r['ok'] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
