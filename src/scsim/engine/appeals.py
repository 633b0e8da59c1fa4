"""Appeals: a recorded deduction or listing may be contested and, some days later, undone.

Who appeals and who wins are drawn when the event is recorded (keyed by the event), so
the same event meets the same fate in a paired run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from scsim.core import rng
from scsim.engine.compile import Compiled
from scsim.observe.stage import Events


class Appeals:
    """Appeals filed and waiting for their decision day."""

    def __init__(self, c: Compiled, group: np.ndarray, seed: int) -> None:
        self.c, self.group, self.seed = c, group, seed
        self.due: dict[int, tuple[np.ndarray, ...]] = {}

    def file(self, day: int, ev: Events, applied: np.ndarray, listing: np.ndarray) -> np.ndarray:
        """Appeal today's deductions and listings; returns the appeals filed per event."""
        c = self.c
        if c.appeal_rate <= 0 or ev.attr.size == 0:
            return np.zeros(ev.attr.size, dtype=np.bool_)
        u = _draws(rng.stage_key(self.seed, day, rng.APPEAL), ev.attr)
        wrong = ev.attr != ev.doer
        chance = c.appeal_rate * c.appeal_mult[self.group[ev.attr]]
        filed = ((applied < 0) | (listing != 0)) & (u[:, 0] < chance)
        won = filed & (u[:, 1] < np.where(wrong, c.win_if_false, c.win_if_true))
        if filed.any():
            self.due.setdefault(day + c.appeal_delay, []).append(
                (ev.attr[won], applied[won], listing[won], wrong[won])
            )
        return filed

    def decide(self, day: int, st, pop, exits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Undo what today's won appeals undo.

        Returns the agents whose appeal was won and, for each, the mask of the lists it
        left because of it. ``exits[g, l]`` receives (agents of group g leaving list l,
        their days on it).
        """
        parts = self.due.pop(day, [])
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        agent, points, listing, wrong = (np.concatenate(col) for col in zip(*parts, strict=True))
        left = np.zeros(agent.size, dtype=np.int64)
        _undo(
            self.c, st, agent, points, listing, wrong, pop.hstart, pop.household, pop.group,
            exits, left,
        )  # fmt: skip
        return agent, left


@njit(cache=True)
def _draws(key, attr):
    out = np.empty((attr.size, 2))
    for t in range(attr.size):
        h = rng.draw(rng.agent_base(key, attr[t]), np.uint64(t))
        out[t, 0] = rng.unit(h)
        out[t, 1] = rng.unit(rng.mix64(h))
    return out


@njit(cache=True)
def _undo(c, st, agent, points, listing, wrong, hstart, household, group, exits, left):
    """Give back the points and end the listings of won appeals (every scored member)."""
    for t in range(agent.size):
        a = agent[t]
        lo, hi = a, a + 1
        if c.household_unit:
            lo, hi = hstart[household[a]], hstart[household[a] + 1]
        for m in range(lo, hi):
            for copy in range(2 if st.track_clean else 1):
                if copy == 1 and (wrong[t] or not st.taint[m]):
                    continue
                if c.undo_points:
                    s = np.int64(st.score[copy, m]) - points[t]
                    st.score[copy, m] = max(min(s, c.ceiling), c.floor)
                if not c.undo_listing:
                    continue
                for li in range(c.n_lists):
                    if (listing[t] >> li) & 1 and st.listed[copy, li, m] > 0:
                        if copy == 0:
                            exits[group[m], li, 0] += 1
                            exits[group[m], li, 1] += st.listed[copy, li, m]
                            if m == a:
                                left[t] |= 1 << li
                        st.listed[copy, li, m] = 0
                        st.cure[copy, li, m] = 0
                        st.term[copy, li, m] = -1
