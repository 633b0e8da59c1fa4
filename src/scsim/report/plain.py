"""A regime in plain words, for the first section of a report.

A reader of an audit should not need the YAML to know what was simulated: who starts
where, what costs points, who watches and how often they err, what the list and the
sanctions are. Every sentence is built from the resolved regime, so it cannot drift
from what the engine ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scsim.regime import Regime

DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class Table:
    """A small table for the report: a title, column heads and rows of text."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def num(value: float) -> str:
    """A number for prose: thousands separators, no needless decimals."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4g}"


def pct(share: float, digits: int = 1) -> str:
    """A share (0..1) as a percentage for prose."""
    if share != 0 and abs(share) < 10 ** (-digits) / 100:
        return f"{share * 100:.2g}%"
    return f"{share * 100:.{digits}f}%"


def describe(regime: Regime) -> list[str]:
    """The regime as a few sentences, in the order a day runs."""
    s = regime.score
    out = []
    if regime.description:
        out.append(regime.description.strip())
    bounds = []
    bounds.append(f"never below {num(s.floor)}" if s.floor is not None else "no floor")
    bounds.append(f"never above {num(s.ceiling)}" if s.ceiling is not None else "no ceiling")
    out.append(f"Everyone starts at {num(s.initial)} points ({', '.join(bounds)}).")
    grades = []
    for g in regime.grades:
        grades.append(f"{g.name} from {num(g.min)}" if g.min is not None else f"{g.name} below")
    out.append("Grades, highest first: " + "; ".join(grades) + ".")
    unwatched = [b for b in regime.behaviours if not _watchers(regime, b)]
    if unwatched:
        out.append("Nobody watches " + ", ".join(unwatched) + ", so those behaviours never score.")
    if regime.blacklist is not None:
        enter = []
        for cond in regime.blacklist.enter:
            if hasattr(cond, "on"):
                enter.append(f"a recorded {cond.on}")
            else:
                enter.append(f"{num(cond.for_days)} consecutive days in grade {cond.grade}")
        after = regime.blacklist.exit.after_days
        leave = (
            f"leave it after {num(after)} days on it (and may enter again)"
            if after is not None
            else "never leave it"
        )
        out.append(f"People enter the blacklist after {' or '.join(enter)}, and {leave}.")
    else:
        out.append("There is no blacklist.")
    for kind, acts in (("Sanctions", regime.sanctions), ("Rewards", regime.rewards)):
        if acts:
            out.append(f"{kind}: " + "; ".join(f"{a.name} {_whom(a)}" for a in acts) + ".")
    net = regime.network
    if net.liability > 0:
        out.append(
            f"Friends count: each day a score moves {pct(net.liability)} of the way to the "
            f"mean score of the person's about {num(net.degree)} friends."
        )
    else:
        out.append("Friends' scores do not count.")
    if len(regime.groups) > 1:
        parts = []
        for g in regime.groups:
            mods = [f"{b} {num(m)} times as often" for b, m in g.rate_multiplier.items() if m != 1]
            if g.false_match_multiplier != 1:
                mods.append(f"matched by mistake {num(g.false_match_multiplier)} times as often")
            parts.append(f"{g.name} {pct(g.share)}" + (f" ({', '.join(mods)})" if mods else ""))
        out.append("Population groups: " + "; ".join(parts) + ".")
    return out


def rules_table(regime: Regime) -> Table:
    """Per behaviour: how often, who watches, what it costs or earns."""
    rows = []
    for name, b in regime.behaviours.items():
        rules = [r for r in regime.rules if r.on == name]
        points = ", ".join(
            f"{r.points:+g}" + (f" (at most {r.max_per_year}/year)" if r.max_per_year else "")
            for r in rules
        )
        rows.append(
            (
                name,
                f"{b.rate * DAYS_PER_YEAR:.3g}",
                ", ".join(_watchers(regime, name)) or "nobody",
                points or "none",
            )
        )
    return Table(
        "What people do and what it costs",
        ("behaviour", "events per person-year", "watched by", "points per recorded event"),
        tuple(rows),
    )


def observers_table(regime: Regime) -> Table:
    """Per observer: view, attribution, error and delay."""
    rows = []
    for o in regime.observers:
        gallery = f"{o.gallery:,}" if o.gallery is not None else "everyone"
        p_false = 1 - (1 - o.false_match_rate) ** (o.gallery or 1)
        false = (
            f"{pct(p_false, 2)} per search of {gallery}"
            if o.false_match_rate > 0 and o.gallery is not None
            else (f"rate {o.false_match_rate:g} against everyone" if o.false_match_rate else "0")
        )
        rows.append(
            (
                o.name,
                ", ".join(o.watches),
                pct(o.coverage, 0),
                pct(o.detection, 0),
                false,
                num(o.latency_days),
                "unlimited" if o.capacity_per_day is None else f"{o.capacity_per_day:,}/day",
            )
        )
    return Table(
        "Who watches, and how they err",
        (
            "observer",
            "watches",
            "coverage",
            "detection",
            "wrong person returned",
            "delay (days)",
            "capacity",
        ),
        tuple(rows),
    )


def _watchers(regime: Regime, behaviour: str) -> list[str]:
    return [o.name for o in regime.observers if behaviour in o.watches]


def _whom(act: object) -> str:
    target = act.applies_to  # type: ignore[attr-defined]
    parts = []
    if target.grades:
        parts.append("grade" + ("s " if len(target.grades) > 1 else " ") + ", ".join(target.grades))
    if target.blacklisted:
        parts.append("the blacklisted")
    return "applies to " + " and to ".join(parts)
