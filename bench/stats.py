"""Summaries of repeated measurements: median with spread, percentiles (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], percent: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default method).

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> round(percentile(list(range(1, 101)), 99), 2)
    99.01
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median_spread(values: Sequence[float], digits: int = 1, unit: str = "") -> str:
    """``"12.3 s (11.9-13.0, 3 runs)"``; a single value has no spread.

    >>> median_spread([13.0, 11.94, 12.3], unit=" s")
    '12.3 s (11.9-13.0, 3 runs)'
    >>> median_spread([2.0], unit=" s")
    '2.0 s (1 run)'
    """
    if not values:
        return "-"
    middle = f"{statistics.median(values):.{digits}f}{unit}"
    if len(values) == 1:
        return f"{middle} (1 run)"
    return f"{middle} ({min(values):.{digits}f}-{max(values):.{digits}f}, {len(values)} runs)"
