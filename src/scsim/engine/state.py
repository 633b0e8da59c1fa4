"""The population's state under one regime: a struct of arrays, agent id = index.

The ``*_c`` arrays are the clean counterfactual (the same life without false
attributions), read only where ``taint`` is set. They exist only when some observer
can falsely match; otherwise they alias the real arrays and cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from scsim.engine.compile import Compiled


@dataclass
class State:
    score: np.ndarray  # int32, fixed point
    grade: np.ndarray  # uint8
    gdays: np.ndarray  # uint16: consecutive days in the current grade
    listed: np.ndarray  # int32: 0 off the list, else the day count on it
    used: np.ndarray  # uint16[n, slots]: rule uses this year, for max_per_year
    score_c: np.ndarray
    grade_c: np.ndarray
    gdays_c: np.ndarray
    listed_c: np.ndarray
    used_c: np.ndarray
    flags: np.ndarray  # uint8: events of the day that call for listing
    taint: np.ndarray  # uint8: 1 once the clean copy may differ from the real state
    track_clean: bool

    def nbytes(self) -> int:
        arrays = [getattr(self, f.name) for f in fields(self) if f.name != "track_clean"]
        seen: set[int] = set()
        total = 0
        for a in arrays:
            if id(a) not in seen:
                seen.add(id(a))
                total += a.nbytes
        return total


def initial_state(c: Compiled, n: int) -> State:
    from scsim.engine.kernels import _grade

    k0 = _grade(c.initial, c.grade_min)
    score = np.full(n, c.initial, dtype=np.int32)
    grade = np.full(n, k0, dtype=np.uint8)
    gdays = np.zeros(n, dtype=np.uint16)
    listed = np.zeros(n, dtype=np.int32)
    used = np.zeros((n, c.n_slots), dtype=np.uint16)
    track = bool(np.any(c.p_false > 0))
    if track:
        clean = (score.copy(), grade.copy(), gdays.copy(), listed.copy(), used.copy())
    else:
        clean = (score, grade, gdays, listed, used)
    # Under liability a false attribution spreads through friends' scores: track all.
    taint = np.full(n, track and c.liability > 0, dtype=np.uint8)
    return State(score, grade, gdays, listed, used, *clean, np.zeros(n, np.uint8), taint, track)
