"""Reductions behind the metrics that are more than a count."""

from __future__ import annotations

import numpy as np


def gini_from_histogram(values: np.ndarray, counts: np.ndarray) -> float:
    """Gini coefficient of a distribution given as sorted bin values and counts.

    Uses G = 2 * sum(rank * x) / (n * sum(x)) - (n + 1) / n over the sorted sample,
    with the ranks of a bin's members summed in closed form. Exact when every member
    of a bin has the bin's value (integer scores in 1-point bins).
    """
    n = counts.sum()
    total = float(values @ counts)
    if n == 0 or total == 0:
        return 0.0
    before = np.cumsum(counts) - counts
    rank_sum = counts * before + counts * (counts + 1) / 2
    return float(2 * (values @ rank_sum) / (n * total) - (n + 1) / n)


def disparate_impact(sanctioned: np.ndarray, size: np.ndarray) -> float:
    """Sanction rate of the most affected group over that of the least affected.

    NaN when nobody is sanctioned; infinite when some group is sanctioned and another,
    non-empty, is not.
    """
    rates = sanctioned[size > 0] / size[size > 0]
    if rates.size == 0 or rates.max() == 0:
        return float("nan")
    return float(rates.max() / rates.min()) if rates.min() > 0 else float("inf")
