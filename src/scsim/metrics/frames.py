"""The frames a run hands to its user: daily metrics, final agents, events, transitions."""

from __future__ import annotations

import numpy as np
import polars as pl

from scsim.engine.compile import SCALE
from scsim.engine.state import State
from scsim.observe.stage import Events
from scsim.population import Population
from scsim.regime import Regime


def daily_frame(daily: np.ndarray, names: list[str], groups: list[str]) -> pl.DataFrame:
    """One row per (day, group), "all" first; one column per metric."""
    days, n_rows, _ = daily.shape
    frame = pl.DataFrame(daily.reshape(days * n_rows, -1), schema=names, orient="row")
    return frame.with_columns(
        pl.Series("day", np.repeat(np.arange(days), n_rows)),
        pl.Series("group", np.tile(groups, days)),
    ).select("day", "group", *names)


def summary(overall: np.ndarray, names: list[str], stocks: set[str]) -> dict[str, float]:
    """A stock's value on the last day, a flow's total over the run."""
    return {
        name: float(overall[-1, j] if name in stocks else overall[:, j].sum())
        for j, name in enumerate(names)
    }


def _enum(values: list[str], codes: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(values, dtype=object)[codes], dtype=pl.String).cast(pl.Enum(values))


def agents_frame(regime: Regime, pop: Population, st: State) -> pl.DataFrame:
    """The final state, one row per agent (the real copy)."""
    cols = {
        "agent": np.arange(pop.n, dtype=np.int64),
        "group": _enum([g.name for g in regime.groups], pop.group),
        "place": _enum([p.name for p in regime.places], pop.place),
        "household": pop.household,
        "degree": pop.degree(),
        "enrolled": st.enrolled.astype(bool),
        "score": st.score[0] / SCALE,
        "grade": _enum([g.name for g in regime.grades], st.grade[0]),
        "listed": (st.listed[0] > 0).any(axis=0),
        "days_listed": st.listed[0].max(axis=0, initial=0),
    }
    for li, lst in enumerate(regime.all_lists):
        cols[f"listed.{lst.name}"] = st.listed[0, li] > 0
    return pl.DataFrame(cols)


class EventLog:
    """Every recorded event of a run, in compact columns (22 bytes an event)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, ev: Events, day: int, applied: np.ndarray) -> None:
        if ev.attr.size:
            self.parts.append(
                (
                    ev.happened.astype(np.int32),
                    np.full(ev.attr.size, day, dtype=np.int32),
                    ev.doer.astype(np.int32),
                    ev.attr.astype(np.int32),
                    ev.beh.astype(np.uint8),
                    ev.obs.astype(np.uint8),
                    applied.astype(np.int32),
                )
            )

    def frame(self, regime: Regime) -> pl.DataFrame:
        """One row per recorded event; ``doer`` is -1 for a report of an event nobody
        committed (a false accusation)."""
        if self.parts:
            cols = [np.concatenate(col) for col in zip(*self.parts, strict=True)]
        else:
            cols = [np.zeros(0, dtype=t) for t in "i4 i4 i4 i4 u1 u1 i4".split()]
        happened, recorded, doer, agent, beh, obs, points = cols
        observers = [o.name for o in regime.observers] or ["none"]
        return pl.DataFrame(
            {
                "day_happened": happened,
                "day_recorded": recorded,
                "doer": doer.astype(np.int64),
                "agent": agent.astype(np.int64),
                "behaviour": _enum(list(regime.behaviours), beh.astype(np.int64)),
                "observer": _enum(observers, obs.astype(np.int64)),
                "false": doer != agent,
                "points": points / SCALE,
            }
        )


def transitions_frame(regime: Regime, moves: list[np.ndarray]) -> pl.DataFrame:
    """Agents whose grade changed, per day and (from, to) pair; nonzero pairs only."""
    grades = [g.name for g in regime.grades]
    cube = np.stack(moves) if moves else np.zeros((0, len(grades), len(grades)), np.int64)
    day, src, dst = np.nonzero(cube)
    return pl.DataFrame(
        {
            "day": day.astype(np.int64),
            "from_grade": _enum(grades, src),
            "to_grade": _enum(grades, dst),
            "agents": cube[day, src, dst].astype(np.int64),
        }
    )
