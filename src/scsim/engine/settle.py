"""The dense stages: couple, grade, list and sanction every agent, and reduce the stocks.

One sweep over the population a day, parallel over blocks of agents. Sanctions depend
only on (grade, the lists one is on), so the sweep counts agents per (group, grade,
list mask) and the record stage turns counts into sanction counts. Every per-block
reduction is an integer sum, so no result depends on the block size.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.engine import rng
from scsim.engine.scoring import CLEAN_BIT

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


@njit(inline="always", cache=True)
def _couple(i, s, old, indptr, indices, liability, lo, hi):
    """Move a score ``liability`` of the way to its friends' mean (read from ``old``)."""
    start, stop = indptr[i], indptr[i + 1]
    if stop == start:
        return s
    tot = np.int64(0)
    for p in range(start, stop):
        tot += _clamp(old[indices[p]], lo, hi)
    mean = tot / (stop - start)
    return s + np.int64(np.round(liability * (mean - s)))


@njit(cache=True)
def _settle_one(c, st, copy, i, old, indptr, indices, key_cure, moves, count):
    """One agent's day in one copy of the state.

    Returns the new and the former grade, the mask of lists it is on, the mask of
    lists it is on though cured, and its list moves (two bits a list, ``BY_EVENT``,
    ``BY_GRADE`` or ``LEFT``).

    Lists: a listed agent counts its days, may cure (pay) and then leave after a delay
    with some probability, and leaves when its term ends; leaving restarts the
    consecutive-days count of grade rules and may reset the score. An unlisted agent
    enters on the events flagged by the score stage, or on a grade held long enough
    (enrolled agents only).
    """
    s = _clamp(old[i], c.floor, c.ceiling)
    if c.liability > 0.0:
        s = _couple(i, s, old, indptr, indices, c.liability, c.floor, c.ceiling)
    k = grade_of(s, c.grade_min)
    was = st.grade[copy, i]
    gd = min(np.int64(st.gdays[copy, i]) + 1, 65535) if k == was else 1
    mask = 0
    cured = 0
    moved = 0
    flag = (st.flags[i] >> (CLEAN_BIT * copy)) & 0x0F
    for li in range(c.n_lists):
        ld = np.int64(st.listed[copy, li, i])
        if ld > 0:
            ld += 1
            cu = np.int64(st.cure[copy, li, i])
            if cu == 0 and c.cure_rate[li] > 0.0:
                h = rng.draw(rng.agent_base(key_cure, i), np.uint64(li))
                if rng.unit(h) < c.cure_rate[li]:
                    cu = c.cure_delay[li] + 1 if rng.unit(rng.mix64(h)) < c.cure_removal[li] else -1
            leave = False
            if cu > 0:
                cu -= 1
                leave = cu == 0
            term = st.term[copy, li, i]
            if term >= 0 and ld > term:
                leave = True
            if leave:
                if count:
                    moves[li, 1] += 1
                    moves[li, 2] += ld - 1
                moved |= LEFT << (2 * li)
                ld, cu, gd = 0, 0, 0
                if c.reset_score[li]:
                    s = c.initial
                    k = grade_of(s, c.grade_min)
            st.cure[copy, li, i] = cu
            if cu != 0 and ld > 0:
                cured |= 1 << li
        else:
            enter = (flag >> li) & 1 == 1
            if enter:
                moved |= BY_EVENT << (2 * li)
            elif st.enrolled[i]:
                for e in range(c.grade_cond.shape[0]):
                    if c.grade_cond[e, 0] == li and k == c.grade_cond[e, 1]:
                        if gd >= c.grade_cond[e, 2] and not enter:
                            enter = True
                            st.term[copy, li, i] = c.list_term[li]
                            moved |= BY_GRADE << (2 * li)
            if enter:
                ld = 1
                st.cure[copy, li, i] = 0
                if count:
                    moves[li, 0] += 1
        st.listed[copy, li, i] = ld
        if ld > 0:
            mask |= 1 << li
    st.score[copy, i] = s
    st.grade[copy, i] = k
    st.gdays[copy, i] = gd
    return k, was, mask, cured, moved


@njit(parallel=True, cache=True)
def settle(c, st, chunk, group, indptr, indices, old, key_cure, tallies):
    """The dense sweep: every agent's day after the score stage, and the day's stocks.

    ``old`` holds the scores after the day's points (both copies); with liability off it
    is ``st.score`` itself, since an agent then reads only its own score.
    """
    n = group.size
    for blk in prange(tallies[0].shape[0]):
        _settle_block(
            c, st, blk * chunk, min(n, (blk + 1) * chunk), group, indptr, indices, old,
            key_cure, tallies, blk,
        )  # fmt: skip


@njit(cache=True)
def _settle_block(c, st, start, stop, group, indptr, indices, old, key_cure, tallies, blk):
    # The body of the parallel loop lives in its own function: numba 0.68 loses some
    # writes made through tuple arguments straight in a prange body.
    sum_score, states, wrongful, wrongly_listed, cured_n, moves, trans, smin, smax = tallies
    sum_score[blk] = 0
    states[blk] = 0
    wrongful[blk] = 0
    wrongly_listed[blk] = 0
    cured_n[blk] = 0
    moves[blk] = 0
    trans[blk] = 0
    mn = np.int64(c.ceiling)
    mx = np.int64(c.floor)
    for i in range(start, stop):
        gr = group[i]
        k, was, mask, cured, moved = _settle_one(
            c, st, 0, i, old[0], indptr, indices, key_cure, moves[blk, gr], True
        )
        if st.track_clean and st.taint[i]:
            kc, _, mask_c, _, _ = _settle_one(
                c, st, 1, i, old[1], indptr, indices, key_cure, moves[blk, gr], False
            )
            if c.wrong_tab[k, mask, kc, mask_c]:
                wrongful[blk, gr] += 1
            if mask & ~mask_c:
                wrongly_listed[blk, gr] += 1
        st.flags[i] = moved
        s = np.int64(st.score[0, i])
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
    out[:] = 0
    wrong_out[:] = 0
    for h in range(first, last):
        lo, hi = hstart[h], hstart[h + 1]
        if hi - lo < 2:
            continue
        for i in range(lo, hi):
            any_wrong = False
            for s in range(c.family.size):
                if not c.family[s] or not _other_member(c, st, 0, s, lo, hi, i):
                    continue
                out[group[i], s] += 1
                clean = st.track_clean and _other_member(c, st, 1, s, lo, hi, i)
                if s < c.n_sanctions and st.track_clean and not clean:
                    any_wrong = True
            if any_wrong and not _own_wrong(c, st, i):
                wrong_out[group[i]] += 1


@njit(inline="always", cache=True)
def _mask(st, copy, i, n_lists):
    m = 0
    for li in range(n_lists):
        if st.listed[copy, li, i] > 0:
            m |= 1 << li
    return m


@njit(cache=True)
def _other_member(c, st, copy, s, lo, hi, i):
    """Whether another member of the household is in a state sanction s applies to."""
    for j in range(lo, hi):
        if j == i:
            continue
        cp = copy if st.taint[j] else 0
        if c.active[s, st.grade[cp, j], _mask(st, cp, j, c.n_lists)]:
            return True
    return False


@njit(inline="always", cache=True)
def _own_wrong(c, st, i):
    if not (st.track_clean and st.taint[i]):
        return False
    return c.wrong_tab[
        st.grade[0, i], _mask(st, 0, i, c.n_lists), st.grade[1, i], _mask(st, 1, i, c.n_lists)
    ]


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
