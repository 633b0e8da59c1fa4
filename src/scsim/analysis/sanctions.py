"""Who is under which sanction at the end of a run, agent by agent.

The engine keeps each agent's final grade and list memberships (``listed.<list>``),
and the regime says which grades and lists bring each sanction (``applies_to``),
and whether it falls on the agent or, with ``family``, on the other members of the
agent's household. That is all a paired comparison needs, so the flags are derived
here, with the engine's rule, instead of stored per agent; a test holds them equal
to the engine's ``sanctioned.<s>`` counts.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from scsim.regime import Regime

NEEDED = ("grade",)  # plus ``listed.<list>`` (or ``listed``) and ``household`` per rule


def meets_expr(applies_to: Any, columns: Collection[str]) -> pl.Expr:
    """True for an agent who meets ``applies_to``'s condition: in any of its grades,
    or on any of its lists (``blacklisted`` is the list named ``blacklist``).

    A run stored before named lists has one ``listed`` flag, the blacklist's.
    """
    expr = pl.lit(False)
    if applies_to.grades:
        expr = expr | pl.col("grade").cast(pl.String).is_in(list(applies_to.grades))
    lists = [*getattr(applies_to, "lists", ()), *(["blacklist"] if applies_to.blacklisted else [])]
    for name in lists:
        if f"listed.{name}" in columns:
            expr = expr | pl.col(f"listed.{name}")
        elif name == "blacklist" and "listed" in columns:
            expr = expr | pl.col("listed")
    return expr


def sanction_expr(applies_to: Any, columns: Collection[str]) -> pl.Expr:
    """True for an agent the sanction falls on. With ``family`` it falls on the other
    members of the household of each agent who meets the condition, and not on that
    agent (unless another member meets it too)."""
    meets = meets_expr(applies_to, columns)
    if not getattr(applies_to, "family", False):
        return meets
    count = meets.cast(pl.Int64)
    return (count.sum().over("household") - count) > 0


def sanction_flags(regime: Regime, agents: pl.DataFrame) -> pl.DataFrame:
    """One boolean column per sanction of ``regime`` (named after it), one row per
    agent of ``agents``, in the same order."""
    columns = set(agents.columns)
    return agents.select(
        sanction_expr(s.applies_to, columns).alias(s.name) for s in regime.sanctions
    )


def any_sanction(regime: Regime, agents: pl.DataFrame) -> pl.Series:
    """Agents under at least one sanction (an agent under two counts once)."""
    flags = sanction_flags(regime, agents)
    if flags.width == 0:
        return pl.Series("sanctioned", [False] * agents.height)
    return flags.select(pl.any_horizontal(pl.all()).alias("sanctioned")).to_series()
