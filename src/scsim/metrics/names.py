"""Metric names are a contract: reports, tests and comparisons address them by name.

Stocks are measured at the end of each day (a run's value is the last day's); flows
are counts per day (a run's value is their total).
"""

from __future__ import annotations

from scsim.regime import Regime

# Measured on the whole population only: NaN on the per-group rows.
OVERALL_ONLY = ("score_gini", "disparate_impact.")


def metric_names(regime: Regime) -> list[str]:
    """Every metric a run of this regime records, in a stable order."""
    return [*stock_names(regime), *flow_names(regime)]


def stock_names(regime: Regime) -> list[str]:
    return [
        "mean_score",
        *(f"grade_share.{g.name}" for g in regime.grades),
        "enrolled",
        "blacklisted",
        *(f"listed.{lst.name}" for lst in regime.all_lists),
        *(f"sanctioned.{s.name}" for s in regime.sanctions),
        *(f"rewarded.{r.name}" for r in regime.rewards),
        "wrongfully_sanctioned",
        "wrongfully_listed",
        "cured_still_listed",
        "days_to_rehabilitation",
        "score_gini",
        *(f"disparate_impact.{s.name}" for s in regime.sanctions),
    ]


def flow_names(regime: Regime) -> list[str]:
    beh = list(regime.behaviours)
    obs = [o.name for o in regime.observers]
    return [
        "list_entries",
        "list_exits",
        *(f"events_true.{b}" for b in beh),
        *(f"events_recorded.{b}" for b in beh),
        "false_attributions",
        "wrongful_penalties",
        *(f"recorded_by.{o}" for o in obs),
        *(f"false_by.{o}" for o in obs),
        "appeals_filed",
        "appeals_won",
    ]
