"""A regime in plain words, for the first section of a report.

A reader of an audit should not need the YAML to know what was simulated: who starts
where, what costs points, who watches and how often they err, what the list and the
sanctions are. Every sentence is built from the resolved regime, so it cannot drift
from what the engine ran.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


def count(n: float, one: str, many: str) -> str:
    """``1 person``, ``2 people``: a count with its noun."""
    return f"{num(n)} {one if n == 1 else many}"


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
    if len(grades) == 1:
        out.append(f"One grade, {regime.grades[0].name}: everyone is in it.")
    else:
        out.append("Grades, highest first: " + "; ".join(grades) + ".")
    if getattr(s, "unit", "person") == "household":
        out.append("The scored unit is the household: members share one score.")
    unwatched = [b for b in regime.behaviours if not _watchers(regime, b)]
    if unwatched:
        out.append("Nobody watches " + ", ".join(unwatched) + ", so those behaviours never score.")
    lists = getattr(regime, "all_lists", None)
    if lists is None:  # a regime from before named lists
        lists = [regime.blacklist] if regime.blacklist is not None else []
    for lst in lists:
        out.append(_list_sentence(lst))
    if not lists:
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
        points = ", ".join(_rule_words(r) for r in regime.rules if r.on == name)
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


def _impostors(regime: Regime, o) -> str:
    """How often a search that does not return its doer returns someone else (the
    FPIR of docs/regime-format.md, at group multiplier 1), and against whom."""
    if o.false_match_rate <= 0:
        return "0"
    gallery = o.gallery
    if gallery is None and regime.represents is not None:
        gallery = round(regime.represents * o.enrolled)
    enrolled = f"; {pct(o.enrolled, 0)} enrolled" if o.enrolled < 1 else ""
    if gallery is None:
        return f"rate {o.false_match_rate:g} against everyone enrolled{enrolled}"
    fpir = -math.expm1(gallery * math.log1p(-o.false_match_rate))
    return f"{pct(fpir, 2)} of searches missing the doer, against {gallery:,}{enrolled}"


def observers_table(regime: Regime) -> Table:
    """Per observer: view, attribution, error and delay."""
    rows = []
    for o in regime.observers:
        false = _impostors(regime, o)
        coverage = o.coverage if isinstance(o.coverage, int | float) else None
        rows.append(
            (
                o.name,
                ", ".join(o.watches),
                pct(coverage, 0) if coverage is not None else "by place",
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


def _whom(act: Any) -> str:
    target = act.applies_to
    parts = []
    if target.grades:
        parts.append("grade" + ("s " if len(target.grades) > 1 else " ") + ", ".join(target.grades))
    if target.blacklisted:
        parts.append("the blacklisted")
    parts += [f"those on {name}" for name in getattr(target, "lists", ())]
    words = "applies to " + " and to ".join(parts)
    if getattr(target, "family", False):
        words += ", and falls on the other members of their households instead"
    return words


def _points(points: Any) -> str:
    if isinstance(points, list | tuple):
        return ", then ".join(f"{p:+g}" for p in points) + " (escalating)"
    return f"{points:+g}"


def _rule_words(rule: Any) -> str:
    words = _points(rule.points)
    if rule.max_per_year:
        words += f" (at most {rule.max_per_year}/year)"
    if getattr(rule, "at_most", None) is not None:
        words += f" (then the score is at most {num(rule.at_most)})"
    return words


def _list_sentence(lst: Any) -> str:
    """How people enter and leave one list, in one sentence."""
    grounds = []
    for cond in lst.enter:
        if hasattr(cond, "grade"):
            days = "a day" if cond.for_days == 1 else f"{num(cond.for_days)} consecutive days"
            grounds.append(f"{days} in grade {cond.grade}")
            continue
        on = cond.on if isinstance(cond.on, list | tuple) else [cond.on]
        count = getattr(cond, "count", 1)
        what = " or ".join(on)
        if count > 1:
            within = getattr(cond, "within_days", None)
            grounds.append(
                f"{count} recorded {what} events" + (f" within {within} days" if within else "")
            )
        else:
            grounds.append(f"a recorded {what}")
    after = lst.exit.after_days
    leave = (
        f"leave it after {num(after)} days on it (and may enter again)"
        if after is not None
        else "never leave it at the end of a term"
    )
    cure = getattr(lst.exit, "cure", None)
    if cure is not None:
        leave += ", or earlier once they cure"
    name = "the blacklist" if lst.name == "blacklist" else f"the list {lst.name}"
    return f"People enter {name} after {' or '.join(grounds)}, and {leave}."
