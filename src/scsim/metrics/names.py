"""Metric names are a contract: reports, tests and comparisons address them by name.

Stocks are measured at the end of each day (a run's value is the last day's); flows
are counts per day (a run's value is their total).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from scsim.regime import Regime


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


class Metric(NamedTuple):
    """One metric family, declared once: everything but its computation (in
    ``engine.record``) derives from here."""

    family: str  # the name, or the part before the dot: grade_share -> grade_share.<g>
    kind: str  # "stock" (the last day's value counts) or "flow" (days add up)
    over: str = ""  # one metric per: grades, lists, sanctions, rewards, behaviours, observers
    overall_only: bool = False  # measured on the whole population (NaN on group rows)
    per_capita: bool = False  # a count divided by the group's size (a mean or a share)
    when: Callable[[Regime], bool] | None = None  # measured only for such regimes
    section: str = "other"  # where the CLI's summary lists it


def _always(_: Regime) -> bool:
    return True


SCORE, GRADES, LISTS = "score", "grades", "list, sanctions, rewards"
ERRORS, EVENTS, TIES = "errors", "events", "behaviour and ties"

#: Every metric family, stocks then flows, in the order of a run's columns.
METRICS: tuple[Metric, ...] = (
    Metric("mean_score", "stock", per_capita=True, section=SCORE),
    Metric("grade_share", "stock", "grades", per_capita=True, section=GRADES),
    Metric("enrolled", "stock"),
    Metric("blacklisted", "stock", section=LISTS),
    Metric("listed", "stock", "lists"),
    Metric("sanctioned", "stock", "sanctions", section=LISTS),
    Metric("rewarded", "stock", "rewards", section=LISTS),
    Metric("wrongfully_sanctioned", "stock", section=ERRORS),
    Metric("wrongfully_listed", "stock"),
    Metric("cured_still_listed", "stock"),
    Metric("days_to_rehabilitation", "stock"),
    Metric("score_gini", "stock", overall_only=True, section=SCORE),
    Metric("disparate_impact", "stock", "sanctions", overall_only=True, section=ERRORS),
    Metric("degree", "stock", per_capita=True, when=has_graph_dynamics),
    Metric("isolation", "stock", overall_only=True, when=has_graph_dynamics, section=TIES),
    Metric("score_assortativity", "stock", overall_only=True, when=has_graph_dynamics),
    Metric("chilling", "stock", "behaviours", when=has_responses, section=TIES),
    Metric("gaming_share", "stock", when=has_responses),
    Metric("list_entries", "flow"),
    Metric("list_exits", "flow"),
    Metric("events_true", "flow", "behaviours", section=EVENTS),
    Metric("events_recorded", "flow", "behaviours", section=EVENTS),
    Metric("false_attributions", "flow", section=ERRORS),
    Metric("false_matches_outside", "flow", when=searches_outside, section=ERRORS),
    Metric("wrongful_penalties", "flow", section=ERRORS),
    Metric("recorded_by", "flow", "observers"),
    Metric("false_by", "flow", "observers"),
    Metric("appeals_filed", "flow"),
    Metric("appeals_won", "flow"),
    Metric("ties_dropped", "flow", when=has_graph_dynamics),
    Metric("friend_deductions", "flow", when=has_graph_dynamics),
)

#: Families measured on the whole population only (the per-group rows hold NaN); a
#: name starts with one of these (``str.startswith`` takes the tuple).
OVERALL_ONLY = tuple(m.family + ("." if m.over else "") for m in METRICS if m.overall_only)
#: Families whose per-group counts are divided by the group's size.
PER_CAPITA = frozenset(m.family for m in METRICS if m.per_capita)
#: The CLI summary's sections, in order: (title, families).
SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    (title, tuple(m.family for m in METRICS if m.section == title))
    for title in (SCORE, GRADES, LISTS, ERRORS, EVENTS, TIES)
]


def family(name: str) -> str:
    """A metric name's family: ``grade_share.A`` -> ``grade_share``."""
    return name.split(".", 1)[0]


def _members(regime: Regime, over: str) -> list[str]:
    return {
        "grades": lambda: [g.name for g in regime.grades],
        "lists": lambda: [lst.name for lst in regime.all_lists],
        "sanctions": lambda: [x.name for x in regime.sanctions],
        "rewards": lambda: [x.name for x in regime.rewards],
        "behaviours": lambda: list(regime.behaviours),
        "observers": lambda: [o.name for o in regime.observers],
    }[over]()


def _names(regime: Regime, kind: str) -> list[str]:
    out: list[str] = []
    for m in METRICS:
        if m.kind != kind or not (m.when or _always)(regime):
            continue
        out += [f"{m.family}.{x}" for x in _members(regime, m.over)] if m.over else [m.family]
    return out


def metric_names(regime: Regime) -> list[str]:
    """Every metric a run of this regime records, in a stable order."""
    return [*stock_names(regime), *flow_names(regime)]


def stock_names(regime: Regime) -> list[str]:
    return _names(regime, "stock")


def flow_names(regime: Regime) -> list[str]:
    return _names(regime, "flow")
