"""The benchmark's figures of one recovery, from vmha's recorded timestamps.

vmha records naive-UTC instants per phase (``vmha.db.api.PHASES``) and per
evacuation (issued, confirmed). The benchmark knows one more instant, the
failure it caused, and expresses every recorded instant as seconds after it,
so that runs can be compared and charted on one axis.
"""

from tests.functional import lab_monitors

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

    "Service down" is measured from what made it possible: the confirmed
    power-off at levels 2 and 3, the declaration at level 1 (which fences
    only if force-down fails, after it).
    """
    fenced = rel['fenced_at']
    down = rel['service_down_at']
    isolated_from = (fenced if fenced is not None and down is not None
                     and fenced <= down else rel['started_at'])
    return {
        'detection': rel['started_at'],
        'fencing': since(rel['started_at'], fenced),
        'service_down': since(isolated_from, down),
        'first_evacuation': rel['first_evacuation_at'],
        'last_confirmed': rel['last_confirmed_at'],
        'evacuation': since(rel['first_evacuation_at'],
                            rel['last_confirmed_at']),
        'rto': rel['finished_at'],
    }


def evacuation_spans(failed_at, evacuations):
    """[(issued, confirmed)] seconds after the failure, by issue time;
    instances never issued are left out."""
    spans = [(since(failed_at, issued), since(failed_at, confirmed))
             for issued, confirmed in evacuations if issued is not None]
    return sorted(spans, key=lambda span: span[0])
