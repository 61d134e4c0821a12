"""A recovery's timeline as a PNG: phases, then one bar per instance.

Drawn from one measured run (the one with the median RTO), in seconds
after the failure, with the bare-Nova time laid from vmha's first evacuate
call for comparison. matplotlib is only in the bench's tox environment, so
it is imported here and nowhere else.
"""

import matplotlib

matplotlib.use('Agg')
from matplotlib import pyplot  # noqa: E402

_PHASES = (   # label, from mark, to mark, colour
    ('detection', None, 'started_at', '#d62728'),
    ('fencing', 'started_at', 'fenced_at', '#ff7f0e'),
    ('service down', None, 'service_down_at', '#9467bd'),
    ('disable + list', 'service_down_at', 'instances_listed_at', '#8c564b'),
)


def _phase_bars(marks):
    """[(label, start, length, colour)] of the phases this run recorded."""
    bars = []
    for label, start, end, colour in _PHASES:
        if label == 'service down':
            start = 'fenced_at' if marks['fenced_at'] is not None and (
                marks['fenced_at'] <= marks['service_down_at']) else (
                'started_at')
        begin = 0.0 if start is None else marks[start]
        if begin is None or marks[end] is None:
            continue
        bars.append((label, begin, marks[end] - begin, colour))
    return bars


def timeline(result, bare_seconds, title, path):
    """Write the chart of one recovery result to ``path``."""
    bars = _phase_bars(result['marks'])
    spans = result['evacuations']
    rows = len(bars) + len(spans) + (1 if bare_seconds else 0)
    fig, ax = pyplot.subplots(figsize=(9, 2.0 + 0.06 * rows))
    y = 0
    for label, begin, length, colour in bars:
        ax.barh(y, length, left=begin, height=0.8, color=colour)
        ax.text(begin + length, y, ' %s %.1f s' % (label, length),
                va='center', fontsize=8)
        y += 1
    for issued, confirmed in spans:
        if confirmed is not None:
            ax.barh(y, confirmed - issued, left=issued, height=0.8,
                    color='#1f77b4')
        y += 1
    if spans:
        ax.text(spans[0][0], len(bars) + len(spans) / 2,
                ' %d evacuations (issued -> confirmed)  ' % len(spans),
                va='center', ha='right', fontsize=8)
    if bare_seconds:
        first = result['marks']['first_evacuation_at']
        ax.barh(y, bare_seconds, left=first, height=0.8, color='#7f7f7f')
        ax.text(first + bare_seconds, y, ' bare Nova, same N: %.1f s'
                % bare_seconds, va='center', fontsize=8)
    rto = result['marks']['finished_at']
    ax.axvline(rto, color='k', linestyle='--', linewidth=0.8)
    ax.text(rto, -1, ' RTO %.1f s' % rto, fontsize=8)
    ax.set_ylim(rows, -1.5)
    ax.set_yticks([])
    ax.set_xlim(0, max(rto, (result['marks']['first_evacuation_at'] or 0)
                       + (bare_seconds or 0)) * 1.25)
    ax.set_xlabel('seconds after the failure')
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    pyplot.close(fig)
