"""The friendship graph, in CSR arrays, with friends mostly close in id order.

Locality is a performance requirement: reading friends' scores is the engine's most
expensive memory access, and friends near in id share cache lines. The graph is a
small world in the manner of Watts and Strogatz: each agent is tied to the ``h``
nearest ids on each side (a ring lattice, the ``locality`` share of its ties), plus
ties to agents drawn uniformly from outside that window (the shortcuts). Lattice rows
are written in place and only shortcuts are scattered, so building is linear in the
number of ties.

Homophily: when groups live in contiguous id blocks (``population.build`` places them
so when ``network.homophily > 0``), lattice ties are in-group, and each shortcut is
drawn inside the agent's own block with chance ``homophily`` (else uniformly). Degree
spread: each agent's number of shortcut stubs is ``half * exp(sigma z - sigma^2 / 2)``
(lognormal, mean kept), stochastically rounded: a heavy tail of well-connected agents.

``indptr`` is int32 when the graph has fewer than 2^31 tie ends (n below about 200M
at degree 10), else int64. Ties dropped during a run are tombstones: ``indices[p] =
-1`` at both ends of the tie (``engine.network``); rows keep their width, so nothing
is rebuilt.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.core import rng

# Draw indices of an agent's graph stream beyond any shortcut's (which use 1, 2, ...).
_K_SPREAD = np.uint64(1 << 40)
_K_HOMOPHILY = np.uint64(1 << 41)
MAX_STUBS = 100_000


def friendship_graph(
    key: np.uint64,
    n: int,
    degree: int,
    locality: float,
    homophily: float = 0.0,
    degree_spread: float = 0.0,
    blocks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """An undirected graph of mean degree ``degree`` (less at tiny ``n``).

    Shortcuts avoid self-ties and the lattice window; two agents that draw each other
    as shortcuts (chance about ``degree / n``) keep a double tie. ``blocks``: the first
    id of each group's block (and n at the end), needed when ``homophily > 0``.
    """
    h = min(round(locality * degree / 2), (n - 1) // 2)
    outside = n - (2 * h + 1)
    half = max(degree - 2 * h, 0) / 2 if outside > 0 else 0.0
    stubs = _stub_counts(key, n, half, degree_spread, min(max(outside, 0), MAX_STUBS))
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(stubs, out=start[1:])
    if blocks is None or homophily <= 0:
        blocks, homophily = np.array([0, n], dtype=np.int64), 0.0
    dst = _shortcuts(key, n, start, h, outside, homophily, blocks)
    deg = 2 * h + stubs + np.bincount(dst, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    indices = np.empty(indptr[n], dtype=np.int32)
    _fill_lattice_and_out(indptr, h, start, dst, indices)
    _fill_in(indptr, h, start, dst, indices)
    if indptr[n] <= np.iinfo(np.int32).max:  # 4 bytes an agent less below 2^31 tie ends
        indptr = indptr.astype(np.int32)
    return indptr, indices


@njit(parallel=True, cache=True)
def _stub_counts(key, n, half, sigma, cap):
    out = np.empty(n, dtype=np.int64)
    for i in prange(n):
        base = rng.agent_base(key, i)
        u = rng.unit(rng.draw(base, np.uint64(0)))
        x = half
        if sigma > 0.0:
            u1 = rng.unit(rng.draw(base, _K_SPREAD))
            u2 = rng.unit(rng.draw(base, _K_SPREAD + np.uint64(1)))
            z = np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)
            x = min(half * np.exp(sigma * z - 0.5 * sigma * sigma), cap)
        whole = int(x)
        out[i] = whole + (1 if u < x - whole else 0)
    return out


@njit(parallel=True, cache=True)
def _shortcuts(key, n, start, h, outside, homophily, blocks):
    dst = np.empty(start[n], dtype=np.int32)
    for i in prange(n):
        base = rng.agent_base(key, i)
        b = np.searchsorted(blocks, i, side="right") - 1
        lo = blocks[b]
        m = blocks[b + 1] - lo
        inside = m - (2 * h + 1)
        for e in range(start[i], start[i + 1]):
            k = np.uint64(e - start[i])
            h64 = rng.draw(base, k + np.uint64(1))
            if homophily > 0.0 and inside > 0:
                if rng.unit(rng.draw(base, _K_HOMOPHILY + k)) < homophily:
                    j = np.int64(h64 % np.uint64(inside))
                    dst[e] = lo + (i - lo + h + 1 + j) % m
                    continue
            j = np.int64(h64 % np.uint64(outside))
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
