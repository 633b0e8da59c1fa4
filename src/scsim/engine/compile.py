"""Compile a regime into the flat arrays the kernels read.

Kernels never touch pydantic objects or dicts: everything they need is here, indexed
by behaviour ``b``, observer ``o``, rule ``r``, grade ``k``, group ``g`` and sanction
``s`` (rewards follow the sanctions in the same table). Scores are fixed-point int32 in
units of ``1/SCALE`` points, so every sum is exact and no result depends on chunking.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scsim.engine.rng import name_key
from scsim.regime import Regime

SCALE = 256
SCORE_LIMIT = 2**31 - 1
MAX_EVENTS_PER_DAY = 1 << 15  # per agent and behaviour; the candidate packing has 16 bits


class Compiled(NamedTuple):
    n_beh: int
    beh_key: np.ndarray  # uint64[B]: stable key of the behaviour's name (common random numbers)
    beh_obs: np.ndarray  # int64[B, O]: observers watching b, in file order, padded with -1
    obs_key: np.ndarray  # uint64[O]: stable key of the observer's name
    coverage: np.ndarray  # float64[O]
    detection: np.ndarray  # float64[O]
    p_false: np.ndarray  # float64[O]: chance a search returns someone else
    latency: np.ndarray  # int64[O]
    capacity: np.ndarray  # int64[O], -1 = unlimited
    rule_beh: np.ndarray  # int64[R]
    rule_pts: np.ndarray  # int64[R], fixed point
    rule_cap: np.ndarray  # int64[R], -1 = no yearly cap
    rule_slot: np.ndarray  # int64[R]: column of the yearly counter, -1 = none
    n_slots: int
    initial: int
    floor: int
    ceiling: int
    grade_min: np.ndarray  # int64[K-1], fixed point, decreasing
    n_grades: int
    has_list: bool
    enter_beh: np.ndarray  # bool[B]
    enter_grade: np.ndarray  # int64[E]
    enter_days: np.ndarray  # int64[E]
    exit_after: int  # -1 = never
    active: np.ndarray  # bool[S, K, 2]: sanction or reward s applies in (grade, listed)
    n_sanctions: int  # the first n_sanctions rows of ``active`` are sanctions, then rewards
    wrong_tab: np.ndarray  # bool[K, 2, K, 2]: a sanction in the real state, not the clean one
    liability: float
    fm_mult: np.ndarray  # float64[G]


def to_fixed(points: float) -> int:
    return round(points * SCALE)


def false_match_probability(rate: float, gallery: int) -> float:
    """1 - (1 - rate) ** gallery, computed without cancellation for tiny rates."""
    return float(-np.expm1(gallery * np.log1p(-rate))) if rate < 1 else 1.0


def compile_regime(regime: Regime, n: int) -> Compiled:
    beh_names = list(regime.behaviours)
    b_index = {name: b for b, name in enumerate(beh_names)}
    n_obs = len(regime.observers)
    grade_names = [g.name for g in regime.grades]
    k_index = {name: k for k, name in enumerate(grade_names)}

    beh_obs = np.full((len(beh_names), max(n_obs, 1)), -1, dtype=np.int64)
    fill = np.zeros(len(beh_names), dtype=np.int64)
    for o, obs in enumerate(regime.observers):
        for name in obs.watches:
            b = b_index[name]
            beh_obs[b, fill[b]] = o
            fill[b] += 1

    gallery = [max(n - 1, 1) if obs.gallery is None else obs.gallery for obs in regime.observers]
    caps = [r.max_per_year for r in regime.rules]
    slots = np.cumsum([c is not None for c in caps]) - 1

    bl = regime.blacklist
    enter_beh = np.zeros(len(beh_names), dtype=np.bool_)
    enter_grade, enter_days = [], []
    for cond in bl.enter if bl else []:
        if hasattr(cond, "on"):
            enter_beh[b_index[cond.on]] = True
        else:
            enter_grade.append(k_index[cond.grade])
            enter_days.append(cond.for_days)

    acts = [*regime.sanctions, *regime.rewards]
    sanc_grades = np.zeros((len(acts), len(grade_names)), dtype=np.bool_)
    sanc_listed = np.zeros(len(acts), dtype=np.bool_)
    for s, act in enumerate(acts):
        target = act.applies_to
        if target == "blacklisted":
            sanc_listed[s] = True
        else:
            sanc_listed[s] = target.blacklisted
            for name in target.grades:
                sanc_grades[s, k_index[name]] = True

    active = sanc_grades[:, :, None] | (sanc_listed[:, None, None] & np.array([False, True]))
    sanctions = active[: len(regime.sanctions)]
    wrong_tab = np.any(sanctions[:, :, :, None, None] & ~sanctions[:, None, None, :, :], axis=0)
    score = regime.score
    return Compiled(
        n_beh=len(beh_names),
        beh_key=np.array([name_key(name) for name in beh_names], dtype=np.uint64),
        beh_obs=beh_obs,
        obs_key=np.array([name_key("observer:" + o.name) for o in regime.observers], np.uint64),
        coverage=np.array([o.coverage for o in regime.observers], dtype=np.float64),
        detection=np.array([o.detection for o in regime.observers], dtype=np.float64),
        p_false=np.array(
            [
                false_match_probability(o.false_match_rate, g)
                for o, g in zip(regime.observers, gallery, strict=True)
            ],
            dtype=np.float64,
        ),
        latency=np.array([o.latency_days for o in regime.observers], dtype=np.int64),
        capacity=np.array(
            [-1 if o.capacity_per_day is None else o.capacity_per_day for o in regime.observers],
            dtype=np.int64,
        ),
        rule_beh=np.array([b_index[r.on] for r in regime.rules], dtype=np.int64),
        rule_pts=np.array([to_fixed(r.points) for r in regime.rules], dtype=np.int64),
        rule_cap=np.array([-1 if c is None else c for c in caps], dtype=np.int64),
        rule_slot=np.where([c is not None for c in caps], slots, -1).astype(np.int64),
        n_slots=sum(c is not None for c in caps),
        initial=to_fixed(score.initial),
        floor=-SCORE_LIMIT if score.floor is None else to_fixed(score.floor),
        ceiling=SCORE_LIMIT if score.ceiling is None else to_fixed(score.ceiling),
        grade_min=np.array([to_fixed(g.min) for g in regime.grades[:-1]], dtype=np.int64),
        n_grades=len(grade_names),
        has_list=bl is not None,
        enter_beh=enter_beh,
        enter_grade=np.array(enter_grade, dtype=np.int64),
        enter_days=np.array(enter_days, dtype=np.int64),
        exit_after=-1 if bl is None or bl.exit.after_days is None else bl.exit.after_days,
        active=active,
        n_sanctions=len(regime.sanctions),
        wrong_tab=wrong_tab,
        liability=float(regime.network.liability),
        fm_mult=np.array([g.false_match_multiplier for g in regime.groups], dtype=np.float64),
    )
