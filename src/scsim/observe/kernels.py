"""Observer kernels: which true events a regime learns of, and whom it blames.

Sparse: they walk the day's events, never the population. Every draw is keyed by the
event (agent, behaviour, index) and the observer's name, so who sees what does not
depend on the order of the file or on the chunking.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from scsim.core import rng
from scsim.core.events import event_key, pack, unpack

_FLIP = np.uint64(0x5851F42D4C957F2D)
_INSIDE = np.uint64(0x14057B7EF767814F)
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
def in_gallery(key_e, i, okey, share):
    """Agent i is enrolled in the gallery of the observer keyed ``okey`` (chance
    ``share``): a hash of (seed, agent, observer name), fixed for the whole run and
    the same whatever the file's order, so no per-agent array is kept."""
    return share >= 1.0 or rng.unit(rng.draw(rng.agent_base(key_e, i), okey)) < share


@njit(inline="always", cache=True)
def _draw_agent(z, i, n, group, weight, key_e, okey, share):
    """An enrolled agent other than i, drawn with chance proportional to its group's
    weight (rejection: uniform agent, kept with chance weight x enrolled); -1 when
    none is found in MAX_TRIES tries (no enrolled agent, or nearly none)."""
    for _ in range(MAX_TRIES):
        j = np.int64(z % np.uint64(n))
        z = rng.mix64(z)
        if j != i and rng.unit(z) < weight[group[j]] and in_gallery(key_e, j, okey, share):
            return j
        z = rng.mix64(z)
    return np.int64(-1)


@njit(cache=True)
def match(c, key_m, key_e, packed, keep, group, household, hstart, outside):
    """Search each kept candidate: the doer, an impostor, or nobody.

    A search of an enrolled doer (mated) returns the doer with chance ``detection``
    (1 - FNIR); of those, an ``attribute_error`` share goes to another member of the
    doer's household (a shared account, a family card). A search that did not return
    the doer (a missed mated search, or any search of a doer outside the gallery)
    returns an impostor with chance ``p_false[o, g]`` (the FPIR of the doer's group
    g). The impostor is a simulated enrolled agent with chance ``p_inside[o]``, drawn
    with weight share x multiplier of their group, else someone outside the
    simulation: counted in ``outside[g]``, recorded against nobody. The doer escapes
    every search that does not return them. Returns the attributed agent of each
    candidate and which candidates were recorded.
    """
    n = group.size
    agent, beh, obs, idx = unpack(packed)
    beh_key, obs_key, p_false, p_inside = c.beh_key, c.obs_key, c.p_false, c.p_inside
    fm_weight, detection, attr_error, share = c.fm_weight, c.detection, c.attr_error, c.enrolled
    attr = np.empty(packed.size, dtype=np.int64)
    recorded = np.zeros(packed.size, dtype=np.bool_)
    for t in range(packed.size):
        if not keep[t]:
            continue
        i, o = agent[t], obs[t]
        g = group[i]
        h = rng.draw(rng.agent_base(key_m, i), event_key(beh_key[beh[t]], idx[t], obs_key[o]))
        mated = in_gallery(key_e, i, obs_key[o], share[o])
        if mated and rng.unit(rng.mix64(h)) < detection[o]:
            attr[t] = i
            recorded[t] = True
            h2 = rng.mix64(rng.mix64(h))
            lo, hi = hstart[household[i]], hstart[household[i] + 1]
            if hi - lo > 1 and rng.unit(h2) < attr_error[o]:
                j = lo + np.int64(rng.mix64(h2) % np.uint64(hi - lo - 1))
                attr[t] = j + 1 if j >= i else j
        elif rng.unit(h) < p_false[o, g]:
            j = np.int64(-1)
            if rng.unit(rng.mix64(h ^ _INSIDE)) < p_inside[o]:
                z = rng.mix64(h ^ _FLIP)
                j = _draw_agent(z, i, n, group, fm_weight, key_e, obs_key[o], share[o])
            if j >= 0:
                attr[t] = j
                recorded[t] = True
            else:
                outside[g] += 1
    return attr, recorded


@njit(cache=True)
def poisson(base, lam):
    """A Poisson(lam) count from the counter-based stream ``base`` (its k-th draw is
    ``rng.draw(base, k)``), so the count depends only on the key: inversion below
    lam = 10, else Hormann's transformed rejection (PTRS, 1993), as numpy's."""
    k = np.uint64(0)
    if lam < 10.0:
        u = rng.unit(rng.draw(base, k))
        p = np.exp(-lam)
        cdf, x = p, 0
        while u > cdf and x < 1000:
            x += 1
            p *= lam / x
            cdf += p
        return np.int64(x)
    slam, loglam = np.sqrt(lam), np.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = rng.unit(rng.draw(base, k)) - 0.5
        v = rng.unit(rng.draw(base, k + np.uint64(1)))
        k += np.uint64(2)
        us = 0.5 - abs(u)
        if us <= 0.0:  # u = -0.5 exactly (chance 2**-53): numpy's formula divides by 0
            continue
        x = np.floor((2 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return np.int64(x)
        if x < 0 or (us < 0.013 and v > us):
            continue
        if np.log(v) + np.log(invalpha) - np.log(a / (us * us) + b) <= (
            -lam + x * loglam - math.lgamma(x + 1)
        ):
            return np.int64(x)


@njit(cache=True)
def accusations(c, key_a, o, lam, group):
    """Reports of events nobody committed: a Poisson(lam) count, about agents drawn by
    group weight. Both come from counter-based draws keyed by (seed, day, observer)."""
    n = group.size
    base = rng.agent_base(key_a, o)
    count = poisson(rng.mix64(base ^ _FLIP), lam)
    weight = c.accuse_weight
    attr = np.empty(count, dtype=np.int64)
    for t in range(count):
        z = rng.draw(base, np.uint64(t))
        attr[t] = _draw_agent(z, -1, n, group, weight, key_a, np.uint64(0), 1.0)
    return attr[attr >= 0]
