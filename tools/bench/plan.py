"""Which lab cases one benchmark run is made of, in which order.

A case is one lab experiment (one reset, one failure). Repetitions of the
same experiment are interleaved with the other experiments rather than run
back to back, so that a slow minute of the shared machine does not land on
one figure only.
"""

import dataclasses

RECOVERY = 'recovery'
BASELINE = 'baseline'
MONITOR_LOAD = 'monitor_load'
RACK = 'rack'                    # tools.bench.rack_case: vmha
RACK_BASELINE = 'rack_baseline'  # the same evacuations straight at Nova
CALIBRATION = 'calibration'      # bare Nova, at most `workers` in flight

# how hostA fails in a recovery case
POWER_OFF = 'power-off'   # through its BMC, its agent SIGKILLed
HUNG = 'hung'             # nova-compute and agent SIGSTOPped, BMC still on

#: the rack case: servers on each failed host
RACK_SERVERS = 25


@dataclasses.dataclass(frozen=True)
class Case:
    kind: str
    count: int = 0
    level: int = 0
    workers: int = 0          # 0: vmha's default ([evacuation] max_workers)
    rep: int = 1
    failure: str = POWER_OFF

    @property
    def group(self):
        """What repetitions share: the experiment without its rep."""
        return dataclasses.replace(self, rep=1)

    def describe(self):
        if self.kind == RECOVERY:
            return 'level %d, %d servers, workers %s%s, run %d' % (
                self.level, self.count, self.workers or 'default',
                ', hung host' if self.failure == HUNG else '', self.rep)
        if self.kind == BASELINE:
            return 'bare Nova, %d servers, run %d' % (self.count, self.rep)
        if self.kind == CALIBRATION:
            return 'bare Nova, %d servers, at most %d in flight' % (
                self.count, self.workers)
        if self.kind in (RACK, RACK_BASELINE):
            return '%s, 2 of 6 hosts failed, %d servers each, run %d' % (
                'bare Nova' if self.kind == RACK_BASELINE else
                'level %d' % self.level, self.count, self.rep)
        return 'monitor load, %d members' % self.count


def parse_reps(text):
    """``"10:3,50:1"`` -> {10: 3, 50: 1}."""
    reps = {}
    for item in filter(None, (part.strip() for part in text.split(','))):
        size, _, count = item.partition(':')
        reps[int(size)] = int(count or 1)
        if reps[int(size)] < 1:
            raise ValueError('repetitions must be at least 1: %s' % item)
    return reps


def build(sizes, levels, reps, workers_size=None, baseline=True,
          monitor_load=True, hung=True, members=(1000,), rack=0,
          calibrate=(), calibrate_size=50):
    """The ordered cases: per size and repetition every level, then the
    bare-Nova baseline; with ``hung``, per repetition of the smallest size a
    level-2 recovery of a hung host (its detection is the figure: both
    signals stop but the BMC still says on); the single-worker recovery
    (level 2) at
    ``workers_size``, once (it is the longest case and its ratio to the
    default is large next to the spread between runs); ``rack``
    repetitions of the rack failure (tools.bench.rack_case), each followed
    by its bare-Nova twin; one calibration run (tools.bench.model) of
    ``calibrate_size`` evacuations per concurrency in ``calibrate``; the
    monitor load last, once per count of
    ``members`` (it needs no servers)."""
    cases = []
    for size in sizes:
        for rep in range(1, reps.get(size, 1) + 1):
            cases += [Case(RECOVERY, size, level, rep=rep) for level in levels]
            if hung and size == min(sizes):
                cases.append(Case(RECOVERY, size, 2, rep=rep, failure=HUNG))
            if baseline:
                cases.append(Case(BASELINE, size, rep=rep))
    if workers_size:
        cases.append(Case(RECOVERY, workers_size, 2, workers=1))
    cases += [Case(CALIBRATION, calibrate_size, workers=c)
              for c in calibrate]
    for rep in range(1, rack + 1):
        cases += [Case(RACK, RACK_SERVERS, 2, rep=rep),
                  Case(RACK_BASELINE, RACK_SERVERS, rep=rep)]
    if monitor_load:
        cases += [Case(MONITOR_LOAD, count) for count in members]
    return cases
