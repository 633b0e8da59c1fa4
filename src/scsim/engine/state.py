"""The population's state under one regime: a struct of arrays, agent id = index.

Every array of the scored state has a leading *copy* axis: copy 0 is the real life,
copy 1 (present only when some channel can wrongly attribute an event) is the clean
counterfactual, the same life without false attributions. Copy 1 is read only where
``taint`` is set: until an agent's first false attribution both copies are equal, so
the clean one is filled in then (see ``engine.scoring``).

Bytes per agent are kept small (``docs/performance.md``, "Bytes per agent"): a day
count on a list fits 16 bits (runs last at most ``MAX_DAYS`` = 36,500 days, and the
count saturates at 65,535), a term 16 bits unless the regime's terms exceed 32,767
days, and yearly rule counts 8 bits unless a cap or an escalation needs more.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scsim.core import rng
from scsim.engine.compile import Compiled


class State(NamedTuple):
    score: np.ndarray  # int32[C, n], fixed point
    grade: np.ndarray  # uint8[C, n]
    gdays: np.ndarray  # uint16[C, n]: consecutive days in the current grade
    listed: np.ndarray  # uint16[C, L, n]: 0 off the list, else the day count on it
    term: np.ndarray  # int16 or int32 [C, L, n]: days this listing lasts, -1 = until cured or never
    cure: np.ndarray  # int16[C, L, n]: 0 not cured, -1 cured and kept, k > 0 leaves in k-1 days
    used: np.ndarray  # uint8 or uint16 [C, n, slots]: rule applications this year (saturating)
    window: np.ndarray  # uint16[C, W, n, w]: days (+1) of recent events, for count conditions
    flags: np.ndarray  # uint8[n]: list entries called for today, bit l (real), bit 4 + l (clean)
    taint: np.ndarray  # uint8[n]: 1 once the clean copy may differ from the real one
    enrolled: np.ndarray  # uint8[n]: 1 if the agent is scored (opt-in regimes)
    track_clean: bool
    used_max: int  # the count at which ``used`` saturates (its dtype's maximum)

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
    used_dtype = used_type(c)
    return State(
        score=score,
        grade=grade,
        gdays=np.zeros((copies, n), dtype=np.uint16),
        listed=np.zeros((copies, n_lists, n), dtype=np.uint16),
        term=np.full((copies, n_lists, n), -1, dtype=term_type(c)),
        cure=np.zeros((copies, n_lists, n), dtype=np.int16),
        used=np.zeros((copies, n, c.n_slots), dtype=used_dtype),
        window=np.zeros((copies, c.n_windows, n, c.window), dtype=np.uint16),
        flags=np.zeros(n, dtype=np.uint8),
        taint=taint,
        enrolled=enrolment(rng.stage_key(seed, 0, rng.POP_ENROL), n, c.enrol_share),
        track_clean=can_wrong,
        used_max=int(np.iinfo(used_dtype).max),
    )


def term_type(c: Compiled) -> type:
    """int16 when every term a listing can get (with a serious case's extra days) fits,
    else int32; -1 means the listing has no term."""
    longest = max(
        int(c.list_term.max(initial=0)),
        int((c.cond_term + c.cond_extra[:, 1]).max(initial=0)) if c.cond_term.size else 0,
    )
    return np.int16 if longest <= np.iinfo(np.int16).max else np.int32


def used_type(c: Compiled) -> type:
    """uint8 when the yearly counts matter only below 255: every cap is below it and
    no escalation is longer (a count saturates, and past the last step of an escalation
    or a cap its exact value changes nothing)."""
    caps = c.rule_cap[c.rule_slot >= 0]
    lens = c.rule_len[c.rule_slot >= 0]
    small = caps.max(initial=0) < 255 and lens.max(initial=0) <= 255
    return np.uint8 if small else np.uint16


def enrolment(key: np.uint64, n: int, share: float) -> np.ndarray:
    if share >= 1.0:
        return np.ones(n, dtype=np.uint8)
    return (rng.uniforms(key, n) < share).astype(np.uint8)
