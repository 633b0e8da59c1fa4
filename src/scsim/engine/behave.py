"""Behave: each agent's true events of the day, whatever the regime watches.

The events of one population are the same for every regime run with the same seed and
behaviours (common random numbers): they depend on (seed, day, agent) and the rates,
never on observers or rules. Events are packed into one int64 each (agent, behaviour,
observer slot, index of the event in the agent's day) so the sparse stages that follow
move one array.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.core import rng
from scsim.population.build import agent_rate
from scsim.regime.schema import EVENT_INDEX_BITS

# Fields from the top: agent, behaviour, observer, index of the event in the day (16
# bits). The schema bounds the behaviours and observers by the same EVENT_INDEX_BITS.
_SHIFT_OBS = np.int64(16)
_SHIFT_BEH = np.int64(16 + EVENT_INDEX_BITS)
_SHIFT_AGENT = np.int64(16 + 2 * EVENT_INDEX_BITS)
_BYTE = np.int64((1 << EVENT_INDEX_BITS) - 1)
_WORD = np.int64(0xFFFF)
_EVENT_STRIDE = np.uint64(0xD1B54A32D192ED03)


@njit(inline="always", cache=True)
def event_key(beh_key, e, obs_key):
    """The draw index of event e of a behaviour as seen by an observer.

    Keys come from names, so reordering a file's behaviours or observers, or adding
    one, leaves every other draw as it was.
    """
    return beh_key + np.uint64(e) * _EVENT_STRIDE + obs_key


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
    key_b,
    chunk,
    group,
    lam_total,
    lam_group,
    rates,
    beh_col,
    max_count,
    true_counts,
    out,
    out_n,
):
    """Draw each agent's true events of the day, packed as (agent, behaviour, index).

    An agent's events of all behaviours form one Poisson stream of rate ``lam_total``
    (the sum of its rates); each event is then one behaviour with chance proportional
    to its rate. This is the same law as one Poisson count per behaviour, but costs one
    draw per agent-day instead of one per behaviour: most agents do nothing on most days.

    An agent's own rates (``rates``, ``population.Rates``) are computed only on the days
    it has an event, and only up to the behaviour the event turns out to be.

    Writes per-block true event counts by (group, behaviour) and the events into
    per-block buffers; ``out_n`` may exceed the buffer width, which tells the driver to
    retry with wider buffers.
    """
    n = group.size
    n_beh = lam_group.shape[1]
    width = out.shape[1]
    per_agent = lam_total.size == n
    rkey, rlam, rsig, rkeys, rtable = rates  # unpacked once: no tuple reads in the loop
    true_counts[:] = 0
    for blk in prange(out.shape[0]):
        c = 0
        for i in range(blk * chunk, min(n, (blk + 1) * chunk)):
            g = group[i]
            total = lam_total[i] if per_agent else lam_total[g]
            base = rng.agent_base(key_b, i)
            count = poisson_count(rng.unit(rng.draw(base, np.uint64(0))), total, max_count)
            for e in range(count):
                target = rng.unit(rng.draw(base, np.uint64(e + 1))) * total
                b = which_behaviour(
                    target, i, g, n_beh, beh_col, rkey, rlam, rsig, rkeys, rtable, lam_group
                )
                true_counts[blk, g, b] += 1
                if c < width:
                    out[blk, c] = pack(i, b, 0, e)
                c += 1
        out_n[blk] = c


@njit(inline="always", cache=True)
def which_behaviour(target, i, g, n_beh, beh_col, rkey, rlam, rsig, rkeys, rtable, lam_group):
    """The behaviour an event is, given ``target`` uniform in [0, the agent's total rate):
    each behaviour takes the slice of its own rate (the last takes what rounding
    leaves). An agent's own rates are read from the kept table, or derived from the
    generator here: the same float32 values the population's total was summed from."""
    b = 0
    acc = 0.0
    kept = rtable.shape[0] > 0
    while b < n_beh - 1:
        col = beh_col[b]
        if col >= 0:
            if kept:
                acc += np.float64(rtable[i, col])
            else:
                acc += np.float64(agent_rate(rkey, rlam, rsig, rkeys, i, g, col))
        else:
            acc += lam_group[g, b]
        if target < acc:
            break
        b += 1
    return b


@njit(inline="always", cache=True)
def pack(agent, beh, obs, idx):
    return (
        (np.int64(agent) << _SHIFT_AGENT)
        | (np.int64(beh) << _SHIFT_BEH)
        | (np.int64(obs) << _SHIFT_OBS)
        | np.int64(idx)
    )


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


@njit(cache=True)
def unpack(packed):
    agent = (packed >> _SHIFT_AGENT).astype(np.int64)
    beh = (packed >> _SHIFT_BEH) & _BYTE
    obs = (packed >> _SHIFT_OBS) & _BYTE
    idx = packed & _WORD
    return agent, beh, obs, idx
