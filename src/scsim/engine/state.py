"""The population's state under one regime: a struct of arrays, agent id = index.

Every array of the scored state has a leading *copy* axis: copy 0 is the real life,
copy 1 (present only when some channel can wrongly attribute an event) is the clean
counterfactual, the same life without false attributions. Copy 1 is read only where
``taint`` is set: until an agent's first false attribution both copies are equal, so
the clean one is filled in then (see ``engine.scoring``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scsim.engine import rng
from scsim.engine.compile import Compiled


class State(NamedTuple):
    score: np.ndarray  # int32[C, n], fixed point
    grade: np.ndarray  # uint8[C, n]
    gdays: np.ndarray  # uint16[C, n]: consecutive days in the current grade
    listed: np.ndarray  # int32[C, L, n]: 0 off the list, else the day count on it
    term: np.ndarray  # int32[C, L, n]: days this listing lasts, -1 = until cured or never
    cure: np.ndarray  # int16[C, L, n]: 0 not cured, -1 cured and kept, k > 0 leaves in k-1 days
    used: np.ndarray  # uint16[C, n, slots]: rule applications this year
    window: np.ndarray  # uint16[C, W, n, w]: days (+1) of recent events, for count conditions
    flags: np.ndarray  # uint8[n]: list entries called for today, bit l (real), bit 4 + l (clean)
    taint: np.ndarray  # uint8[n]: 1 once the clean copy may differ from the real one
    enrolled: np.ndarray  # uint8[n]: 1 if the agent is scored (opt-in regimes)
    track_clean: bool

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self if isinstance(a, np.ndarray))


def initial_state(c: Compiled, n: int, seed: int, can_wrong: bool) -> State:
    """Everyone at the initial score, in its grade, on no list.

    ``can_wrong``: some channel can attribute an event to someone who did not do it
    (false matches, attribute errors, false accusations); only then is there a clean
    copy to keep.
    """
    from scsim.engine.settle import grade_of

    copies = 2 if can_wrong else 1
    n_lists = c.n_lists
    score = np.full((copies, n), c.initial, dtype=np.int32)
    grade = np.full((copies, n), grade_of(c.initial, c.grade_min), dtype=np.uint8)
    # Under liability a false attribution spreads through friends' scores: track all.
    taint = np.full(n, can_wrong and c.liability > 0, dtype=np.uint8)
    return State(
        score=score,
        grade=grade,
        gdays=np.zeros((copies, n), dtype=np.uint16),
        listed=np.zeros((copies, n_lists, n), dtype=np.int32),
        term=np.full((copies, n_lists, n), -1, dtype=np.int32),
        cure=np.zeros((copies, n_lists, n), dtype=np.int16),
        used=np.zeros((copies, n, c.n_slots), dtype=np.uint16),
        window=np.zeros((copies, c.n_windows, n, c.window), dtype=np.uint16),
        flags=np.zeros(n, dtype=np.uint8),
        taint=taint,
        enrolled=enrolment(rng.stage_key(seed, 0, rng.POP_ENROL), n, c.enrol_share),
        track_clean=can_wrong,
    )


def enrolment(key: np.uint64, n: int, share: float) -> np.ndarray:
    if share >= 1.0:
        return np.ones(n, dtype=np.uint8)
    return (rng.uniforms(key, n) < share).astype(np.uint8)
