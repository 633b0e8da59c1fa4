"""A procedural friendship graph: friends computed from the agent's id and a hash, no
stored edges, for populations whose CSR graph would not fit in memory.

The same small world as ``population.graph``: each agent is tied to the ``h`` nearest
ids on each side (a ring lattice, ``h = round(locality * degree / 2)``: the locality
share of its ties, computed as ``i +- d``), plus ``degree - 2 h`` far ties, one a
round of a random perfect matching of all ids. In far round ``r`` a keyed bijection
``perm`` of ``[0, n)`` pairs

    partner(i) = perm^-1(perm(i) XOR 1)

an involution without fixed points, so the tie is symmetric: if j is i's partner, i is
j's. When ``n`` is odd the one id with ``perm(i) = n - 1`` has no far tie that round.
``perm`` is a four-round Feistel network over the smallest number of bits that holds
``n``, split into two halves of near-equal width (a round xors one half with a hash of
the other, the halves in turn), keyed by (seed, round), made a bijection of ``[0, n)``
by cycle walking (apply it again while the value is ``>= n``; the inverse walks back
the same way). The domain is less than twice ``n``, so a walk takes fewer than two
networks on average: with halves of equal width it would be up to four (3.2 at 340M
agents), and computing far friends was half of a day there (``bench/far_ties.py``).
Nothing is stored but a key per far round: a tie costs no memory and, for a far tie,
a few hashes each time it is read.

Against the CSR graph: the lattice is the same; every agent has exactly ``degree -
2 h`` far ties instead of a number that varies (half drawn, half received), and a far
tie may fall inside the lattice window (chance about ``2 h / n``). Mean degree,
locality and the lattice's clustering are the same; ``tests/test_procedural_graph.py``
holds the runs statistically equivalent. Homophily and a spread of degrees are not
offered (the regime schema refuses them with a procedural graph).

Every draw comes from ``core.rng``, so the graph depends only on (seed, n, degree,
locality): reproducible, and the same for any thread count or chunk size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from scsim.core import rng

_FEISTEL_ROUNDS = 4


class Procedural(NamedTuple):
    """The parameters of a procedural graph (``partner`` reads them; 8 bytes a far round)."""

    n: int
    n_local: int  # 2 h lattice ties: rounds 0 .. n_local - 1 are i - h .. i - 1, i + 1 .. i + h
    keys: np.ndarray  # uint64[degree - n_local]: each far round's key
    # Per agent, a bit per round whose tie was dropped (``engine.proc_network``); empty
    # unless the run distances. A run's own copy: the population's graph has none.
    gone: np.ndarray = np.zeros(0, dtype=np.uint16)

    @property
    def degree(self) -> int:
        return self.n_local + self.keys.size

    def nbytes(self) -> int:
        return self.keys.nbytes + self.gone.nbytes


def procedural_graph(key: np.uint64, n: int, degree: int, locality: float) -> Procedural:
    """The procedural graph of ``n`` agents, mean degree ``degree`` (less at tiny ``n``)."""
    h = min(round(locality * degree / 2), max((n - 1) // 2, 0))
    far = max(degree - 2 * h, 0) if n > 2 * h + 1 else 0
    base = rng.agent_base(key, 0)
    with np.errstate(over="ignore"):
        keys = np.array([_draw_py(base, r) for r in range(far)], dtype=np.uint64)
    return Procedural(n, 2 * h, keys)


def _draw_py(base: np.uint64, k: int) -> np.uint64:
    return rng._mix64_py(base + np.uint64(k + 1) * rng.GOLDEN)


@njit(inline="always", cache=True)
def _bits(m):
    """Bits of the Feistel domain: the smallest k >= 2 with 2^k >= m."""
    k = 2
    while (np.int64(1) << k) < m:
        k += 1
    return k


@njit(inline="always", cache=True)
def _round(wkey, r, half, width):
    """Round r's hash of one half, cut to the other half's width."""
    f = rng.mix64(wkey + (np.uint64(r) << np.uint64(32)) + half)
    return f & ((np.uint64(1) << np.uint64(width)) - np.uint64(1))


@njit(inline="always", cache=True)
def _feistel(wkey, k, x, inverse):
    # Even rounds change the high k // 2 bits, odd rounds the low k - k // 2; each round
    # undoes itself, so the inverse is the same rounds in reverse order.
    b = k - k // 2
    left = np.uint64(x) >> np.uint64(b)
    right = np.uint64(x) & ((np.uint64(1) << np.uint64(b)) - np.uint64(1))
    for step in range(_FEISTEL_ROUNDS):
        r = _FEISTEL_ROUNDS - 1 - step if inverse else step
        if r % 2 == 0:
            left ^= _round(wkey, r, right, k // 2)
        else:
            right ^= _round(wkey, r, left, b)
    return np.int64((left << np.uint64(b)) | right)


@njit(inline="always", cache=True)
def _walk(wkey, m, x, inverse):
    """The network (or its inverse) applied until the value is back in ``[0, m)``."""
    k = _bits(m)
    y = _feistel(wkey, k, x, inverse)
    while y >= m:
        y = _feistel(wkey, k, y, inverse)
    return y


@njit(inline="always", cache=True)
def perm(wkey, m, x):
    """A keyed bijection of ``[0, m)`` (Feistel network, cycle walking)."""
    return _walk(wkey, m, x, False)


@njit(inline="always", cache=True)
def perm_inv(wkey, m, y):
    """The inverse of ``perm``."""
    return _walk(wkey, m, y, True)


@njit(inline="always", cache=True)
def partner(keys, n, n_local, r, i):
    """Agent i's friend of round r (``n_local + keys.size`` rounds), or -1 when i is the
    odd one out of a far round."""
    if r < n_local:
        h = n_local // 2
        return lattice(n, i, r - h if r < h else r - h + 1)
    return far(keys[r - n_local], n, i)


@njit(inline="always", cache=True)
def lattice(n, i, d):
    """The lattice friend at offset d (``-h <= d <= h``), around the ring of ids."""
    j = i + d
    if j < 0:
        return j + n
    if j >= n:
        return j - n
    return j


@njit(inline="always", cache=True)
def far(wkey, n, i):
    """Agent i's partner in the far round keyed ``wkey``, or -1 (the odd one out)."""
    z = perm(wkey, n, i) ^ 1
    if z >= n:
        return np.int64(-1)
    return perm_inv(wkey, n, z)


@njit(inline="always", cache=True)
def degree_of(keys, n, n_local, i):
    """Agent i's number of ties: every round's, except a far round where it is the odd
    one out (``n`` odd and ``perm`` of it is ``n - 1``)."""
    d = n_local + keys.size
    if n % 2 == 1:
        for k in range(keys.size):
            if perm(keys[k], n, i) == n - 1:
                d -= 1
    return d


def degrees(g: Procedural) -> np.ndarray:
    """Every agent's degree: uint8 (1 byte an agent) up to 255 rounds."""
    out = np.empty(g.n, dtype=np.uint8 if g.degree < 256 else np.uint16)
    _degrees(g.keys, g.n, g.n_local, out)
    return out


@njit(parallel=True, cache=True)
def _degrees(keys, n, n_local, out):
    for i in prange(n):
        out[i] = degree_of(keys, n, n_local, i)


@njit(parallel=True, cache=True)
def _fill(keys, n, n_local, indptr, indices):
    for i in prange(n):
        p = indptr[i]
        for r in range(n_local + keys.size):
            j = partner(keys, n, n_local, r, i)
            if j >= 0:
                indices[p] = j
                p += 1


def to_csr(g: Procedural) -> tuple[np.ndarray, np.ndarray]:
    """The same graph as CSR arrays (rows in round order), for tests and small runs."""
    deg = degrees(g)
    indptr = np.zeros(g.n + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int32)
    _fill(g.keys, g.n, g.n_local, indptr, indices)
    return indptr, indices
