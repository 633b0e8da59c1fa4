"""Confidence intervals over replicate seeds.

A replicate is one more seed of the same run; metrics vary across seeds, so a single
run's value is one draw. The 95% t-interval of the mean across K replicates says how
far that draw may be from what the regime does on average. For a paired comparison
the same interval is taken over the per-seed differences B - A, which common random
numbers make much narrower than the two runs' own intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

LEVEL = 0.95


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """``(mean, lo, hi)`` of the Student t confidence interval for the mean.

    NaN bounds when there are fewer than two values or any value is not finite (an
    undefined metric in one replicate leaves the interval undefined, not narrower).
    Zero spread gives ``lo == hi == mean``.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0 or not np.isfinite(x).all():
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if x.size < 2:
        return (mean, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    if sd == 0.0:
        return (mean, mean, mean)
    from scipy.stats import t

    half = float(t.ppf(0.5 + level / 2, x.size - 1)) * sd / math.sqrt(x.size)
    return (mean, mean - half, mean + half)


def summary_intervals(
    summaries: Sequence[dict[str, float]], level: float = LEVEL
) -> dict[str, tuple[float, float, float]]:
    """Per metric ``(mean, lo, hi)`` across replicate summaries (metrics of the first)."""
    return {
        name: t_interval([s.get(name, math.nan) for s in summaries], level) for name in summaries[0]
    }
