"""Distancing on a procedural graph: a dropped tie is a bit, not a tombstone.

A procedural graph (``population.procedural``) stores no ties, so it cannot mark one
dropped in place. Each agent instead keeps a bitmask ``gone`` with one bit per round
of its friends (``n_local`` lattice rounds, then one per far round): 2 bytes an agent
up to 16 friends, 4 up to 32, 8 up to 64 (the schema refuses distancing on a
procedural graph above that). Dropping a tie sets its bit at both ends: a far round
pairs i and j in the same round, and a lattice tie at offset d is the tie at offset
-d from the other end, round ``n_local - 1 - r``. Every reader of procedural ties
(liability, assortativity, the degree metrics) skips set bits.

The draws are the stored graph's (one per day, dropping agent and shunned friend), so
the two graphs agree statistically; shunned agents are few, so the drops run in one
thread, in id order, and cannot depend on threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from scsim.core import rng
from scsim.population import procedural  # inlined: see docs/internals.md, "Numba's cache"

#: The widest mask: friends of a procedural graph that distancing can drop.
MAX_ROUNDS = 64


def mask_type(degree: int) -> type:
    """The narrowest unsigned type with a bit per round (``degree`` rounds)."""
    for t in (np.uint16, np.uint32, np.uint64):
        if degree <= np.iinfo(t).bits:
            return t
    raise ValueError(f"distancing on a procedural graph needs degree <= {MAX_ROUNDS}")


@njit(inline="always", cache=True)
def is_gone(gone, i, r):
    """Whether agent i's tie of round r was dropped (``gone`` empty: nothing dropped)."""
    return gone.size > 0 and (np.uint64(gone[i]) >> np.uint64(r)) & np.uint64(1) == 1


@njit(inline="always", cache=True)
def lattice_round(h, d):
    """The round of the lattice tie at offset d (``-h <= d <= h``, d != 0)."""
    return d + h if d < 0 else d + h - 1


@njit(inline="always", cache=True)
def mirror(n_local, r):
    """The round of the same tie seen from the friend's end."""
    return n_local - 1 - r if r < n_local else r


@njit(cache=True)
def drop_ties(key, who, found, chunk, rate, keys, n, n_local, gone, live, group, gdeg, dropped):
    """Agent i drops its tie to shunned friend j with chance ``rate`` (one draw per day,
    i and j, as on the stored graph); a tie both ends would drop is dropped once."""
    one = np.uint64(1)
    for blk in range(found.size):
        for t in range(blk * chunk, blk * chunk + found[blk]):
            j = np.int64(who[t])
            for r in range(n_local + keys.size):
                if is_gone(gone, j, r):
                    continue
                i = procedural.partner(keys, n, n_local, r, j)
                if i < 0 or rng.unit(rng.draw(rng.agent_base(key, i), np.uint64(j))) >= rate:
                    continue
                gone[j] = gone[j] | (one << np.uint64(r))
                gone[i] = gone[i] | (one << np.uint64(mirror(n_local, r)))
                live[i] -= 1
                live[j] -= 1
                gdeg[group[i]] -= 1
                gdeg[group[j]] -= 1
                dropped[group[j]] += 1
