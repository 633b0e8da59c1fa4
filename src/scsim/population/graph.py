"""The friendship graph, in CSR arrays, with friends mostly close in id order.

Locality is a performance requirement: reading friends' scores is the engine's most
expensive memory access, and friends near in id share cache lines. A ``locality``
share of each agent's ties goes to an id within a small window; the rest go anywhere
(the small-world shortcuts).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.engine import rng


def friendship_graph(
    key: np.uint64, n: int, degree: int, locality: float
) -> tuple[np.ndarray, np.ndarray]:
    """An undirected graph of mean degree about ``degree`` (less the rare duplicate ties)."""
    if degree == 0 or n < 2:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    window = max(4, degree)
    stubs = _stub_counts(key, n, degree / 2.0)
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(stubs, out=start[1:])
    src, dst = _draw_ties(key, n, start, window, locality)
    deg = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    indices = _fill(indptr, src, dst)
    return _dedupe(indptr, indices)


@njit(parallel=True, cache=True)
def _stub_counts(key, n, half):
    out = np.empty(n, dtype=np.int64)
    whole = int(half)
    frac = half - whole
    for i in prange(n):
        u = rng.unit(rng.draw(rng.agent_base(key, i), np.uint64(0)))
        out[i] = whole + (1 if u < frac else 0)
    return out


@njit(parallel=True, cache=True)
def _draw_ties(key, n, start, window, locality):
    m = start[n]
    src = np.empty(m, dtype=np.int32)
    dst = np.empty(m, dtype=np.int32)
    for i in prange(n):
        base = rng.agent_base(key, i)
        for e in range(start[i], start[i + 1]):
            k = np.uint64(2 * (e - start[i]) + 1)
            h = rng.draw(base, k)
            if rng.unit(h) < locality:
                off = 1 + np.int64(rng.draw(base, k + np.uint64(1)) % np.uint64(window))
                j = i + off if (h & np.uint64(1)) else i - off
                j = j % n
            else:
                j = np.int64(rng.draw(base, k + np.uint64(1)) % np.uint64(n))
            if j == i:
                j = (i + 1) % n
            src[e] = i
            dst[e] = j
    return src, dst


@njit(cache=True)
def _fill(indptr, src, dst):
    n = indptr.size - 1
    pos = indptr[:-1].copy()
    out = np.empty(indptr[n], dtype=np.int32)
    for e in range(src.size):
        a, b = src[e], dst[e]
        out[pos[a]] = b
        pos[a] += 1
        out[pos[b]] = a
        pos[b] += 1
    return out


@njit(parallel=True, cache=True)
def _dedupe(indptr, indices):
    n = indptr.size - 1
    uniq = np.zeros(n + 1, dtype=np.int64)
    for i in prange(n):
        row = indices[indptr[i] : indptr[i + 1]]
        row.sort()
        c = 0
        for t in range(row.size):
            if t == 0 or row[t] != row[t - 1]:
                row[c] = row[t]
                c += 1
        uniq[i + 1] = c
    new_ptr = np.cumsum(uniq)
    out = np.empty(new_ptr[n], dtype=np.int32)
    for i in prange(n):
        out[new_ptr[i] : new_ptr[i + 1]] = indices[indptr[i] : indptr[i] + (new_ptr[i + 1] - new_ptr[i])]
    return new_ptr, out
