"""Behave: each agent's true events of the day, whatever the regime watches.

Each behaviour is its own Poisson stream, drawn from a hash of (seed, day, agent, the
behaviour's name): a behaviour's true events depend on its own rate, spread and the
agent's group, never on the other behaviours' rates, their order in the file or their
number (common random numbers, so a sweep over one rate or a regime that adds a
behaviour is a paired comparison). Nor do they depend on observers or rules.

Responses (deterrence, chilling, displacement, gaming; ``engine.respond``) are thinning
on top of these base draws: an event of a responding behaviour b is kept with chance
m(i, b), the agent's multiplier, from a draw of its own, so two runs that differ only
in a response still pair event by event.

Events are packed into one int64 each (agent, behaviour, observer slot, index of the
event in the agent's day of that behaviour) so the sparse stages that follow move one
array. An agent's own events of b have indices 0, 1, ...; events displaced into b and
bots' events of b come after ``max_count``, so every (agent, behaviour, index) is one
event and observers key their draws by it (``event_key``).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from scsim.core import rng
from scsim.core.events import event_key, pack
from scsim.engine.respond import NONE, multiplier
from scsim.population.build import agent_rate

# Sub-streams of a behaviour's own draws (``event_key``'s third term), beside its count.
_K_THIN = np.uint64(1 << 32)
_K_DETECT = np.uint64(1 << 33)
_K_BOT = np.uint64(1 << 34)
_K_GAP = np.uint64(1 << 35)  # (a uint64: a literal 0 would make the key a float64)
_S11 = np.uint64(11)
_K_SPARSE = np.uint64(0x5350415253450000)  # salts the keys of aligned tiles of agents
# The lowest set bit of a word, by a de Bruijn multiply (bit scan forward).
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_S58 = np.uint64(58)
_LOWEST = np.zeros(64, dtype=np.int64)
_LOWEST[[((1 << q) * 0x03F79D71B4CB0A89 % 2**64) >> 58 for q in range(64)]] = np.arange(64)
#: Agents whose early-exit draws are made together, one behaviour at a time (SIMD);
#: tiles are aligned on multiples of TILE agent ids, whatever the chunks.
TILE = 64
#: A behaviour whose largest rate is below this is *sparse*: rather than a hash per
#: agent, one hash per tile says whether any agent of the tile falls below that rate.
SPARSE_BELOW = 1.0 / 256


@njit(inline="always", cache=True)
def poisson_count(u, lam, max_count):
    """Poisson(lam) by inversion of u, with the common no-event case in one compare.

    ``u >= lam`` implies no event (P(n >= 1) = 1 - exp(-lam) <= lam), so the exp is
    only paid on the rare days something may happen. The sum runs in float64 whatever
    the rate's type (a float32 sum stalls below 1 - 6e-8 and a tiny ``u`` would then
    run to ``max_count``), and stops once the terms no longer add anything.
    """
    if u >= lam:
        return 0
    lam = np.float64(lam)
    w = 1.0 - u
    term = np.exp(-lam)
    cdf = term
    k = 0
    while w > cdf and k < max_count:
        k += 1
        term *= lam / k
        if cdf + term == cdf and k > lam:
            break
        cdf += term
    return k


@njit(parallel=True, cache=True)
def behave(
    key_b, day, chunk, group, lam_total, lam_group, rates, beh_col, beh_key, order,
    max_count, resp, true_counts, out, out_n,
):  # fmt: skip
    """Draw each agent's true events of the day, packed (agent, behaviour, index).

    ``rates`` (``population.Rates``) gives an agent's own rate of a behaviour with
    spread, from the kept table or derived again; ``order`` is the order the
    behaviours' events of one agent are listed in (by name key, not file order);
    ``resp`` the response tables (``respond.Responses.tables``, or ``respond.inert``).
    Writes per-block true event counts by (group, behaviour) and the events into
    per-block buffers; ``out_n`` may exceed the buffer width, which tells the driver to
    retry with wider buffers.
    """
    n = group.size
    true_counts[:] = 0
    for blk in prange(out.shape[0]):
        out_n[blk] = _block(
            key_b, day, blk * chunk, min(n, (blk + 1) * chunk), group, lam_total, lam_group,
            rates, beh_col, beh_key, order, max_count, resp, true_counts[blk], out[blk],
        )  # fmt: skip


@njit(cache=True)
def _block(
    key_b, day, start, stop, group, lam_total, lam_group, rates, beh_col, beh_key, order,
    max_count, resp, counts, out,
):  # fmt: skip
    """One block of agents, a tile at a time: the tile's early-exit draws together, the
    exact rates of the few (agent, behaviour) pairs below their bound together, then
    the events of those pairs, in agent order."""
    kind, gmult, sens, memory, pts, dcol, chill_src, chill_share, displace = resp[:9]
    perc, stamp, bots, game_rate, game_detect, gamed = resp[9:]
    n_beh = beh_key.size
    has_bots = bots.size == group.size
    per_agent = lam_total.size == group.size  # else one total per group, no spread
    extras = has_bots or (displace >= 0).any()
    top, scale, q, log1m = _bounds(lam_group, rates[5], beh_col)
    sparse = np.flatnonzero(q >= 0.0)
    rank = np.empty(n_beh, dtype=np.int64)  # bit rank[b] & 63 of ``hits`` is behaviour b
    rank[order] = np.arange(n_beh)
    # two tiles in flight: the next tile's draws are made, and its rows of the rate
    # table asked for, before this tile's rates are read
    bases = np.empty((2, TILE), dtype=np.uint64)
    hitss = np.empty((2, TILE), dtype=np.uint64)
    thr = np.empty(TILE, dtype=np.int64)
    pair_j = np.empty(TILE * (n_beh + 1), dtype=np.int64)
    pair_b = np.empty(TILE * (n_beh + 1), dtype=np.int64)
    pair_lam = np.empty(TILE * (n_beh + 1))
    pair_u = np.empty(TILE * (n_beh + 1))
    extra = np.zeros(n_beh, dtype=np.int64)  # events displaced into b, or by bots
    c = 0
    s, cur = start, 0
    m = min(TILE - s % TILE, stop - s)
    if s < stop:
        _draws(key_b, s, m, per_agent, lam_total, rates[4], beh_col, beh_key, rank, top,
               sparse, q, log1m, bases[0], thr, hitss[0])  # fmt: skip
    while s < stop:
        nxt = s + m
        m_next = min(TILE - nxt % TILE, stop - nxt)
        if nxt < stop:
            _draws(key_b, nxt, m_next, per_agent, lam_total, rates[4], beh_col, beh_key,
                   rank, top, sparse, q, log1m, bases[1 - cur], thr, hitss[1 - cur])  # fmt: skip
        base, hits = bases[cur], hitss[cur]
        n_pairs = _exact_rates(
            s, m, hits, base, group, lam_group, rates, beh_col, beh_key, order, scale, bots,
            pair_j, pair_b, pair_lam, pair_u,
        )  # fmt: skip
        last = -1
        for p in range(n_pairs):
            j, b = pair_j[p], pair_b[p]
            i = s + j
            g = group[i]
            if extras and j != last:
                extra[:] = 0
            last = j
            if b < 0:
                c = _bots(
                    i, g, base[j], bots[i], gamed, game_rate, game_detect, beh_key,
                    max_count, extra, counts, out, c,
                )  # fmt: skip
                continue
            kb = beh_key[b]
            for e in range(poisson_count(pair_u[p], pair_lam[p], max_count)):
                d, idx = b, e
                if kind[b] != NONE:
                    mult = multiplier(
                        i, b, day, kind, gmult, sens, memory, pts, dcol, chill_src,
                        chill_share, perc, stamp,
                    )  # fmt: skip
                    if rng.unit(rng.draw(base[j], event_key(kb, e, _K_THIN))) >= mult:
                        d = displace[b]
                        if d < 0 or extra[d] >= max_count:
                            continue  # deterred: it does not happen
                        idx = max_count + extra[d]
                        extra[d] += 1
                counts[g, d] += 1
                if c < out.size:
                    out[c] = pack(i, d, 0, idx)
                c += 1
        s, m, cur = nxt, m_next, 1 - cur
    return c


@njit(inline="always", cache=True)
def _draws(
    key_b, s, m, per_agent, lam_total, rtable, beh_col, beh_key, rank, top, sparse, q, log1m,
    base, thr, hits,
):  # fmt: skip
    """A tile's early-exit draws (dense and sparse), then its agents' rows of the rate
    table asked of the cache for the pairs below their bound."""
    _tile_hits(key_b, s, m, per_agent, lam_total, beh_col, beh_key, rank, top, base, thr, hits)
    _sparse_hits(key_b, s, m, beh_key, rank, sparse, q, log1m, hits)
    if rtable.shape[0] > 0:
        for j in range(m):
            if hits[j]:
                _prefetch_row(rtable, s + j)


@njit(cache=True)
def _bounds(lam_group, rate_top, beh_col):
    """Each behaviour's largest rate in the population as a ``_threshold`` (0 for a
    sparse one), the scale of its uniform (that rate when sparse, else 1), and for a
    sparse one the chance q that some agent of a tile falls below it, and
    log(1 - that rate) (q = -1 marks a dense one)."""
    n_beh = beh_col.size
    top = np.zeros(n_beh, dtype=np.int64)
    scale, q, log1m = np.ones(n_beh), np.full(n_beh, -1.0), np.zeros(n_beh)
    for b in range(n_beh):
        col = beh_col[b]
        rmax = 0.0
        for g in range(lam_group.shape[0]):
            rmax = max(rmax, lam_group[g, b] if col < 0 else np.float64(rate_top[g, col]))
        if rmax < SPARSE_BELOW:
            scale[b], log1m[b] = rmax, np.log1p(-rmax)
            q[b] = -np.expm1(TILE * log1m[b])
        else:
            top[b] = _threshold(rmax)
    return top, scale, q, log1m


@njit(inline="always", cache=True)
def _threshold(lam):
    """The integer t with ``unit(h) < lam`` exactly when ``h >> 11 < t``."""
    return np.int64(np.ceil(min(np.float64(lam), 1.0) * 9007199254740992.0))


@njit(inline="always", cache=True)
def _tile_hits(key_b, s, m, per_agent, lam_total, beh_col, beh_key, rank, top, base, thr, hits):
    """Bit ``rank[b]`` of ``hits[j]`` is set when agent s + j may have an event of behaviour b
    today: its uniform falls below a bound of its rate (the behaviour's largest rate in
    the population, and for a behaviour with spread also the agent's total rate).
    Below the bound the exact rate decides; above it no rate gives an event. One
    behaviour at a time over the tile, integer compares, so the hashes run in SIMD
    lanes."""
    for j in range(m):
        base[j] = rng.agent_base(key_b, s + j)
        hits[j] = 0
        thr[j] = _threshold(lam_total[s + j]) if per_agent else 0
    for b in range(beh_key.size):
        kb = beh_key[b]
        bit = np.uint64(1) << np.uint64(rank[b] & 63)
        if top[b] == 0:
            continue  # sparse (``_sparse_hits``), or never happens
        if beh_col[b] >= 0:
            t = top[b]
            for j in range(m):
                if np.int64(rng.draw(base[j], kb) >> _S11) < min(thr[j], t):
                    hits[j] |= bit
        else:
            t = top[b]
            for j in range(m):
                if np.int64(rng.draw(base[j], kb) >> _S11) < t:
                    hits[j] |= bit


@njit(inline="always", cache=True)
def _sparse_hits(key_b, s, m, beh_key, rank, sparse, q, log1m, hits):
    """Sets the bits of the tile's agents whose uniform of a sparse behaviour b falls
    below its largest rate r: with one hash per aligned tile of TILE agent ids, the
    first such agent by inversion of a geometric law (none with chance (1 - r)^TILE),
    then the next after geometric gaps. Each agent is below r with chance r, all
    independently, as if it had drawn its own uniform; below r, its own draw scaled by
    r is that uniform (``_block``)."""
    a = s // TILE
    for t in range(sparse.size):
        b = sparse[t]
        u = rng.unit(rng.draw(rng.agent_base(key_b ^ _K_SPARSE, a), beh_key[b]))
        if u >= q[b]:
            continue
        tile = rng.agent_base(key_b ^ _K_SPARSE, a)
        bit = np.uint64(1) << np.uint64(rank[b] & 63)
        f = np.floor(np.log1p(-u) / log1m[b])
        k = 0
        while f < TILE:
            j = a * TILE + np.int64(f) - s
            if 0 <= j < m:
                hits[j] |= bit
            k += 1
            u = rng.unit(rng.draw(tile, event_key(beh_key[b], k, _K_GAP)))
            f += 1.0 + np.floor(np.log1p(-u) / log1m[b])


@intrinsic
def _prefetch_row(typingctx, table, i):
    """Ask the cache for row i of a 2-d array (``llvm.prefetch``), without waiting."""
    sig = types.void(table, i)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        row = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [row, zero])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", cache=True)
def _exact_rates(
    s, m, hits, base, group, lam_group, rates, beh_col, beh_key, order, scale, bots,
    pair_j, pair_b, pair_lam, pair_u,
):  # fmt: skip
    """The (agent, behaviour) pairs of the tile whose uniform falls below the agent's
    exact rate (an event at least may happen), agent by agent and in ``order`` (bit q
    of ``hits`` is behaviour ``order[q]``, and ``order[q + 64]``...), with that rate
    and uniform; an agent with bots gets a last pair (agent, -1). The pairs below
    their bound are listed first, then their rates read and kept or dropped without a
    branch, so that the cache misses overlap."""
    rkey, rlam, rsig, rkeys, rtable = rates[:5]
    has_bots = bots.size == group.size
    kept = rtable.shape[0] > 0
    n = 0
    for j in range(m):
        h = hits[j]
        botted = has_bots and bots[s + j] != 0
        if h == 0 and not botted:
            continue
        while h:
            low = h & (~h + np.uint64(1))
            h ^= low
            for q in range(_LOWEST[(low * _DE_BRUIJN) >> _S58], order.size, 64):
                pair_j[n], pair_b[n] = j, order[q]
                n += 1
        if botted:
            pair_j[n], pair_b[n] = j, -1
            n += 1
    out = 0
    for p in range(n):
        j, b = pair_j[p], pair_b[p]
        i = s + j
        lam, u = 0.0, 0.0
        if b >= 0:
            col = beh_col[b]
            if col < 0:
                lam = lam_group[group[i], b]
            elif kept:
                lam = np.float64(rtable[i, col])
            else:
                lam = np.float64(agent_rate(rkey, rlam, rsig, rkeys, i, group[i], col))
            u = scale[b] * rng.unit(rng.draw(base[j], beh_key[b]))
        pair_j[out], pair_b[out], pair_lam[out], pair_u[out] = j, b, lam, u
        out += (b < 0) | (u < lam)
    return out


@njit(cache=True)
def _bots(
    i, g, base, mine, gamed, game_rate, game_detect, beh_key, max_count, extra, counts, out, c
):
    """The events of agent i's bots: streams of their own, after its own events; a
    ``detected`` share is discarded by the regime (it happens, it never scores)."""
    width = out.size
    for t in range(gamed.size):
        if not (mine >> np.uint32(t)) & np.uint32(1):
            continue
        b = gamed[t]
        kb = beh_key[b]
        u = rng.unit(rng.draw(base, event_key(kb, 0, _K_BOT)))
        k = poisson_count(u, game_rate[b], max_count - extra[b])
        for _ in range(k):
            idx = max_count + extra[b]
            extra[b] += 1
            counts[g, b] += 1
            if rng.unit(rng.draw(base, event_key(kb, idx, _K_DETECT))) >= game_detect[b]:
                if c < width:
                    out[c] = pack(i, b, 0, idx)
                c += 1
    return c


@njit(cache=True)
def gather(cand, cand_n):
    """The blocks' candidates as one array, in agent order."""
    total = 0
    for blk in range(cand_n.size):
        total += cand_n[blk]
    out = np.empty(total, dtype=np.int64)
    t = 0
    for blk in range(cand_n.size):
        out[t : t + cand_n[blk]] = cand[blk, : cand_n[blk]]
        t += cand_n[blk]
    return out
