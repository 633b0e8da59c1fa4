"""The social graph during a run: distancing, liability through friends, and the
graph's metrics (isolation, score assortativity, degree per group).

The graph is the population's CSR arrays. A dropped tie becomes a tombstone,
``indices[p] = -1`` at both of its ends, and each agent keeps a live degree, so ties
drop without rebuilding anything and every reader skips negative entries.

Everything here is sparse or a single sweep: distancing walks the neighbours of the
few shunned agents, friend deductions walk the neighbours of the agents a deduction
was recorded against, and the isolation metric comes from the score histogram the
Gini already needs (a degree sum per bin beside the count per bin).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.core import rng
from scsim.engine import proc_network
from scsim.engine.compile import Compiled
from scsim.engine.scoring import _taint
from scsim.population import procedural  # inlined: see docs/internals.md, "Numba's cache"

#: Agents whose ties the score-assortativity metric reads (a fixed sample, by seed).
ASSORTATIVITY_SAMPLE = 50_000


class Graph:
    """The live graph of one run, and what its metrics need between days.

    ``proc``: a procedural graph (``population.procedural``, nothing stored); then the
    CSR arrays are empty and only the readers that have a procedural form run (liability
    in ``settle.couple``, the degree metrics, assortativity, and distancing, whose
    dropped ties are bits in the run's own ``proc.gone``: ``engine.proc_network``): the
    regime schema refuses the keys that need stored ties. Live degrees are kept only
    once something reads them (the isolation metric, distancing), in the narrowest
    integer type that holds the largest degree (1 byte an agent at degree 10).
    """

    def __init__(
        self, c: Compiled, indptr, indices, group, n_groups: int, seed: int, proc=None
    ) -> None:
        self.indptr, self.indices, self.group, self.proc = indptr, indices, group, proc
        n = group.size
        self._live = None
        deg = self._degrees()
        self.group_degree = np.bincount(group, weights=deg, minlength=n_groups).astype(np.int64)
        self.dropped = np.zeros(n_groups, dtype=np.int64)
        self.shun_tab = c.shun_tab
        self.rate = c.distance_rate
        if self.rate > 0:
            self._live = deg
            if proc is not None:  # the run's own mask of dropped ties
                gone = np.zeros(n, dtype=proc_network.mask_type(proc.degree))
                self.proc = proc._replace(gone=gone)
        self.who = np.empty(0, dtype=np.int32)  # shunned agents, by block (distancing)
        if n <= ASSORTATIVITY_SAMPLE:
            sample = np.arange(n)
        else:
            u = rng.uniforms(rng.stage_key(seed, 0, rng.ASSORTATIVITY), n)
            sample = np.flatnonzero(u < ASSORTATIVITY_SAMPLE / n)
        self.sample = sample.astype(np.int64)

    def _degrees(self) -> np.ndarray:
        if self.proc is not None:
            return procedural.degrees(self.proc)
        deg = np.diff(self.indptr)
        for t in (np.uint8, np.uint16, np.int32):
            if deg.max(initial=0) <= np.iinfo(t).max:
                return deg.astype(t)
        return deg

    @property
    def live(self) -> np.ndarray:
        """Each agent's number of live ties (computed on the first read)."""
        if self._live is None:
            self._live = self._degrees()
        return self._live

    def nbytes(self) -> int:
        live = self._live.nbytes if self._live is not None else 0
        gone = self.proc.gone.nbytes if self.proc is not None else 0
        return live + gone + self.who.nbytes + self.sample.nbytes

    def distance(self, key, grade0, listed0, chunk: int) -> None:
        """Each agent drops each tie to a shunned friend with chance ``rate``."""
        self.dropped[:] = 0
        if self.rate <= 0:
            return
        n = grade0.size
        if self.who.size != n:
            self.who = np.empty(n, dtype=np.int32)
        found = np.zeros(-(-n // chunk), dtype=np.int64)
        _find_shunned(grade0, listed0, self.shun_tab, chunk, self.who, found)
        g = self.proc
        if g is not None:
            proc_network.drop_ties(
                key, self.who, found, chunk, self.rate, g.keys, g.n, g.n_local, g.gone,
                self.live, self.group, self.group_degree, self.dropped,
            )  # fmt: skip
            return
        _drop_ties(
            key, self.who, found, chunk, self.rate, self.indptr, self.indices, self.live,
            self.group, self.group_degree, self.dropped,
        )  # fmt: skip

    def assortativity(self, score0) -> float:
        """Pearson correlation of friends' scores over the live ties of the sample,
        each tie counted in both directions; NaN when the scores do not vary."""
        g = self.proc
        if g is not None:
            return _assortativity_proc(self.sample, g.keys, g.n, g.n_local, g.gone, score0)
        return _assortativity(self.sample, self.indptr, self.indices, score0)


@njit(parallel=True, cache=True)
def _assortativity_proc(sample, keys, n, n_local, gone, score0):
    # As _assortativity, with each sampled agent's friends computed.
    parts = 64
    sums = np.zeros((parts, 4))
    ref = np.float64(score0[sample[0]]) if sample.size else 0.0
    step = -(-sample.size // parts)
    for part in prange(parts):
        _assort_proc_part(sample, keys, n, n_local, gone, score0, ref, part * step,
                          min(sample.size, (part + 1) * step), sums[part])  # fmt: skip
    return _pearson(sums)


@njit(cache=True)
def _assort_proc_part(sample, keys, n, n_local, gone, score0, ref, start, stop, out):
    out[:] = 0.0
    for t in range(start, stop):
        i = sample[t]
        x = np.float64(score0[i]) - ref
        for r in range(n_local + keys.size):
            j = procedural.partner(keys, n, n_local, r, i)
            if j >= 0 and not proc_network.is_gone(gone, i, r):
                _add_tie(out, x, np.float64(score0[j]) - ref)


@njit(parallel=True, cache=True)
def _assortativity(sample, indptr, indices, score0):
    # One pass of sums around a reference score, in 64 fixed parts summed in order: the
    # float sums cannot depend on threads.
    parts = 64
    sums = np.zeros((parts, 4))
    ref = np.float64(score0[sample[0]]) if sample.size else 0.0
    step = -(-sample.size // parts)
    for part in prange(parts):
        _assort_part(sample, indptr, indices, score0, ref, part * step,
                     min(sample.size, (part + 1) * step), sums[part])  # fmt: skip
    return _pearson(sums)


@njit(cache=True)
def _pearson(sums):
    """The correlation from the parts' sums, added in part order."""
    m = 0.0
    sx = 0.0
    sxx = 0.0
    sxy = 0.0
    for part in range(sums.shape[0]):
        m += sums[part, 0]
        sx += sums[part, 1]
        sxx += sums[part, 2]
        sxy += sums[part, 3]
    if m == 0.0:
        return np.nan
    mean = sx / m
    var = sxx / m - mean * mean
    if var <= 1e-12 * (sxx / m + 1.0):
        return np.nan
    return (sxy / m - mean * mean) / var


@njit(cache=True)
def _assort_part(sample, indptr, indices, score0, ref, start, stop, out):
    out[:] = 0.0
    for t in range(start, stop):
        i = sample[t]
        x = np.float64(score0[i]) - ref
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j >= 0:
                _add_tie(out, x, np.float64(score0[j]) - ref)


@njit(inline="always", cache=True)
def _add_tie(out, x, y):
    """A tie's share of the sums (count, values, squares, products), counted both ways:
    x and y both enter the sums of values and squares."""
    out[0] += 2.0
    out[1] += x + y
    out[2] += x * x + y * y
    out[3] += 2.0 * x * y


@njit(inline="always", cache=True)
def _mask(listed0, i):
    mask = 0
    for li in range(listed0.shape[0]):
        if listed0[li, i] > 0:
            mask |= 1 << li
    return mask


@njit(parallel=True, cache=True)
def _find_shunned(grade0, listed0, shun_tab, chunk, who, found):
    """The shunned agents of each block, written at the start of the block's slice of
    ``who``, their number in ``found``."""
    n = grade0.size
    for blk in prange(found.size):
        found[blk] = _find_block(
            grade0, listed0, shun_tab, blk * chunk, min(n, (blk + 1) * chunk), who
        )


@njit(cache=True)
def _find_block(grade0, listed0, shun_tab, start, stop, who):
    at = start
    for i in range(start, stop):
        if shun_tab[grade0[i], _mask(listed0, i)]:
            who[at] = i
            at += 1
    return at - start


def _drop_ties(key, who, found, chunk, rate, indptr, indices, live, group, group_degree, dropped):
    """Agent i drops its tie to shunned friend j with chance ``rate``, one draw per
    (day, i, j); a tie both ends would drop is dropped once.

    The draws run in parallel, each shunned agent marking the ties of its own row
    (``-2 - i``); the marked ties are then dropped at both ends in one thread, in id
    order, so the result cannot depend on threads.
    """
    _mark_drops(key, who, found, chunk, rate, indptr, indices)
    _apply_drops(who, found, chunk, indptr, indices, live, group, group_degree, dropped)


@njit(parallel=True, cache=True)
def _mark_drops(key, who, found, chunk, rate, indptr, indices):
    for blk in prange(found.size):
        _mark_block(key, who, blk * chunk, blk * chunk + found[blk], rate, indptr, indices)


@njit(cache=True)
def _mark_block(key, who, start, stop, rate, indptr, indices):
    for t in range(start, stop):
        j = np.int64(who[t])
        for p in range(indptr[j], indptr[j + 1]):
            i = np.int64(indices[p])
            if i < 0:  # dropped before (-1), or marked by nobody else: rows are owned
                continue
            if rng.unit(rng.draw(rng.agent_base(key, i), np.uint64(j))) < rate:
                indices[p] = -2 - i


@njit(cache=True)
def _apply_drops(who, found, chunk, indptr, indices, live, group, group_degree, dropped):
    for blk in range(found.size):
        for t in range(blk * chunk, blk * chunk + found[blk]):
            j = np.int64(who[t])
            for p in range(indptr[j], indptr[j + 1]):
                v = np.int64(indices[p])
                if v > -2:
                    continue
                i = -2 - v
                indices[p] = -1
                for q in range(indptr[i], indptr[i + 1]):
                    w = np.int64(indices[q])
                    if w == j or w == -2 - j:  # live, or marked by i itself
                        indices[q] = -1
                        break
                live[i] -= 1
                live[j] -= 1
                group_degree[group[i]] -= 1
                group_degree[group[j]] -= 1
                dropped[group[j]] += 1


@njit(parallel=True, cache=True)
def histogram_degree(score, live, lo, width, hist, hdeg):
    """Counts of scores in bins of ``width`` from ``lo``, and the live degrees summed
    per bin (for the Gini and the isolation metric); integer sums, any slicing."""
    n = score.size
    parts = hist.shape[0]
    step = -(-n // parts)
    for part in prange(parts):
        _hist_part(
            score, live, lo, width, hist[part], hdeg[part], part * step, min(n, (part + 1) * step)
        )


@njit(cache=True)
def _hist_part(score, live, lo, width, hist, hdeg, start, stop):
    nb = hist.size
    hist[:] = 0
    hdeg[:] = 0
    for i in range(start, stop):
        j = min(max((np.int64(score[i]) - lo) // width, 0), nb - 1)
        hist[j] += 1
        hdeg[j] += live[i]


def isolation(counts: np.ndarray, degrees: np.ndarray) -> float:
    """Mean live degree of the lowest score decile over the mean live degree.

    The decile is cut inside the bin that holds its 10th percentile: that bin's agents
    count with the share of it the decile needs (ties in score are common: everyone
    starts at the same score).
    """
    n = counts.sum()
    total = degrees.sum()
    if n == 0 or total == 0:
        return float("nan")
    need = n / 10
    before = np.cumsum(counts) - counts
    whole = before + counts <= need
    cut = int(np.argmax(before + counts > need)) if not whole.all() else counts.size - 1
    low = float(degrees[whole].sum())
    if not whole[cut] and counts[cut] > 0:
        low += degrees[cut] * (need - before[cut]) / counts[cut]
    return float((low / need) / (total / n))


@njit(cache=True)
def push_deductions(
    c, st, share, attr, doer, applied, applied_clean, indptr, indices, group, out_by_group
):
    """Friend deductions: ``share`` of each recorded deduction lands on every live
    friend of the agent it was recorded against (in the score stage, sparse).

    The clean copy of a friend gets the share of what the clean copy of the agent lost
    (nothing for a false attribution); where that differs from the real share, the
    friend is tainted first, so the clean copy stays exact.
    """
    score, taint, track = st.score, st.taint, st.track_clean
    for t in range(attr.size):
        real = applied[t]
        clean = applied_clean[t]
        if real >= 0 and clean >= 0:
            continue
        a = attr[t]
        d_real = np.int64(np.round(share * real)) if real < 0 else np.int64(0)
        d_clean = np.int64(np.round(share * clean)) if clean < 0 else np.int64(0)
        if d_real == 0 and d_clean == 0:
            continue
        for p in range(indptr[a], indptr[a + 1]):
            m = indices[p]
            if m < 0:
                continue
            if track and d_clean != d_real and not taint[m]:
                _taint(st, m)
            score[0, m] = _add(score[0, m], d_real)
            if track and taint[m]:
                score[1, m] = _add(score[1, m], d_clean)
            if d_real < 0:
                out_by_group[group[m]] += 1


@njit(inline="always", cache=True)
def _add(s, d):
    return max(min(np.int64(s) + d, 2147483647), -2147483647)


def low_friend_penalty(c, st, chunk, indptr, indices, who) -> None:
    """Each agent loses ``points`` for each live friend at or below a grade (the
    friends' grades of yesterday). In the couple stage.

    Pushed from the few low agents (found by one parallel scan into ``who``, int32[n],
    by block) to their friends, sequentially in id order, so the sums cannot depend on
    threads. A friend's clean copy counts the friend's clean grade; where the two
    differ, the agent is tainted first (its clean copy takes the real state, which so
    far holds only pushes both copies share).
    """
    n = indptr.size - 1
    found = np.zeros(-(-n // chunk), dtype=np.int64)
    _find_low(st, c.low_friend_grade, chunk, who, found)
    if found.sum() * DENSE_SHARE <= n:
        _push_low(c, st, chunk, who, found, indptr, indices)
    else:  # many low agents: every agent reads its friends' grades, in parallel
        _pull_low(c, st, chunk, indptr, indices, who)


#: The low-friend penalty reads every agent's friends (in parallel) rather than pushing
#: from the low agents (in one thread) when more than 1/DENSE_SHARE of agents are low.
DENSE_SHARE = 16


@njit(parallel=True, cache=True)
def _pull_low(c, st, chunk, indptr, indices, who):
    # Same sums and the same agents tainted as _push_low: an agent is tainted when some
    # friend's real and clean grades fall on different sides of the grade. No clean
    # copy is filled in during the parallel pass (those agents wait in their block's
    # slice of ``who`` and are tainted after it, in id order).
    n = indptr.size - 1
    nblocks = -(-n // chunk)
    pending = np.zeros(nblocks, dtype=np.int64)
    for blk in prange(nblocks):
        pending[blk] = _pull_block(
            c, st, blk * chunk, min(n, (blk + 1) * chunk), indptr, indices, who
        )
    k_low, pts = c.low_friend_grade, c.low_friend_points
    score, grade, taint = st.score, st.grade, st.taint
    for blk in range(nblocks):
        for t in range(blk * chunk, blk * chunk + pending[blk]):
            i = who[t]
            real = 0
            clean = 0
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                if j < 0:
                    continue
                g0 = grade[0, j]
                real += g0 >= k_low
                clean += (grade[1, j] if taint[j] else g0) >= k_low
            _taint(st, i)  # the clean copy takes the real state, already penalised
            score[1, i] = _add(score[1, i], pts * (np.int64(real) - np.int64(clean)))


@njit(cache=True)
def _pull_block(c, st, start, stop, indptr, indices, who):
    score, grade, taint, track = st.score, st.grade, st.taint, st.track_clean
    k_low, pts = c.low_friend_grade, c.low_friend_points
    pending = 0
    for i in range(start, stop):
        low_real = 0
        low_clean = 0
        differs = False
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j < 0:
                continue
            g0 = grade[0, j]
            real = g0 >= k_low
            low_real += real
            if track:
                clean = (grade[1, j] if taint[j] else g0) >= k_low
                low_clean += clean
                differs |= clean != real
        if low_real:
            score[0, i] = _add(score[0, i], -pts * low_real)
        if track:
            if taint[i]:
                if low_clean:
                    score[1, i] = _add(score[1, i], -pts * low_clean)
            elif differs:
                who[start + pending] = i
                pending += 1
    return pending


@njit(parallel=True, cache=True)
def _find_low(st, k_low, chunk, who, found):
    n = who.size
    for blk in prange(found.size):
        found[blk] = _find_low_block(st, k_low, blk * chunk, min(n, (blk + 1) * chunk), who)


@njit(cache=True)
def _find_low_block(st, k_low, start, stop, who):
    grade, taint, track = st.grade, st.taint, st.track_clean
    at = start
    for i in range(start, stop):
        if grade[0, i] >= k_low or (track and taint[i] and grade[1, i] >= k_low):
            who[at] = i
            at += 1
    return at - start


@njit(cache=True)
def _push_low(c, st, chunk, who, found, indptr, indices):
    score, grade, taint, track = st.score, st.grade, st.taint, st.track_clean
    k_low, pts = c.low_friend_grade, c.low_friend_points
    for blk in range(found.size):
        for t in range(blk * chunk, blk * chunk + found[blk]):
            j = np.int64(who[t])
            real = grade[0, j] >= k_low
            clean = real
            if track and taint[j]:
                clean = grade[1, j] >= k_low
            for p in range(indptr[j], indptr[j + 1]):
                i = indices[p]
                if i < 0:
                    continue
                if track and clean != real and not taint[i]:
                    _taint(st, i)
                if real:
                    score[0, i] = _add(score[0, i], -pts)
                if track and taint[i] and clean:
                    score[1, i] = _add(score[1, i], -pts)
