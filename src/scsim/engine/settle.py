"""The dense stages: couple, grade, list and sanction every agent, and reduce the stocks.

One sweep over the population a day, parallel over blocks of agents. Sanctions depend
only on (grade, the lists one is on), so the sweep counts agents per (group, grade,
list mask) and the record stage turns counts into sanction counts. Every per-block
reduction is an integer sum, so no result depends on the block size.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.core import rng
from scsim.engine import proc_network
from scsim.engine.scoring import CLEAN_BIT
from scsim.population import ages, procedural  # inlined: docs/internals.md, "Numba's cache"

#: Added to a list's index for the late-removal draw, apart from the payment draw's.
LATE_SALT = 1 << 20

# After the sweep, ``flags`` holds each agent's list moves of the day, two bits a list.
BY_EVENT, BY_GRADE, LEFT = 1, 2, 3


class Tallies:
    """Per-block counts the sweep writes, summed by the record stage."""

    def __init__(self, nblocks: int, n_groups: int, n_grades: int, n_lists: int) -> None:
        masks = 1 << n_lists
        self.sum_score = np.zeros((nblocks, n_groups), dtype=np.int64)
        self.states = np.zeros((nblocks, n_groups, n_grades, masks), dtype=np.int64)
        self.wrongful = np.zeros((nblocks, n_groups), dtype=np.int64)
        self.wrongly_listed = np.zeros((nblocks, n_groups), dtype=np.int64)
        self.cured = np.zeros((nblocks, n_groups), dtype=np.int64)
        # entries, exits, days on the list of those who left, per list
        self.moves = np.zeros((nblocks, n_groups, max(n_lists, 1), 3), dtype=np.int64)
        self.trans = np.zeros((nblocks, n_grades, n_grades), dtype=np.int64)
        self.smin = np.zeros(nblocks, dtype=np.int64)
        self.smax = np.zeros(nblocks, dtype=np.int64)

    def as_tuple(self) -> tuple[np.ndarray, ...]:
        return (
            self.sum_score, self.states, self.wrongful, self.wrongly_listed, self.cured,
            self.moves, self.trans, self.smin, self.smax,
        )  # fmt: skip


@njit(inline="always", cache=True)
def grade_of(s, grade_min):
    for k in range(grade_min.size):
        if s >= grade_min[k]:
            return k
    return grade_min.size


@njit(inline="always", cache=True)
def _clamp(s, lo, hi):
    return max(min(np.int64(s), hi), lo)


def couple(c, st, chunk, old, indptr, indices, proc=None):
    """Network liability: each score moves ``liability`` of the way to its friends' mean.

    Reads yesterday's-and-today's-points scores from ``old`` (a snapshot, so the order
    of agents does not matter; agent-major, [n, copies], so that a friend's two copies
    are one cache line: the far friends' reads are the stage's cost) and writes
    clamped, coupled scores. A stage of its own: its
    neighbour reads are the most expensive memory access of the day, paid only when
    liability is on. ``proc``: a procedural graph (``population.procedural``), whose
    friends are computed here instead of read from ``indptr`` and ``indices``.
    """
    if proc is None:
        _couple(c, st, chunk, old, indptr, indices)
    else:
        _couple_proc(c, st, chunk, old, proc.keys, proc.n, proc.n_local, proc.gone)


@njit(parallel=True, cache=True)
def _couple(c, st, chunk, old, indptr, indices):
    n = indptr.size - 1
    for blk in prange(-(-n // chunk)):
        _couple_block(c, st, blk * chunk, min(n, (blk + 1) * chunk), old, indptr, indices)


@njit(parallel=True, cache=True)
def _couple_proc(c, st, chunk, old, keys, n, n_local, gone):
    for blk in prange(-(-n // chunk)):
        stop = min(n, (blk + 1) * chunk)
        _couple_proc_block(c, st, blk * chunk, stop, old, keys, n, n_local, gone)


#: Agents whose far friends are computed before any of their scores is read (so the
#: reads, cache misses, overlap instead of waiting on each friend's hashes in turn).
_BATCH = 256


@njit(cache=True)
def _couple_proc_block(c, st, start, stop, old, keys, n, n_local, gone):
    # As _couple_block; each friend is computed once and read in both copies: the
    # lattice as i -+ d, the far rounds through their matchings, a batch at a time;
    # ties whose bit is set in ``gone`` were dropped (distancing).
    score, taint, track, enrolled = st.score, st.taint, st.track_clean, st.enrolled
    lo, hi, liability, down = c.floor, c.ceiling, c.liability, c.liability_down
    h = n_local // 2
    far = np.empty((_BATCH, keys.size), dtype=np.int64)
    for first in range(start, stop, _BATCH):
        last = min(stop, first + _BATCH)
        for i in range(first, last):
            for k in range(keys.size):
                far[i - first, k] = procedural.far(keys[k], n, i)
        for i in range(first, last):
            if not enrolled[i]:
                continue
            both = track and taint[i]
            tot0 = np.int64(0)
            tot1 = np.int64(0)
            live = 0
            for d in range(-h, h + 1):
                if d == 0 or proc_network.is_gone(gone, i, proc_network.lattice_round(h, d)):
                    continue
                j = procedural.lattice(n, i, d)
                tot0 += _clamp(old[j, 0], lo, hi)
                if both:
                    tot1 += _clamp(old[j, 1], lo, hi)
                live += 1
            for k in range(keys.size):
                j = far[i - first, k]
                if j >= 0 and not proc_network.is_gone(gone, i, n_local + k):
                    tot0 += _clamp(old[j, 0], lo, hi)
                    if both:
                        tot1 += _clamp(old[j, 1], lo, hi)
                    live += 1
            _pull(score, old, i, both, tot0, tot1, live, lo, hi, liability, down)


@njit(cache=True)
def _couple_block(c, st, start, stop, old, indptr, indices):
    # As _couple_proc_block: each friend is read once for both copies, from the
    # agent-major snapshot (a friend's two copies share a cache line).
    score, taint, track, enrolled = st.score, st.taint, st.track_clean, st.enrolled
    lo, hi, liability, down = c.floor, c.ceiling, c.liability, c.liability_down
    for i in range(start, stop):
        if not enrolled[i]:  # not scored: friends' scores do not move it either
            continue
        both = track and taint[i]
        tot0 = np.int64(0)
        tot1 = np.int64(0)
        live = 0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j >= 0:  # -1: a tie dropped during the run
                tot0 += _clamp(old[j, 0], lo, hi)
                if both:
                    tot1 += _clamp(old[j, 1], lo, hi)
                live += 1
        _pull(score, old, i, both, tot0, tot1, live, lo, hi, liability, down)


@njit(inline="always", cache=True)
def _pull(score, old, i, both, tot0, tot1, live, lo, hi, liability, down):
    """Move agent i's score (and its clean copy's, if kept) ``liability`` of the way to
    its friends' mean (sums ``tot0`` and ``tot1`` over ``live`` friends); with ``down``
    only when that mean is lower: friends pull a score down, never up."""
    for copy in range(2 if both else 1):
        s = _clamp(old[i, copy], lo, hi)
        if live > 0:
            tot = tot1 if copy == 1 else tot0
            step = np.int64(np.round(liability * (tot / live - s)))
            s += min(step, np.int64(0)) if down else step
        score[copy, i] = s


@njit(parallel=True, cache=True)
def snapshot(score, old, chunk):
    """``old[i, copy] = score[copy, i]``: the scores couple reads, agent-major."""
    n = score.shape[1]
    for blk in prange(-(-n // chunk)):
        for i in range(blk * chunk, min(n, (blk + 1) * chunk)):
            for copy in range(score.shape[0]):
                old[i, copy] = score[copy, i]


@njit(inline="always", cache=True)
def _settle_one(
    copy, i, key_cure, moves, blk, gr, count,
    score, grade, gdays, listed, term, cure, flags, enrolled,
    floor, ceiling, initial, grade_min, grade_cond, list_term,
    cure_rate, cure_delay, cure_removal, cure_late, reset_score,
):  # fmt: skip
    """One agent's day in one copy of the state.

    Returns the new and the former grade, the mask of lists it is on, the mask of
    lists it is on though cured, and its list moves (two bits a list, ``BY_EVENT``,
    ``BY_GRADE`` or ``LEFT``).

    Lists: a listed agent counts its days, may cure (pay) and then leave after a delay
    with some probability (else, each later day, with the late-removal chance), and
    leaves when its term ends; leaving restarts the
    consecutive-days count of grade rules and may reset the score. An unlisted agent
    enters on the events flagged by the score stage, or on a grade held long enough
    (enrolled agents only).
    """
    s = _clamp(score[copy, i], floor, ceiling)
    k = grade_of(s, grade_min)
    was = grade[copy, i]
    gd = min(np.int64(gdays[copy, i]) + 1, 65535) if k == was else 1
    mask = 0
    cured = 0
    moved = 0
    flag = (flags[i] >> (CLEAN_BIT * copy)) & 0x0F
    for li in range(cure_rate.size):
        ld = np.int64(listed[copy, li, i])
        if ld > 0:
            ld = min(ld + 1, 65535)  # listed is uint16 (engine.state)
            cu = np.int64(cure[copy, li, i])
            if cu == 0 and cure_rate[li] > 0.0:
                h = rng.draw(rng.agent_base(key_cure, i), np.uint64(li))
                if rng.unit(h) < cure_rate[li]:
                    cu = cure_delay[li] + 1 if rng.unit(rng.mix64(h)) < cure_removal[li] else -1
            leave = False
            if cu > 0:
                cu -= 1
                leave = cu == 0
            elif cu < 0 and cure_late[li] > 0.0:  # paid, not removed: a late removal
                h = rng.draw(rng.agent_base(key_cure, i), np.uint64(LATE_SALT + li))
                if rng.unit(h) < cure_late[li]:
                    cu = 0
                    leave = True
            if term[copy, li, i] >= 0 and ld > term[copy, li, i]:
                leave = True
            if leave:
                if count:
                    moves[blk, gr, li, 1] += 1
                    moves[blk, gr, li, 2] += ld - 1
                moved |= LEFT << (2 * li)
                ld, cu, gd = 0, 0, 0
                if reset_score[li]:
                    s = initial
                    k = grade_of(s, grade_min)
            cure[copy, li, i] = cu
            if cu != 0 and ld > 0:
                cured |= 1 << li
        else:
            enter = (flag >> li) & 1 == 1
            if enter:
                moved |= BY_EVENT << (2 * li)
            elif enrolled[i]:
                for e in range(grade_cond.shape[0]):
                    if grade_cond[e, 0] == li and k == grade_cond[e, 1]:
                        if gd >= grade_cond[e, 2] and not enter:
                            enter = True
                            term[copy, li, i] = list_term[li]
                            moved |= BY_GRADE << (2 * li)
            if enter:
                ld = 1
                cure[copy, li, i] = 0
                if count:
                    moves[blk, gr, li, 0] += 1
        listed[copy, li, i] = ld
        if ld > 0:
            mask |= 1 << li
    score[copy, i] = s
    grade[copy, i] = k
    gdays[copy, i] = gd
    return k, was, mask, cured, moved


@njit(parallel=True, cache=True)
def settle(c, st, chunk, group, key_cure, tallies):
    """The dense sweep: every agent's day after the score and couple stages (grade,
    lists, sanctions), and the day's stocks."""
    n = group.size
    for blk in prange(tallies[0].shape[0]):
        _settle_block(c, st, blk * chunk, min(n, (blk + 1) * chunk), group, key_cure, tallies, blk)


@njit(cache=True)
def _settle_block(c, st, start, stop, group, key_cure, tallies, blk):
    # The parallel loop's body lives in its own function (numba 0.68 loses some writes
    # made through tuple arguments straight in a prange body), and it unpacks the
    # tuples once: reading a tuple's array inside the loop costs a reference-count
    # update each time, 15 times slower here (see docs/performance.md).
    sum_score, states, wrongful, wrongly_listed, cured_n, moves, trans, smin, smax = tallies
    score, grade, gdays, listed, term, cure = (
        st.score,
        st.grade,
        st.gdays,
        st.listed,
        st.term,
        st.cure,
    )
    flags, taint, enrolled, track = st.flags, st.taint, st.enrolled, st.track_clean
    floor, ceiling, initial = c.floor, c.ceiling, c.initial
    grade_min, grade_cond, list_term, wrong_tab = (
        c.grade_min,
        c.grade_cond,
        c.list_term,
        c.wrong_tab,
    )
    cure_rate, cure_delay, cure_removal, cure_late, reset = (
        c.cure_rate,
        c.cure_delay,
        c.cure_removal,
        c.cure_late,
        c.reset_score,
    )
    sum_score[blk] = 0
    states[blk] = 0
    wrongful[blk] = 0
    wrongly_listed[blk] = 0
    cured_n[blk] = 0
    moves[blk] = 0
    trans[blk] = 0
    mn = np.int64(ceiling)
    mx = np.int64(floor)
    for i in range(start, stop):
        gr = group[i]
        k, was, mask, cured, moved = _settle_one(
            0, i, key_cure, moves, blk, gr, True,
            score, grade, gdays, listed, term, cure, flags, enrolled,
            floor, ceiling, initial, grade_min, grade_cond, list_term,
            cure_rate, cure_delay, cure_removal, cure_late, reset,
        )  # fmt: skip
        if track and taint[i]:
            kc, _, mask_c, _, _ = _settle_one(
                1, i, key_cure, moves, blk, gr, False,
                score, grade, gdays, listed, term, cure, flags, enrolled,
                floor, ceiling, initial, grade_min, grade_cond, list_term,
                cure_rate, cure_delay, cure_removal, cure_late, reset,
            )  # fmt: skip
            if wrong_tab[k, mask, kc, mask_c]:
                wrongful[blk, gr] += 1
            if mask & ~mask_c:
                wrongly_listed[blk, gr] += 1
        flags[i] = moved
        s = np.int64(score[0, i])
        if k != was:
            trans[blk, was, k] += 1
        if cured:
            cured_n[blk, gr] += 1
        sum_score[blk, gr] += s
        states[blk, gr, k, mask] += 1
        mn = min(mn, s)
        mx = max(mx, s)
    smin[blk] = mn
    smax[blk] = mx


@njit(parallel=True, cache=True)
def family_sanctions(c, st, hstart, group, out, wrong_out):
    """Sanctions that fall on the other members of the household of those they apply to.

    ``out[part, g, s]`` counts, per group, the agents carrying family sanction s;
    ``wrong_out[part, g]`` those carrying one only because of a false attribution in
    their household (the clean copies of the household would not call for it), not
    counted already as wrongfully sanctioned on their own account.
    """
    n_house = hstart.size - 1
    parts = out.shape[0]
    step = -(-n_house // parts)
    for part in prange(parts):
        _family_part(
            c, st, hstart, group, part * step, min(n_house, (part + 1) * step), out[part],
            wrong_out[part],
        )  # fmt: skip


@njit(cache=True)
def _family_part(c, st, hstart, group, first, last, out, wrong_out):
    # Tuple fields unpacked once (see _settle_block). Per household, one pass counts
    # the members meeting each family act (real and clean copies); each member then
    # carries it if the count less its own share is positive: linear in the household
    # size, and a household where nobody meets any is left after the first pass.
    family, active, n_sanctions, wrong_tab = c.family, c.active, c.n_sanctions, c.wrong_tab
    act_ages = c.act_ages
    grade, listed, taint, track = st.grade, st.listed, st.taint, st.track_clean
    out[:] = 0
    wrong_out[:] = 0
    acts = np.flatnonzero(family)
    meets = np.zeros(active.shape[1:], dtype=np.int64)  # [grade, mask]: bit f, act f
    for f in range(acts.size):
        meets |= active[acts[f]].astype(np.int64) << f
    real_n = np.zeros(acts.size, dtype=np.int64)
    clean_n = np.zeros(acts.size, dtype=np.int64)
    for h in range(first, last):
        lo, hi = hstart[h], hstart[h + 1]
        if hi - lo < 2:
            continue
        real_n[:] = 0
        clean_n[:] = 0
        anyone = False
        for j in range(lo, hi):
            k0, m0, k1, m1 = _both(grade, listed, taint, track, j)
            real, clean = meets[k0, m0], meets[k1, m1]
            if real | clean == 0:
                continue
            anyone = anyone or real != 0
            for f in range(acts.size):
                real_n[f] += (real >> f) & 1
                clean_n[f] += (clean >> f) & 1
        if not anyone:
            continue
        for i in range(lo, hi):
            k0, m0, k1, m1 = _both(grade, listed, taint, track, i)
            own = track and taint[i] and wrong_tab[k0, m0, k1, m1]
            any_wrong = False
            age = ages.age_of(i)
            for f in range(acts.size):
                s = acts[f]
                if age < act_ages[s, 0] or age > act_ages[s, 1]:
                    continue  # not of the ages it falls on (a university applicant)
                if real_n[f] - (1 if active[s, k0, m0] else 0) > 0:
                    out[group[i], s] += 1
                    others_clean = clean_n[f] - (1 if active[s, k1, m1] else 0)
                    if s < n_sanctions and track and others_clean == 0:
                        any_wrong = True
            if any_wrong and not own:
                wrong_out[group[i]] += 1


@njit(inline="always", cache=True)
def _both(grade, listed, taint, track, i):
    """(grade, list mask) of agent i in the real copy and in its clean one."""
    k0, m0 = grade[0, i], _mask(listed, 0, i)
    if track and taint[i]:
        return k0, m0, grade[1, i], _mask(listed, 1, i)
    return k0, m0, k0, m0


@njit(inline="always", cache=True)
def _mask(listed, copy, i):
    m = 0
    for li in range(listed.shape[1]):
        if listed[copy, li, i] > 0:
            m |= 1 << li
    return m


@njit(parallel=True, cache=True)
def histogram(score, lo, width, hist):
    """Counts of scores in bins of ``width`` from ``lo`` (for the Gini).

    Each row of ``hist`` counts one slice of the agents; integer counts make the sum
    the same for any slicing, so a few wide slices keep the zeroing cheap.
    """
    n = score.size
    parts, nb = hist.shape
    step = -(-n // parts)
    for part in prange(parts):
        hist[part] = 0
        for i in range(part * step, min(n, (part + 1) * step)):
            j = (np.int64(score[i]) - lo) // width
            hist[part, min(max(j, 0), nb - 1)] += 1
