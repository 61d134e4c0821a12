"""Past this machine, by model: how long a rack's evacuations take.

    python -m tools.bench.model [--calibration FILE] [--instances 600]
        [--hosts 20] [--ceiling 32] [--latency S] [--scale K] [--json]

Calibration. The lab measured how long Nova takes to evacuate a batch of
servers with at most ``c`` evacuate requests in flight (``tox -e bench --
--calibrate 1,4,16,50``, bare Nova: no vmha in the loop; or any bench
records of the same kind). From each run: the throughput ``X(c)`` =
evacuations per second, and by Little's law the mean time one evacuation
takes, ``L(c) = c / X(c)``. The model fits

    L(c) = a + b*c + d*c**2          (a, b, d >= 0, least squares)

``a`` is the part of an evacuation that does not contend (RPC hops, the
rebuild itself, a confirmation poll), ``b`` what each other evacuation in
flight adds (queueing on the one nova-conductor, scheduler, API and
database), ``d`` contention that grows faster than the load (lock waits,
retries, a saturated CPU thrashing). Throughput ``X(c) = c / L(c)`` then
rises with ``c`` and, if ``d > 0``, falls past ``c* = sqrt(a / d)``.

Prediction. A rack of ``hosts`` hosts fails with ``instances`` instances;
every evacuation is independent and takes ``L(c)`` at concurrency ``c``;
a pool of ``w`` workers kept full drains ``N`` evacuations in
``N / X(w) = N * L(w) / w`` seconds (``w = min(w, N)``; the tail, when
fewer than ``w`` are left, is not modelled: it is how the calibration
runs were measured too). Compared:

* vmha's pacing, modelled as the concurrency that maximises ``X(c)`` up to
  the ceiling ``[evacuation] max_in_flight`` (found at once: the model does
  not know how fast the adaptive limit converges);
* fixed 3 workers (Masakari's ``host_failure_recovery_threads`` default,
  here as one pool for the whole rack), and 3 per failed host (Masakari
  runs one recovery flow per host notification: 60 for 20 hosts);
* fixed 32 workers (RHOSO InstanceHA's default, as the issue says).

A real cloud is not the lab: ``--latency`` replaces ``a`` by an
uncontended evacuation time of the real cloud (a real rebuild: image,
ports, volumes; the lab's fake driver spawns in no time), and ``--scale K``
models a control plane K times the lab's (K lab-sized Novas sharing the
load: ``L(c) = a + b*c/K + d*(c/K)**2``).

What it cannot know: how a real Nova's capacity compares with the lab's
(K is a guess the operator makes, not a measurement); the real rebuild
time and its spread (image caching, Neutron port binding, Cinder attach,
which dominate a real evacuation and do not contend in the same places);
the target hosts' capacity (no room means errors, not slower evacuations);
failure modes past the calibrated range (timeouts, RabbitMQ saturation,
409s); how fast vmha's adaptive limit finds its optimum; detection and
fencing (added as constants: ``--detect``, ``--fence``).
"""

import argparse
import dataclasses
import json
import sys

#: workers of the compared fixed pools (see the module doc)
MASAKARI_WORKERS = 3
INSTANCEHA_WORKERS = 32


@dataclasses.dataclass(frozen=True)
class Point:
    """One calibration run: ``count`` evacuations, at most ``concurrency``
    in flight, all confirmed ``seconds`` after the first was issued."""

    concurrency: int
    count: int
    seconds: float

    @property
    def in_flight(self):
        return min(self.concurrency, self.count)

    @property
    def throughput(self):
        return self.count / self.seconds

    @property
    def latency(self):
        """Mean seconds per evacuation (Little's law)."""
        return self.in_flight / self.throughput


@dataclasses.dataclass(frozen=True)
class Curve:
    """L(c) = a + b*c/scale + d*(c/scale)**2: seconds per evacuation."""

    a: float
    b: float
    d: float = 0.0
    scale: float = 1.0

    def latency(self, c):
        per = c / self.scale
        return self.a + self.b * per + self.d * per * per

    def throughput(self, c):
        return c / self.latency(c)

    def best(self, ceiling):
        """The concurrency in 1..ceiling with the highest throughput (the
        lowest one on a tie)."""
        return max(range(1, ceiling + 1),
                   key=lambda c: (self.throughput(c), -c))

    def on(self, latency=None, scale=1.0):
        """This curve for another cloud: its own uncontended latency, a
        control plane ``scale`` times the lab's."""
        return dataclasses.replace(
            self, a=self.a if latency is None else latency,
            scale=self.scale * scale)


def _solve(rows, values):
    """Least squares by the normal equations (small, well-posed: at most
    three unknowns); None if singular."""
    n = len(rows[0])
    ata = [[sum(r[i] * r[j] for r in rows) for j in range(n)]
           for i in range(n)]
    atb = [sum(r[i] * v for r, v in zip(rows, values)) for i in range(n)]
    # Gauss-Jordan elimination with partial pivoting
    m = [row + [b] for row, b in zip(ata, atb)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col])]
    return [m[i][n] / m[i][i] for i in range(n)]


def fit(points):
    """The Curve that fits the points' latencies best with a, b, d >= 0.

    Tries every subset of the terms and keeps the non-negative solution
    with the smallest squared error: a negative coefficient would mean
    faster evacuations under more load, which no data should teach.
    """
    if len({p.in_flight for p in points}) < 2:
        raise ValueError('calibration needs at least two concurrency '
                         'levels, got %s' % sorted({p.in_flight
                                                    for p in points}))
    terms = {'a': lambda c: 1.0, 'b': lambda c: c, 'd': lambda c: c * c}
    best = None
    for names in (('a', 'b', 'd'), ('a', 'b'), ('a', 'd'), ('b', 'd'),
                  ('a',), ('b',)):
        if len(names) > len({p.in_flight for p in points}):
            continue
        rows = [[terms[t](p.in_flight) for t in names] for p in points]
        values = [p.latency for p in points]
        solved = _solve(rows, values)
        if solved is None or any(v < 0 for v in solved):
            continue
        coef = dict(dict.fromkeys('abd', 0.0), **dict(zip(names, solved)))
        curve = Curve(coef['a'], coef['b'], coef['d'])
        error = sum((curve.latency(p.in_flight) - p.latency) ** 2
                    for p in points)
        if best is None or error < best[0] - 1e-12:
            best = (error, curve)
    if best is None:
        raise ValueError('no non-negative fit for %s' % (points,))
    return best[1]


def drain_seconds(curve, count, workers):
    """Seconds for ``workers`` to evacuate ``count`` instances: ``count /
    X(w)``, every evacuation alike, the pool always full."""
    if count <= 0:
        return 0.0
    workers = max(1, min(workers, count))
    return count / curve.throughput(workers)


def predict(curve, instances, hosts, ceiling, detect=0.0, fence=0.0):
    """{strategy: {workers, seconds, throughput}} for one rack failure;
    ``seconds`` counts from the failure (detection and fencing added)."""
    strategies = {
        'vmha (best concurrency <= %d)' % ceiling: curve.best(ceiling),
        'fixed %d (Masakari default, one pool)' % MASAKARI_WORKERS:
            MASAKARI_WORKERS,
        'fixed %d per host (Masakari, %d flows)' % (
            MASAKARI_WORKERS, hosts): MASAKARI_WORKERS * hosts,
        'fixed %d (RHOSO InstanceHA)' % INSTANCEHA_WORKERS:
            INSTANCEHA_WORKERS,
    }
    return {name: {
        'workers': workers,
        'seconds': round(detect + fence
                         + drain_seconds(curve, instances, workers), 1),
        'throughput': round(curve.throughput(min(workers, instances)), 3),
    } for name, workers in strategies.items()}


def load_points(path):
    """Calibration points from a JSON file: a list of {concurrency, count,
    seconds}, or a benchmark results file (its calibration runs)."""
    with open(path) as f:
        data = json.load(f)
    runs = data.get('runs', data) if isinstance(data, dict) else data
    points = []
    for run in runs:
        if 'case' in run:
            if run['case']['kind'] != 'calibration' or not run.get('ok'):
                continue
            run = {'concurrency': run['case']['workers'],
                   'count': run['case']['count'],
                   'seconds': run['seconds']}
        points.append(Point(int(run['concurrency']), int(run['count']),
                            float(run['seconds'])))
    return points


def parser():
    p = argparse.ArgumentParser(prog='python -m tools.bench.model',
                                description=__doc__.split('\n')[0])
    p.add_argument('--calibration', default='doc/bench/scale/results.json',
                   help='calibration points, or a benchmark results file '
                        'with calibration runs (default: the committed '
                        'scale run)')
    p.add_argument('--instances', type=int, default=600)
    p.add_argument('--hosts', type=int, default=20)
    p.add_argument('--ceiling', type=int, default=32,
                   help='[evacuation] max_in_flight')
    p.add_argument('--latency', type=float,
                   help='uncontended seconds per evacuation on the real '
                        'cloud (default: the lab\'s fitted a)')
    p.add_argument('--scale', type=float, default=1.0,
                   help='control-plane capacity as a multiple of the lab')
    p.add_argument('--detect', type=float, default=0.0)
    p.add_argument('--fence', type=float, default=0.0)
    p.add_argument('--json', action='store_true')
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    points = load_points(args.calibration)
    lab = fit(points)
    curve = lab.on(args.latency, args.scale)
    result = {
        'calibration': [dataclasses.asdict(p) for p in points],
        'fit': dataclasses.asdict(lab),
        'curve': dataclasses.asdict(curve),
        'best_concurrency': curve.best(args.ceiling),
        'prediction': predict(curve, args.instances, args.hosts,
                              args.ceiling, args.detect, args.fence),
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print('lab fit: L(c) = %.3f + %.4f*c + %.6f*c^2 s per evacuation'
          % (lab.a, lab.b, lab.d))
    for p in points:
        print('  c=%-3d N=%-3d %.1f s: measured %.2f s, fitted %.2f s' % (
            p.concurrency, p.count, p.seconds, p.latency,
            lab.latency(p.in_flight)))
    print('%d instances, %d hosts (a=%.1f s, scale %.1f):' % (
        args.instances, args.hosts, curve.a, curve.scale))
    for name, row in result['prediction'].items():
        print('  %-40s %4d in flight  %8.1f s  (%.2f evacuations/s)' % (
            name, row['workers'], row['seconds'], row['throughput']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
