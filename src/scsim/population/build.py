"""Synthetic populations from aggregate parameters: no person-level input exists.

Every attribute is a counter-based draw keyed by (seed, stage, agent), so the same
seed gives the same people whatever the regime's rules say, and whatever the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numba import njit, prange

from scsim.engine import rng
from scsim.errors import OptionError
from scsim.population.graph import friendship_graph
from scsim.regime import Regime

MAX_POPULATION = 2_000_000_000


@dataclass
class Population:
    """The people, as arrays indexed by agent id.

    A behaviour whose rate varies across people (``spread > 0``) has a per-agent column
    in ``lam_agent``; the others read one rate per group from ``lam_group``, so a
    homogeneous behaviour costs no memory per agent.
    """

    n: int
    group: np.ndarray  # uint8[n]
    lam_total: np.ndarray  # float32[n], or float64[G] when no rate varies by person
    lam_group: np.ndarray  # float64[G, B]: mean events per day, per group
    lam_agent: np.ndarray  # float32[n, Bh]: per-agent rates of heterogeneous behaviours
    beh_col: np.ndarray  # int64[B]: column in lam_agent, or -1 to read lam_group
    household: np.ndarray  # uint32[n]: household id, households are runs of ids
    hstart: np.ndarray  # int64[H + 1]: first id of each household (and n at the end)
    place: np.ndarray  # uint8[n]
    indptr: np.ndarray  # int64[n + 1]: CSR friendship graph
    indices: np.ndarray  # int32[E]; -1 marks a tie dropped during a run (both ends)

    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self) if f.name != "n")

    def degree(self) -> np.ndarray:
        """Each agent's number of live ties (dropped ties are -1 in ``indices``)."""
        deg = np.diff(self.indptr)
        dropped = np.flatnonzero(self.indices < 0)
        if dropped.size:
            rows = np.searchsorted(self.indptr, dropped, side="right") - 1
            deg = deg - np.bincount(rows, minlength=self.n)
        return deg


def group_rate_table(regime: Regime) -> np.ndarray:
    """Per-group rates whose population mean is the regime's rate.

    A group's ``rate_multiplier`` is relative to the others: multipliers are rescaled so
    that the share-weighted mean rate stays what the regime file says.
    """
    shares = np.array([g.share for g in regime.groups])
    table = np.empty((len(regime.groups), len(regime.behaviours)))
    for b, (name, beh) in enumerate(regime.behaviours.items()):
        mult = np.array([g.rate_multiplier.get(name, 1.0) for g in regime.groups])
        mean_mult = float(shares @ mult)
        table[:, b] = beh.rate * mult / mean_mult if mean_mult > 0 else 0.0
    return table


def build_population(regime: Regime, n: int, seed: int) -> Population:
    if not 1 <= n <= MAX_POPULATION:
        raise OptionError(f"population: {n} is out of range (allowed: 1 to {MAX_POPULATION:,})")
    shares = [g.share for g in regime.groups]
    net = regime.network
    blocks = None
    if net.homophily > 0:  # groups as contiguous id blocks: close friends share a group
        blocks = _blocks(n, shares)
        group = np.repeat(np.arange(len(shares), dtype=np.uint8), np.diff(blocks))
    else:
        group = _assign(rng.stage_key(seed, 0, rng.POP_GROUP), n, shares)
    place = _assign(rng.stage_key(seed, 0, rng.POP_PLACE), n, [p.share for p in regime.places])

    lam_group = group_rate_table(regime)
    spreads = np.array([b.spread for b in regime.behaviours.values()])
    hetero = np.flatnonzero(spreads > 0)
    beh_col = np.full(len(spreads), -1, dtype=np.int64)
    beh_col[hetero] = np.arange(len(hetero))
    keys = np.array([rng.name_key(name) for name in regime.behaviours], dtype=np.uint64)
    lam_agent = _lognormal_rates(
        rng.stage_key(seed, 0, rng.POP_RATE),
        group,
        lam_group[:, hetero],
        spreads[hetero],
        keys[hetero],
    )
    lam_total = lam_group.sum(axis=1)
    if hetero.size:  # one total per person: the homogeneous part plus the person's own rates
        homo = lam_group[:, beh_col < 0].sum(axis=1)
        lam_total = (homo[group] + lam_agent.sum(axis=1, dtype=np.float64)).astype(np.float32)
    household, hstart = _households(
        rng.stage_key(seed, 0, rng.POP_HOUSEHOLD), n, regime.households.mean_size
    )
    indptr, indices = friendship_graph(
        rng.stage_key(seed, 0, rng.POP_GRAPH),
        n,
        net.degree,
        net.locality,
        net.homophily,
        net.degree_spread,
        blocks,
    )
    return Population(
        n, group, lam_total, lam_group, lam_agent, beh_col, household, hstart, place, indptr,
        indices,
    )  # fmt: skip


def _blocks(n: int, shares: list[float]) -> np.ndarray:
    """First id of each group's block of ids (and n at the end), blocks sized by share."""
    cum = np.cumsum(shares)
    cum[-1] = 1.0
    return np.concatenate([[0], np.round(cum * n).astype(np.int64)])


def _assign(key: np.uint64, n: int, shares: list[float]) -> np.ndarray:
    """Each agent to one category, with chance its share (groups, places)."""
    cum = np.cumsum(shares)
    cum[-1] = 1.0
    return np.searchsorted(cum, rng.uniforms(key, n), side="right").astype(np.uint8)


@njit(parallel=True, cache=True)
def _lognormal_rates(key, group, lam, sigma, keys):
    """Rates lam * exp(sigma z - sigma^2 / 2): lognormal with the mean kept at lam."""
    n = group.size
    out = np.empty((n, sigma.size), dtype=np.float32)
    for i in prange(n):
        base = rng.agent_base(key, i)
        for c in range(sigma.size):
            h = rng.draw(base, keys[c])
            u1 = 1.0 - rng.unit(h)  # (0, 1]
            u2 = rng.unit(rng.mix64(h))
            z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
            s = sigma[c]
            out[i, c] = lam[group[i], c] * np.exp(s * z - 0.5 * s * s)
    return out


@njit(cache=True)
def _households(key, n, mean_size):
    """Households as runs of consecutive ids; a new one starts with chance 1/mean_size.

    Returns each agent's household and each household's first id (with n at the end),
    so a household's members are ``range(hstart[h], hstart[h + 1])``.
    """
    out = np.empty(n, dtype=np.uint32)
    starts = np.empty(n + 1, dtype=np.int64)
    p_start = 1.0 / mean_size
    h = 0
    starts[0] = 0
    for i in range(n):
        if i > 0 and rng.unit(rng.draw(rng.agent_base(key, i), np.uint64(0))) < p_start:
            h += 1
            starts[h] = i
        out[i] = h
    starts[h + 1] = n
    return out, starts[: h + 2].copy()
