"""The friendship graph, in CSR arrays, with friends mostly close in id order.

Locality is a performance requirement: reading friends' scores is the engine's most
expensive memory access, and friends near in id share cache lines. The graph is a
small world in the manner of Watts and Strogatz: each agent is tied to the ``h``
nearest ids on each side (a ring lattice, the ``locality`` share of its ties), plus
ties to agents drawn uniformly from outside that window (the shortcuts). Lattice rows
are written in place and only shortcuts are scattered, so building is linear in the
number of ties.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.engine import rng


def friendship_graph(
    key: np.uint64, n: int, degree: int, locality: float
) -> tuple[np.ndarray, np.ndarray]:
    """An undirected graph of mean degree ``degree`` (less at tiny ``n``).

    Shortcuts avoid self-ties and the lattice window; two agents that draw each other
    as shortcuts (chance about ``degree / n``) keep a double tie.
    """
    h = min(round(locality * degree / 2), (n - 1) // 2)
    outside = n - (2 * h + 1)
    half = max(degree - 2 * h, 0) / 2 if outside > 0 else 0.0
    stubs = _stub_counts(key, n, half)
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(stubs, out=start[1:])
    dst = _shortcuts(key, n, start, h, outside)
    deg = 2 * h + stubs + np.bincount(dst, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    indices = np.empty(indptr[n], dtype=np.int32)
    _fill_lattice_and_out(indptr, h, start, dst, indices)
    _fill_in(indptr, h, start, dst, indices)
    return indptr, indices


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
def _shortcuts(key, n, start, h, outside):
    dst = np.empty(start[n], dtype=np.int32)
    for i in prange(n):
        base = rng.agent_base(key, i)
        for e in range(start[i], start[i + 1]):
            j = np.int64(rng.draw(base, np.uint64(e - start[i] + 1)) % np.uint64(outside))
            dst[e] = (i + h + 1 + j) % n
    return dst


@njit(parallel=True, cache=True)
def _fill_lattice_and_out(indptr, h, start, dst, indices):
    n = indptr.size - 1
    for i in prange(n):
        p = indptr[i]
        for d in range(h, 0, -1):
            indices[p] = (i - d) % n
            p += 1
        for d in range(1, h + 1):
            indices[p] = (i + d) % n
            p += 1
        for e in range(start[i], start[i + 1]):
            indices[p] = dst[e]
            p += 1


@njit(cache=True)
def _fill_in(indptr, h, start, dst, indices):
    n = indptr.size - 1
    pos = np.empty(n, dtype=np.int64)
    for i in range(n):
        pos[i] = indptr[i] + 2 * h + (start[i + 1] - start[i])
    for i in range(n):
        for e in range(start[i], start[i + 1]):
            j = dst[e]
            indices[pos[j]] = i
            pos[j] += 1
