"""Medians of repeated runs and ratios between figures.

One run of a lab case is noisy (two cores shared by a whole cloud), so each
figure is the median of its repetitions; a missing value (a phase a level
skips, a failed run) is left out rather than counted as zero.
"""

import statistics


def median(values):
    """Median of the values that are not None; None if there are none."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return round(statistics.median(present), 3)


def medians(records, keys):
    """{key: median of record[key] over ``records``} (dicts)."""
    return {key: median(r.get(key) for r in records) for key in keys}


def ratio(numerator, denominator):
    """``numerator / denominator`` rounded, None if either is missing or
    the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, 2)


def spread(values):
    """(min, max) of the values that are not None, or None."""
    present = [v for v in values if v is not None]
    return (min(present), max(present)) if present else None
