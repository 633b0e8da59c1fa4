"""Compile a regime into the flat arrays the kernels read.

Kernels never touch pydantic objects or dicts: everything they need is here, indexed
by behaviour ``b``, observer ``o``, place ``p``, rule ``r``, grade ``k``, group ``g``,
list ``l``, list condition ``q`` and sanction ``s`` (rewards follow the sanctions in
the same table). Scores are fixed-point int32 in units of ``1/SCALE`` points, so every
sum is exact and no result depends on chunking.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scsim.core.rng import name_key
from scsim.core.units import SCALE
from scsim.regime import Regime

SCORE_LIMIT = 2**31 - 1
#: What a new ground does to a listing's term (``renew``), by code.
RENEW = ("none", "restart", "extend")
MAX_EVENTS_PER_DAY = 1 << 15  # per agent and day; the event packing has 16 bits


class Compiled(NamedTuple):
    # behaviours and observers
    n_beh: int
    beh_key: np.ndarray  # uint64[B]: stable key of the behaviour's name (common random numbers)
    beh_obs: np.ndarray  # int64[B, O]: observers watching b, in file order, padded with -1
    obs_key: np.ndarray  # uint64[O]: stable key of the observer's name
    coverage: np.ndarray  # float64[O, P]
    adaptive: np.ndarray  # bool[O]
    detection: np.ndarray  # float64[O]
    p_false: np.ndarray  # float64[O, G]: FPIR of a search of a doer of group g
    p_inside: np.ndarray  # float64[O]: chance an impostor is a simulated agent
    enrolled: np.ndarray  # float64[O]: share of agents in the gallery (1: not searching)
    attr_error: np.ndarray  # float64[O]: chance a match lands on a household member
    latency: np.ndarray  # int64[O]
    capacity: np.ndarray  # int64[O], -1 = unlimited
    queue_wait: np.ndarray  # bool[O]: over capacity, events wait instead of expiring
    accuse_rate: np.ndarray  # float64[O]: false accusations per person-day
    accuse_beh: np.ndarray  # int64[O]: the behaviour they allege, -1 = none
    fm_weight: np.ndarray  # float64[G]: who a false match lands on, relative (max 1)
    accuse_weight: np.ndarray  # float64[G]: who false accusations target, relative (max 1)
    accuse_mean: float  # share-weighted mean of the accusation multipliers
    # rules
    rule_beh: np.ndarray  # int64[R]
    rule_pts: np.ndarray  # int64[R, X]: points of the 1st, 2nd ... application this year
    rule_len: np.ndarray  # int64[R]
    rule_cap: np.ndarray  # int64[R], -1 = no yearly cap
    rule_slot: np.ndarray  # int64[R]: column of the yearly counter, -1 = none
    rule_at_most: np.ndarray  # int64[R]: the score after the event is at most this
    n_slots: int
    # score and grades
    initial: int
    floor: int
    ceiling: int
    household_unit: bool
    enrol_share: float
    grade_min: np.ndarray  # int64[K-1], fixed point, decreasing
    n_grades: int
    liability: float
    liability_down: bool  # only pull scores down (network.liability_direction: down)
    # lists: conditions q
    n_lists: int
    cond_list: np.ndarray  # int64[Q]
    cond_beh: np.ndarray  # bool[Q, B]
    cond_count: np.ndarray  # int64[Q]
    cond_within: np.ndarray  # int64[Q]
    cond_slot: np.ndarray  # int64[Q]: row of the recent-event window, -1 = count of 1
    cond_term: np.ndarray  # int64[Q]: term of a listing on this ground, -1 = never ends
    cond_serious: np.ndarray  # float64[Q]
    cond_extra: np.ndarray  # int64[Q, 2]: extra days of a serious case, uniform in [lo, hi]
    window: int  # width of the recent-event window (max count - 1)
    n_windows: int
    grade_cond: np.ndarray  # int64[E, 3]: (list, grade, consecutive days)
    list_term: np.ndarray  # int64[L]: days on the list after which agents leave, -1 never
    list_renew: np.ndarray  # int64[L]: a new ground while listed, RENEW (none, restart, extend)
    cure_rate: np.ndarray  # float64[L]
    cure_delay: np.ndarray  # int64[L]
    cure_removal: np.ndarray  # float64[L]
    cure_late: np.ndarray  # float64[L]: daily chance of a late removal after a payment
    act_ages: np.ndarray  # int64[S + R, 2]: family members' ages it falls on; (0, 255) all
    reset_score: np.ndarray  # bool[L]
    # sanctions and rewards
    active: np.ndarray  # bool[S, K, M]: s applies in (grade, mask of lists one is on)
    family: np.ndarray  # bool[S]: s falls on the household members of those it applies to
    n_sanctions: int  # the first n_sanctions rows of ``active`` are sanctions, then rewards
    wrong_tab: np.ndarray  # bool[K, M, K, M]: own sanction in the real state, not the clean
    # appeals
    appeal_rate: float
    appeal_mult: np.ndarray  # float64[G]
    appeal_delay: int
    win_if_false: float
    win_if_true: float
    undo_points: bool
    undo_listing: bool
    # the social graph during a run (engine.network)
    shun_tab: np.ndarray  # bool[K, M]: friends in (grade, list mask) are shunned
    distance_rate: float  # daily chance of dropping each tie to a shunned friend
    friend_share: float  # share of a friend's recorded deduction that lands on one
    low_friend_grade: int  # friends at grade index >= this cost points; K = none
    low_friend_points: int  # fixed point, per such friend and day


def to_fixed(points: float) -> int:
    return round(points * SCALE)


def false_match_probability(rate: float, gallery: int) -> float:
    """1 - (1 - rate) ** gallery, computed without cancellation for tiny rates."""
    return float(-np.expm1(gallery * np.log1p(-rate))) if rate < 1 else 1.0


class Searches(NamedTuple):
    """Each observer's face-search tables (see ``observer_searches``)."""

    p_false: np.ndarray
    p_inside: np.ndarray
    enrolled: np.ndarray


def observer_searches(regime: Regime, n: int) -> Searches:
    """FPIR per observer and doer group, the chance an impostor is simulated, and the
    enrolled share, for ``n`` agents standing for ``represents`` people.

    FPIR = 1 - (1 - min(1, FMR x m_g)) ** gallery; the gallery (null: represents x
    enrolled, rounded) holds represents x enrolled simulated people, so an impostor is
    one of them with chance min(1, represents x enrolled / gallery).
    """
    people = n if regime.represents is None else regime.represents
    mult = np.array([g.false_match_multiplier for g in regime.groups])
    shape = (len(regime.observers), mult.size)
    p_false, p_inside, enrolled = np.zeros(shape), np.zeros(shape[0]), np.ones(shape[0])
    for o, obs in enumerate(regime.observers):
        if not obs.searching:
            continue
        enrolled[o] = obs.enrolled
        gallery = round(people * obs.enrolled) if obs.gallery is None else obs.gallery
        if gallery > 0:
            rates = np.minimum(1.0, obs.false_match_rate * mult)
            p_false[o] = [false_match_probability(r, gallery) for r in rates]
            p_inside[o] = min(1.0, people * obs.enrolled / gallery)
    return Searches(p_false, p_inside, enrolled)


def _relative(weights: np.ndarray) -> np.ndarray:
    top = weights.max(initial=0.0)
    return weights / top if top > 0 else np.ones_like(weights)


def compile_regime(regime: Regime, n: int) -> Compiled:
    beh_names = list(regime.behaviours)
    b_index = {name: b for b, name in enumerate(beh_names)}
    k_index = {g.name: k for k, g in enumerate(regime.grades)}
    places = [p.name for p in regime.places]
    shares = np.array([g.share for g in regime.groups])
    lists = regime.all_lists
    l_index = {lst.name: li for li, lst in enumerate(lists)}

    beh_obs = np.full((len(beh_names), max(len(regime.observers), 1)), -1, dtype=np.int64)
    fill = np.zeros(len(beh_names), dtype=np.int64)
    for o, obs in enumerate(regime.observers):
        for name in obs.watches:
            b = b_index[name]
            beh_obs[b, fill[b]] = o
            fill[b] += 1
    coverage = np.zeros((len(regime.observers), len(places)))
    for o, obs in enumerate(regime.observers):
        if isinstance(obs.coverage, dict):
            for p, name in enumerate(places):
                coverage[o, p] = obs.coverage.get(name, 0.0)
        else:
            coverage[o] = obs.coverage
    accuse = [o.false_accusations for o in regime.observers]
    fm_mult = np.array([g.false_match_multiplier for g in regime.groups])
    acc_mult = np.array([g.accusation_multiplier for g in regime.groups])

    rules = regime.rules
    pts = [r.points if isinstance(r.points, list) else [r.points] for r in rules]
    width = max((len(p) for p in pts), default=1)
    rule_pts = np.array([[to_fixed(p[min(j, len(p) - 1)]) for j in range(width)] for p in pts])
    counted = [r.max_per_year is not None or len(p) > 1 for r, p in zip(rules, pts, strict=True)]
    slots = np.cumsum(counted) - 1

    conds, grade_cond = [], []
    for li, lst in enumerate(lists):
        for cond in lst.enter:
            if hasattr(cond, "grade"):
                grade_cond.append((li, k_index[cond.grade], cond.for_days))
            else:
                conds.append((li, cond))
    counts = [cond.count for _, cond in conds]
    window = max([c - 1 for c in counts], default=0)
    win_slot = np.cumsum([c > 1 for c in counts]) - 1
    cond_beh = np.zeros((len(conds), len(beh_names)), dtype=np.bool_)
    for q, (_, cond) in enumerate(conds):
        cond_beh[q, [b_index[b] for b in cond.on]] = True

    def term(li: int, days: int | None) -> int:
        after = lists[li].exit.after_days if days is None else days
        return -1 if after is None else after

    acts = [*regime.sanctions, *regime.rewards]
    n_masks = 1 << len(lists)
    mask_lists = (np.arange(n_masks)[:, None] >> np.arange(len(lists))) & 1  # [M, L]
    active = np.zeros((len(acts), len(regime.grades), n_masks), dtype=np.bool_)
    for s, act in enumerate(acts):
        target = act.applies_to
        on_lists = [l_index[name] for name in target.lists]
        if target.blacklisted:
            on_lists.append(l_index["blacklist"])
        for name in target.grades:
            active[s, k_index[name], :] = True
        if on_lists:
            active[s] |= mask_lists[:, on_lists].any(axis=1)[None, :]
    family = np.array([act.applies_to.family for act in acts], dtype=np.bool_)
    own = active[: len(regime.sanctions)] & ~family[: len(regime.sanctions), None, None]
    wrong_tab = np.any(own[:, :, :, None, None] & ~own[:, None, None, :, :], axis=0)

    appeals = regime.appeals
    score = regime.score
    net = regime.network
    shun_tab = np.zeros((len(regime.grades), n_masks), dtype=np.bool_)
    if net.distancing is not None:
        shun = net.distancing.from_
        if shun == "listed":
            shun_tab[:, 1:] = True
        elif isinstance(shun, list):
            s_index = {act.name: s for s, act in enumerate(regime.sanctions)}
            for name in shun:
                shun_tab |= active[s_index[name]]
        else:
            shun_tab[k_index[shun.low_grade] :, :] = True
    penalty = net.low_friend_penalty
    return Compiled(
        n_beh=len(beh_names),
        beh_key=np.array([name_key(name) for name in beh_names], dtype=np.uint64),
        beh_obs=beh_obs,
        obs_key=np.array([name_key("observer:" + o.name) for o in regime.observers], np.uint64),
        coverage=coverage,
        adaptive=np.array([o.adaptive for o in regime.observers], dtype=np.bool_),
        detection=np.array([o.detection for o in regime.observers], dtype=np.float64),
        **observer_searches(regime, n)._asdict(),
        attr_error=np.array([o.attribute_error for o in regime.observers], dtype=np.float64),
        latency=np.array([o.latency_days for o in regime.observers], dtype=np.int64),
        capacity=np.array(
            [-1 if o.capacity_per_day is None else o.capacity_per_day for o in regime.observers],
            dtype=np.int64,
        ),
        queue_wait=np.array([o.queue == "wait" for o in regime.observers], dtype=np.bool_),
        accuse_rate=np.array([0.0 if a is None else a.rate for a in accuse], dtype=np.float64),
        accuse_beh=np.array([-1 if a is None else b_index[a.behaviour] for a in accuse], np.int64),
        fm_weight=_relative(fm_mult),
        accuse_weight=_relative(acc_mult),
        accuse_mean=float(shares @ acc_mult),
        rule_beh=np.array([b_index[r.on] for r in rules], dtype=np.int64),
        rule_pts=rule_pts.reshape(len(rules), width).astype(np.int64),
        rule_len=np.array([len(p) for p in pts], dtype=np.int64),
        rule_cap=np.array([r.max_per_year or -1 for r in rules], dtype=np.int64),
        rule_slot=np.where(counted, slots, -1).astype(np.int64),
        rule_at_most=np.array(
            [SCORE_LIMIT if r.at_most is None else to_fixed(r.at_most) for r in rules],
            dtype=np.int64,
        ),
        n_slots=int(sum(counted)),
        initial=to_fixed(score.initial),
        floor=-SCORE_LIMIT if score.floor is None else to_fixed(score.floor),
        ceiling=SCORE_LIMIT if score.ceiling is None else to_fixed(score.ceiling),
        household_unit=score.unit == "household",
        enrol_share=float(regime.enrolment.share),
        grade_min=np.array([to_fixed(g.min) for g in regime.grades[:-1]], dtype=np.int64),
        n_grades=len(regime.grades),
        liability=float(regime.network.liability),
        liability_down=regime.network.liability_direction == "down",
        n_lists=len(lists),
        cond_list=np.array([li for li, _ in conds], dtype=np.int64),
        cond_beh=cond_beh,
        cond_count=np.array(counts, dtype=np.int64),
        cond_within=np.array([c.within_days or 0 for _, c in conds], dtype=np.int64),
        cond_slot=np.where(np.array(counts, dtype=np.int64) > 1, win_slot, -1).astype(np.int64),
        cond_term=np.array([term(li, c.term_days) for li, c in conds], dtype=np.int64),
        cond_serious=np.array([c.serious_share for _, c in conds], dtype=np.float64),
        cond_extra=np.array([list(c.serious_extra_days) for _, c in conds], np.int64).reshape(
            -1, 2
        ),
        window=window,
        n_windows=int(sum(c > 1 for c in counts)),
        grade_cond=np.array(grade_cond, dtype=np.int64).reshape(-1, 3),
        list_term=np.array([term(li, None) for li in range(len(lists))], dtype=np.int64),
        list_renew=np.array([RENEW.index(lst.renew) for lst in lists], dtype=np.int64),
        cure_rate=np.array([lst.exit.cure.rate if lst.exit.cure else 0.0 for lst in lists]),
        cure_delay=np.array(
            [lst.exit.cure.delay_days if lst.exit.cure else 0 for lst in lists], dtype=np.int64
        ),
        cure_removal=np.array(
            [lst.exit.cure.removal_probability if lst.exit.cure else 0.0 for lst in lists]
        ),
        cure_late=np.array(
            [lst.exit.cure.late_removal_rate if lst.exit.cure else 0.0 for lst in lists]
        ),
        reset_score=np.array([lst.exit.reset_score for lst in lists], dtype=np.bool_),
        active=active,
        family=family,
        act_ages=np.array(
            [a.applies_to.ages or (0, 255) for a in [*regime.sanctions, *regime.rewards]],
            dtype=np.int64,
        ).reshape(-1, 2),
        n_sanctions=len(regime.sanctions),
        wrong_tab=wrong_tab,
        appeal_rate=appeals.rate if appeals else 0.0,
        appeal_mult=np.array([g.appeal_multiplier for g in regime.groups]),
        appeal_delay=appeals.delay_days if appeals else 0,
        win_if_false=appeals.success_if_false if appeals else 0.0,
        win_if_true=appeals.success_if_true if appeals else 0.0,
        undo_points=bool(appeals and "points" in appeals.undoes),
        undo_listing=bool(appeals and "listing" in appeals.undoes),
        shun_tab=shun_tab,
        distance_rate=net.distancing.rate if net.distancing is not None else 0.0,
        friend_share=float(net.friend_deductions),
        low_friend_grade=k_index[penalty.grade] if penalty else len(regime.grades),
        low_friend_points=to_fixed(penalty.points) if penalty else 0,
    )
