"""The benchmark's figures of one recovery, from vmha's recorded timestamps.

vmha records naive-UTC instants per phase (``vmha.db.api.PHASES``) and per
evacuation (issued, confirmed). The benchmark knows one more instant, the
failure it caused, and expresses every recorded instant as seconds after it,
so that runs can be compared and charted on one axis.
"""

from tools.lab.access import monitors as lab_monitors
from vmha import metrics

#: the recovery's instants the benchmark reads, in flow order
MARKS = ('detected_at', 'started_at', 'fenced_at', 'service_down_at',
         'disabled_at', 'instances_listed_at', 'first_evacuation_at',
         'last_confirmed_at', 'finished_at')

#: figure -> what it means; the order of the result table's columns
FIGURES = {
    'detection': 'failure -> failure declared (started_at)',
    'fencing': 'declared -> power-off confirmed (fenced_at)',
    'service_down': 'fenced (or declared) -> Nova reports the service down',
    'first_evacuation': 'failure -> first evacuate call issued',
    'last_confirmed': 'failure -> last instance confirmed',
    'evacuation': 'first evacuate issued -> last instance confirmed',
    'rto': 'failure -> recovery finished (finished_at)',
}


#: seconds since the epoch of vmha's naive-UTC instants (None stays None)
epoch = lab_monitors.epoch


def since(origin, instant):
    """``instant - origin`` in seconds (epoch floats), None if missing."""
    if origin is None or instant is None:
        return None
    return round(instant - origin, 3)


def relative_marks(failed_at, marks):
    """{mark: seconds after the failure} of a recovery's epoch instants."""
    return {name: since(failed_at, marks.get(name)) for name in MARKS}


def figures(rel):
    """The benchmark's figures (FIGURES) from ``relative_marks``.

    The phases are vmha's own (:func:`vmha.metrics.phase_seconds`, which
    the monitor's duration histograms observe), measured from the failure
    the benchmark caused instead of the failure vmha first saw: "service
    down" from the confirmed power-off at levels 2 and 3, from the
    declaration at level 1 (which fences only if force-down fails, after
    it).
    """
    spans = metrics.phase_seconds(dict(rel, detected_at=0.0))

    def figure(phase):
        return None if phase not in spans else round(spans[phase], 3)

    return {
        'detection': figure('detection'),
        'fencing': figure('fencing'),
        'service_down': figure('service_down'),
        'first_evacuation': figure('first_evacuation'),
        'last_confirmed': figure('last_confirmed'),
        'evacuation': since(rel['first_evacuation_at'],
                            rel['last_confirmed_at']),
        'rto': figure('total'),
    }


def evacuation_spans(failed_at, evacuations):
    """[(issued, confirmed)] seconds after the failure, by issue time;
    instances never issued are left out."""
    spans = [(since(failed_at, issued), since(failed_at, confirmed))
             for issued, confirmed in evacuations if issued is not None]
    return sorted(spans, key=lambda span: span[0])
