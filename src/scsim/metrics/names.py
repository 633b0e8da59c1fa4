"""Metric names are a contract: reports, tests and comparisons address them by name.

Stocks are measured at the end of each day (a run's value is the last day's); flows
are counts per day (a run's value is their total).
"""

from __future__ import annotations

import numpy as np

from scsim.regime import Regime


def metric_names(regime: Regime) -> list[str]:
    """Every metric a run of this regime records, in a stable order."""
    beh = list(regime.behaviours)
    obs = [o.name for o in regime.observers]
    return [
        *stock_names(regime),
        "list_entries",
        "list_exits",
        *(f"events_true.{b}" for b in beh),
        *(f"events_recorded.{b}" for b in beh),
        "false_attributions",
        "wrongful_penalties",
        *(f"recorded_by.{o}" for o in obs),
        *(f"false_by.{o}" for o in obs),
    ]


def stock_names(regime: Regime) -> list[str]:
    return [
        "mean_score",
        *(f"grade_share.{g.name}" for g in regime.grades),
        "blacklisted",
        *(f"sanctioned.{s.name}" for s in regime.sanctions),
        *(f"rewarded.{r.name}" for r in regime.rewards),
        "wrongfully_sanctioned",
        "score_gini",
        *(f"disparate_impact.{s.name}" for s in regime.sanctions),
    ]


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
