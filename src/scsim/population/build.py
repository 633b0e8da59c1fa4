"""Synthetic populations from aggregate parameters: no person-level input exists.

Every attribute is a counter-based draw keyed by (seed, stage, agent), so the same
seed gives the same people whatever the regime's rules say, and whatever the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from scsim.engine import rng
from scsim.errors import OptionError
from scsim.population.graph import friendship_graph
from scsim.population.procedural import Procedural, degrees, procedural_graph
from scsim.regime import Regime
from scsim.regime.schema import stored_edge_keys

MAX_POPULATION = 2_000_000_000
#: ``network.graph: auto`` computes friends procedurally above this many agents (a CSR
#: graph of degree 10 would take about 2.2 GB here), when the regime allows it.
PROCEDURAL_ABOVE = 50_000_000


#: The per-agent rate table is kept when it takes at most this many bytes; above, each
#: rate is derived again when needed. Same float32 values either way, so the same run:
#: the table is a trade of memory (4 bytes per agent and varying behaviour) for time
#: (behave derives a rate for each agent and behaviour whose uniform falls below its
#: bound, docs/performance.md).
RATE_TABLE_BYTES = 1 << 30


class Rates(NamedTuple):
    """How to get an agent's own rate of a behaviour whose rate varies across people
    (column ``c`` of ``beh_col``): ``table[i, c]`` when the table is kept, else
    ``agent_rate(key, lam, sigma, keys, i, g, c)``, a counter-based lognormal draw made
    again on the rare days an agent's uniform of the behaviour falls below its bound
    (``engine.behave``); ``top`` is that bound's per-group part.
    """

    key: np.uint64  # the population's rate stage key
    lam: np.ndarray  # float64[G, Bh]: group mean rate of each varying behaviour
    sigma: np.ndarray  # float64[Bh]: lognormal sigma
    keys: np.ndarray  # uint64[Bh]: the behaviours' name keys
    table: np.ndarray  # float32[n, Bh] when kept, else [0, Bh]
    top: np.ndarray  # float32[G, Bh]: the largest rate in each group (behave's bound)


def keeps_rate_table(regime: Regime, n: int) -> bool:
    """Whether a population of ``n`` keeps its per-agent rate table (RATE_TABLE_BYTES)."""
    varying = sum(b.spread > 0 for b in regime.behaviours.values())
    return 4 * n * varying <= RATE_TABLE_BYTES


@dataclass
class Population:
    """The people, as arrays indexed by agent id.

    A behaviour whose rate varies across people (``spread > 0``) has its per-agent rate
    derived on demand from ``rates`` (only the total over behaviours is stored, as
    ``lam_total``); the others read one rate per group from ``lam_group``, so a
    homogeneous behaviour costs no memory per agent.
    """

    n: int
    group: np.ndarray  # uint8[n]
    lam_total: np.ndarray  # float32[n], or float64[G] when no rate varies by person
    lam_group: np.ndarray  # float64[G, B]: mean events per day, per group
    rates: Rates  # per-agent rates of heterogeneous behaviours, computed on demand
    beh_col: np.ndarray  # int64[B]: column of ``rates``, or -1 to read lam_group
    household: np.ndarray  # uint32[n]: household id, households are runs of ids
    hstart: np.ndarray  # int64[H + 1]: first id of each household (and n at the end)
    place: np.ndarray  # uint8[n]
    indptr: np.ndarray  # int32 or int64 [n + 1]: CSR friendship graph (empty if procedural)
    indices: np.ndarray  # int32[E]; -1 marks a tie dropped during a run (both ends)
    proc: Procedural | None = None  # the procedural graph, when friends are not stored

    def nbytes(self) -> int:
        skip = ("n", "rates", "proc")
        arrays = [getattr(self, f.name) for f in fields(self) if f.name not in skip]
        graph = self.proc.nbytes() if self.proc is not None else 0
        rates = sum(a.nbytes for a in self.rates[1:])
        return sum(a.nbytes for a in arrays) + rates + graph

    def agent_rates(self, first: int = 0, stop: int | None = None) -> np.ndarray:
        """The per-agent rates of agents ``first`` to ``stop``, float32[m, Bh], the values
        the engine computes on demand (for respond's dense sums, tests and analysis)."""
        stop = self.n if stop is None else stop
        r = self.rates
        if r.table.shape[0]:
            return r.table[first:stop]
        return _lognormal_rates(r.key, self.group, first, stop, r.lam, r.sigma, r.keys)

    def degree(self) -> np.ndarray:
        """Each agent's number of live ties (dropped ties are -1 in ``indices``)."""
        if self.proc is not None:
            return degrees(self.proc).astype(np.int64)
        deg = np.diff(self.indptr).astype(np.int64)  # int64 whatever indptr's width
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


def build_population(
    regime: Regime, n: int, seed: int, keep_rates: bool | None = None
) -> Population:
    """The people of ``regime``: ``keep_rates`` keeps the per-agent rate table (default:
    when it fits ``RATE_TABLE_BYTES``); the run is the same either way."""
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
    key, lam = rng.stage_key(seed, 0, rng.POP_RATE), np.ascontiguousarray(lam_group[:, hetero])
    sigma, hkeys = spreads[hetero].astype(np.float64), keys[hetero]
    keep = keeps_rate_table(regime, n) if keep_rates is None else keep_rates
    table = np.empty((n if keep and hetero.size else 0, hetero.size), dtype=np.float32)
    top = np.zeros((len(shares), hetero.size), dtype=np.float32)
    lam_total = lam_group.sum(axis=1)
    if hetero.size:  # one total per person: the homogeneous part plus the person's own rates
        homo = lam_group[:, beh_col < 0].sum(axis=1)
        lam_total = np.empty(n, dtype=np.float32)
        for first in range(0, n, _RATE_CHUNK):  # the per-agent table, a slice at a time
            stop = min(n, first + _RATE_CHUNK)
            own = _lognormal_rates(key, group, first, stop, lam, sigma, hkeys)
            lam_total[first:stop] = homo[group[first:stop]] + own.sum(axis=1, dtype=np.float64)
            _group_max(own, group[first:stop], top)
            if table.shape[0]:
                table[first:stop] = own
    rates = Rates(key, lam, sigma, hkeys, table, top)
    household, hstart = _households(
        rng.stage_key(seed, 0, rng.POP_HOUSEHOLD), n, regime.households.mean_size
    )
    proc = None
    if procedural(regime, n):
        proc = procedural_graph(rng.stage_key(seed, 0, rng.POP_GRAPH), n, net.degree, net.locality)
        indptr, indices = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
    else:
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
        n, group, lam_total, lam_group, rates, beh_col, household, hstart, place, indptr,
        indices, proc,
    )  # fmt: skip


def procedural(regime: Regime, n: int) -> bool:
    """Whether friends are computed (``network.graph``): always for ``procedural``, for
    ``auto`` above ``PROCEDURAL_ABOVE`` agents unless a key needs stored ties."""
    net = regime.network
    if net.graph == "auto":
        return n > PROCEDURAL_ABOVE and not stored_edge_keys(regime) and net.degree <= 255
    return net.graph == "procedural"


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


#: Agents whose rate table is built at once while summing their total rates.
_RATE_CHUNK = 1 << 20


@njit(parallel=True, cache=True)
def _lognormal_rates(key, group, first, stop, lam, sigma, keys):
    """The rates of agents ``first`` to ``stop``, one column per varying behaviour."""
    out = np.empty((stop - first, sigma.size), dtype=np.float32)
    for i in prange(first, stop):
        g = group[i]
        for c in range(sigma.size):
            out[i - first, c] = agent_rate(key, lam, sigma, keys, i, g, c)
    return out


@njit(cache=True)
def _group_max(own, group, top):
    """Raise ``top[g, c]`` to the largest rate of column c among agents of group g."""
    for i in range(own.shape[0]):
        g = group[i]
        for c in range(own.shape[1]):
            top[g, c] = max(top[g, c], own[i, c])


@njit(inline="always", cache=True)
def agent_rate(key, lam, sigma, keys, i, g, c):
    """Agent i's rate of varying behaviour c: ``lam * exp(sigma z - sigma^2 / 2)``,
    lognormal with the group's mean kept, z a Box-Muller normal of the agent's stream."""
    h = rng.draw(rng.agent_base(key, i), keys[c])
    u1 = 1.0 - rng.unit(h)  # (0, 1]
    u2 = rng.unit(rng.mix64(h))
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    s = sigma[c]
    return np.float32(lam[g, c] * np.exp(s * z - 0.5 * s * s))


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
