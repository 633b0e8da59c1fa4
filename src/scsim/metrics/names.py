"""Metric names are a contract: reports, tests and comparisons address them by name.

Stocks are measured at the end of each day (a run's value is the last day's); flows
are counts per day (a run's value is their total).
"""

from __future__ import annotations

from scsim.regime import Regime

# Measured on the whole population only: NaN on the per-group rows.
OVERALL_ONLY = ("score_gini", "disparate_impact.", "isolation", "score_assortativity")


def has_graph_dynamics(regime: Regime) -> bool:
    """The regime says more about the network than its degree and locality: the graph
    metrics (degree, isolation, score_assortativity, ties_dropped, friend_deductions)
    are measured."""
    net = regime.network
    return bool(
        net.liability > 0
        or net.homophily > 0
        or net.degree_spread > 0
        or net.distancing is not None
        or net.friend_deductions > 0
        or net.low_friend_penalty is not None
    )


def has_responses(regime: Regime) -> bool:
    """Some behaviour responds to the regime: chilling.<b> and gaming_share are measured."""
    return any(
        b.deterrence is not None or b.chilled_by is not None or b.gaming is not None
        for b in regime.behaviours.values()
    )


def searches_outside(regime: Regime) -> bool:
    """Some observer searches faces (a matcher or a false-match rate), so a search can
    return someone outside the simulation: false_matches_outside is measured."""
    return any(o.searching for o in regime.observers)


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
        *(["degree", "isolation", "score_assortativity"] if has_graph_dynamics(regime) else []),
        *(f"chilling.{b}" for b in regime.behaviours if has_responses(regime)),
        *(["gaming_share"] if has_responses(regime) else []),
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
        *(["false_matches_outside"] if searches_outside(regime) else []),
        "wrongful_penalties",
        *(f"recorded_by.{o}" for o in obs),
        *(f"false_by.{o}" for o in obs),
        "appeals_filed",
        "appeals_won",
        *(["ties_dropped", "friend_deductions"] if has_graph_dynamics(regime) else []),
    ]
