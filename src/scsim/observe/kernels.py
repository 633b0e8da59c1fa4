"""Observer kernels: which true events a regime learns of, and whom it blames.

Sparse: they walk the day's events, never the population. Every draw is keyed by the
event (agent, behaviour, index) and the observer's name, so who sees what does not
depend on the order of the file or on the chunking.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from scsim.engine import rng
from scsim.engine.behave import event_key, pack, unpack

_FLIP = np.uint64(0x5851F42D4C957F2D)
MAX_TRIES = 10_000


@njit(cache=True)
def route(c, key_o, events, place, coverage):
    """Each true event goes to the first observer (in file order) it is in view of.

    ``coverage[o, p]`` is the share of events in place p in view of observer o.
    Returns the candidates: events in view of some observer, with it packed in.
    """
    agent, beh, _, idx = unpack(events)
    beh_obs, beh_key, obs_key = c.beh_obs, c.beh_key, c.obs_key  # once: see engine.settle
    out = np.empty(events.size, dtype=np.int64)
    n_out = 0
    for t in range(events.size):
        i, b = agent[t], beh[t]
        base = rng.agent_base(key_o, i)
        for slot in range(beh_obs.shape[1]):
            o = beh_obs[b, slot]
            if o < 0:
                break
            u = rng.unit(rng.draw(base, event_key(beh_key[b], idx[t], obs_key[o])))
            if u < coverage[o, place[i]]:
                out[n_out] = pack(i, b, o, idx[t])
                n_out += 1
                break
    return out[:n_out]


@njit(cache=True)
def priorities(c, key_c, packed):
    """A random priority per candidate: capacity serves the lowest, whoever they are."""
    out = np.empty(packed.size, dtype=np.uint64)
    agent, beh, obs, idx = unpack(packed)
    beh_key, obs_key = c.beh_key, c.obs_key
    for t in range(packed.size):
        base = rng.agent_base(key_c, agent[t])
        out[t] = rng.draw(base, event_key(beh_key[beh[t]], idx[t], obs_key[obs[t]]))
    return out


@njit(inline="always", cache=True)
def _someone_else(z, i, n, group, weight):
    """An agent other than i (any agent if i < 0), drawn with chance proportional to its
    group's weight."""
    j = i
    for _ in range(MAX_TRIES):
        if i < 0:
            j = np.int64(z % np.uint64(n))
        else:
            j = np.int64(z % np.uint64(n - 1))
            j = j + 1 if j >= i else j
        z = rng.mix64(z)
        if rng.unit(z) < weight[group[j]]:
            break
        z = rng.mix64(z)
    return j


@njit(cache=True)
def match(c, key_m, packed, keep, group, household, hstart):
    """Search each kept candidate: a false match, a correct attribution, or a miss.

    A false match (chance ``p_false`` times the doer's group ``false_match_multiplier``)
    lands on someone else, drawn with weight share x multiplier of their group: the
    doer escapes it. ``detection`` applies to the events not falsely matched; of those,
    an ``attribute_error`` share goes to another member of the doer's household (a
    shared account, a family card). Returns the attributed agent of each candidate and
    which candidates were recorded.
    """
    n = group.size
    agent, beh, obs, idx = unpack(packed)
    beh_key, obs_key, p_false, fm_mult = c.beh_key, c.obs_key, c.p_false, c.fm_mult
    fm_weight, detection, attr_error = c.fm_weight, c.detection, c.attr_error
    attr = np.empty(packed.size, dtype=np.int64)
    recorded = np.zeros(packed.size, dtype=np.bool_)
    for t in range(packed.size):
        if not keep[t]:
            continue
        i, o = agent[t], obs[t]
        h = rng.draw(rng.agent_base(key_m, i), event_key(beh_key[beh[t]], idx[t], obs_key[o]))
        if n > 1 and rng.unit(h) < p_false[o] * fm_mult[group[i]]:
            attr[t] = _someone_else(rng.mix64(h ^ _FLIP), i, n, group, fm_weight)
            recorded[t] = True
        elif rng.unit(rng.mix64(h)) < detection[o]:
            attr[t] = i
            recorded[t] = True
            h2 = rng.mix64(rng.mix64(h))
            lo, hi = hstart[household[i]], hstart[household[i] + 1]
            if hi - lo > 1 and rng.unit(h2) < attr_error[o]:
                j = lo + np.int64(rng.mix64(h2) % np.uint64(hi - lo - 1))
                attr[t] = j + 1 if j >= i else j
    return attr, recorded


@njit(cache=True)
def accusations(c, key_a, o, count, group):
    """``count`` reports of events nobody committed, about agents drawn by group weight."""
    n = group.size
    weight = c.accuse_weight
    attr = np.empty(count, dtype=np.int64)
    for t in range(count):
        z = rng.draw(rng.agent_base(key_a, o), np.uint64(t))
        attr[t] = _someone_else(z, -1, n, group, weight)
    return attr
