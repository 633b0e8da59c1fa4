"""The frames a run hands to its user: daily metrics, final agents, events, transitions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from scsim.core.lists import list_masks
from scsim.core.units import SCALE
from scsim.observe.stage import Events
from scsim.population import Population
from scsim.population.ages import MAX_AGE, ages
from scsim.regime import Regime

if TYPE_CHECKING:  # types only: the metrics do not import the engine
    from scsim.engine.compile import Compiled
    from scsim.engine.state import State


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


def wrongly(c: Compiled, pop: Population, st: State) -> tuple[np.ndarray, np.ndarray]:
    """Per agent: under a sanction it would not carry without a false attribution (its
    own or, for family sanctions, a household member's); on a list it would not be on."""
    n = pop.n
    if not st.track_clean:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    copy = np.where(st.taint == 1, 1, 0)
    real = (st.grade[0].astype(np.int64), list_masks(st.listed[0]))
    clean = (
        st.grade[copy, np.arange(n)].astype(np.int64),
        np.where(copy, list_masks(st.listed[1]), real[1]),
    )
    wrong = c.wrong_tab[real[0], real[1], clean[0], clean[1]]
    listed = (real[1] & ~clean[1]) != 0
    for s in np.flatnonzero(c.family[: c.n_sanctions]):
        meets_real = c.active[s, real[0], real[1]].astype(np.int64)
        meets_clean = c.active[s, clean[0], clean[1]].astype(np.int64)
        others_real = np.add.reduceat(meets_real, pop.hstart[:-1])[pop.household] - meets_real
        others_clean = np.add.reduceat(meets_clean, pop.hstart[:-1])[pop.household] - meets_clean
        lo, hi = c.act_ages[s]
        age = ages(n) if lo > 0 or hi < MAX_AGE else None
        of_age = True if age is None else (age >= lo) & (age <= hi)
        wrong |= (others_real > 0) & (others_clean == 0) & of_age
    return wrong, listed


def agents_frame(regime: Regime, c: Compiled, pop: Population, st: State) -> pl.DataFrame:
    """The final state, one row per agent (the real copy)."""
    wrong, wrong_listed = wrongly(c, pop, st)
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
    cols["wrongfully_sanctioned"] = wrong
    cols["wrongfully_listed"] = wrong_listed
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


MOVES = ["entered_by_event", "entered_by_grade", "left", "left_by_appeal"]


class ListLog:
    """Every entry onto and exit from a list, with its cause (a few bytes a move)."""

    def __init__(self, n_lists: int) -> None:
        self.n_lists = n_lists
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add_sweep(self, day: int, flags: np.ndarray) -> None:
        """Moves the settle sweep wrote into ``flags``: two bits a list (engine.settle)."""
        who = np.flatnonzero(flags)
        codes = flags[who].astype(np.int64)
        for li in range(self.n_lists):
            move = (codes >> (2 * li)) & 3
            hit = move > 0
            self._add(day, who[hit], li, move[hit] - 1)

    def add_appeals(self, day: int, agents: np.ndarray, left: np.ndarray) -> None:
        for li in range(self.n_lists):
            hit = (left >> li) & 1 == 1
            self._add(day, agents[hit], li, np.full(int(hit.sum()), 3))

    def _add(self, day: int, agents: np.ndarray, li: int, move: np.ndarray) -> None:
        if agents.size:
            self.parts.append(
                (
                    np.full(agents.size, day, dtype=np.int32),
                    agents.astype(np.int32),
                    np.full(agents.size, li, dtype=np.uint8),
                    move.astype(np.uint8),
                )
            )

    def frame(self, regime: Regime) -> pl.DataFrame:
        """One row per move: ``day``, ``agent``, ``list``, ``move`` (entered_by_event,
        entered_by_grade, left — its term ended or it was cured —, left_by_appeal)."""
        if self.parts:
            day, agent, li, move = (np.concatenate(c) for c in zip(*self.parts, strict=True))
        else:
            day, agent, li, move = (np.zeros(0, dtype=t) for t in ("i4", "i4", "u1", "u1"))
        lists = [lst.name for lst in regime.all_lists] or ["none"]
        return pl.DataFrame(
            {
                "day": day,
                "agent": agent.astype(np.int64),
                "list": _enum(lists, li.astype(np.int64)),
                "move": _enum(MOVES, move.astype(np.int64)),
            }
        ).sort("day", "agent", maintain_order=True)
