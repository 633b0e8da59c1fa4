"""The day's stage kernels: pure functions of arrays, parallel over blocks of agents.

Dense stages (behave, grade/list/sanction, record) sweep every agent once in id
order. Events are sparse (most agents do nothing on most days), so observe and score
work on a packed list of the day's events instead of per-agent arrays. Every
per-block reduction is an integer sum, so results do not depend on the block size.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.engine import rng

# A candidate event packs (agent, behaviour, observer, index) into one int64.
_SHIFT_AGENT = np.int64(32)
_SHIFT_BEH = np.int64(24)
_SHIFT_OBS = np.int64(16)
_BYTE = np.int64(0xFF)
_WORD = np.int64(0xFFFF)
_FLIP = np.uint64(0x5851F42D4C957F2D)
_EVENT_STRIDE = np.uint64(0xD1B54A32D192ED03)

ENTER = np.uint8(1)
ENTER_CLEAN = np.uint8(2)


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
    only paid on the rare days something may happen.
    """
    if u >= lam:
        return 0
    w = 1.0 - u
    term = np.exp(-lam)
    cdf = term
    k = 0
    while w > cdf and k < max_count:
        k += 1
        term *= lam / k
        cdf += term
    return k


@njit(parallel=True, cache=True)
def behave(
    key_b,
    chunk,
    group,
    lam_total,
    lam_group,
    lam_agent,
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

    Writes per-block true event counts by (group, behaviour) and the events into
    per-block buffers; ``out_n`` may exceed the buffer width, which tells the driver to
    retry with wider buffers.
    """
    n = group.size
    n_beh = lam_group.shape[1]
    width = out.shape[1]
    per_agent = lam_total.size == n
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
                b = 0
                acc = 0.0
                while b < n_beh - 1:
                    col = beh_col[b]
                    acc += lam_agent[i, col] if col >= 0 else lam_group[g, b]
                    if target < acc:
                        break
                    b += 1
                true_counts[blk, g, b] += 1
                if c < width:
                    out[blk, c] = pack(i, b, 0, e)
                c += 1
        out_n[blk] = c


@njit(inline="always", cache=True)
def pack(agent, beh, obs, idx):
    return (
        (np.int64(agent) << _SHIFT_AGENT)
        | (np.int64(beh) << _SHIFT_BEH)
        | (np.int64(obs) << _SHIFT_OBS)
        | np.int64(idx)
    )


@njit(cache=True)
def route(key_o, events, beh_key, obs_key, beh_obs, coverage):
    """Each true event goes to the first observer (in file order) it is in view of.

    Returns the candidates: the events in view of some observer, with that observer
    packed in. An event no observer sees never scores.
    """
    agent, beh, _, idx = unpack(events)
    out = np.empty(events.size, dtype=np.int64)
    c = 0
    for t in range(events.size):
        i, b = agent[t], beh[t]
        base = rng.agent_base(key_o, i)
        for slot in range(beh_obs.shape[1]):
            o = beh_obs[b, slot]
            if o < 0:
                break
            if rng.unit(rng.draw(base, event_key(beh_key[b], idx[t], obs_key[o]))) < coverage[o]:
                out[c] = pack(i, b, o, idx[t])
                c += 1
                break
    return out[:c]


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


@njit(cache=True)
def priorities(key_c, packed, beh_key, obs_key):
    """A random priority per candidate: capacity serves the lowest, whoever they are."""
    out = np.empty(packed.size, dtype=np.uint64)
    agent, beh, obs, idx = unpack(packed)
    for t in range(packed.size):
        base = rng.agent_base(key_c, agent[t])
        out[t] = rng.draw(base, event_key(beh_key[beh[t]], idx[t], obs_key[obs[t]]))
    return out


@njit(cache=True)
def match(key_m, packed, keep, n, group, fm_mult, beh_key, obs_key, p_false, detection):
    """Search each kept candidate: a false match, a correct attribution, or a miss.

    A false match goes to another agent drawn uniformly (the doer escapes it);
    ``detection`` applies to the events that were not falsely matched.
    Returns (attributed, doer, behaviour, observer) of the recorded events.
    """
    agent, beh, obs, idx = unpack(packed)
    m = packed.size
    attr = np.empty(m, dtype=np.int64)
    keep_rec = np.zeros(m, dtype=np.bool_)
    for t in range(m):
        if not keep[t]:
            continue
        i = agent[t]
        o = obs[t]
        h = rng.draw(rng.agent_base(key_m, i), event_key(beh_key[beh[t]], idx[t], obs_key[o]))
        if n > 1 and rng.unit(h) < p_false[o] * fm_mult[group[i]]:
            j = np.int64(rng.mix64(h ^ _FLIP) % np.uint64(n - 1))
            attr[t] = j + 1 if j >= i else j
            keep_rec[t] = True
        elif rng.unit(rng.mix64(h)) < detection[o]:
            attr[t] = i
            keep_rec[t] = True
    return attr[keep_rec], agent[keep_rec], beh[keep_rec], obs[keep_rec]


@njit(cache=True)
def apply_rules(
    attr,
    doer,
    beh,
    rule_beh,
    rule_pts,
    rule_cap,
    rule_slot,
    enter_beh,
    flags,
    score,
    grade,
    gdays,
    listed,
    used,
    score_c,
    grade_c,
    gdays_c,
    listed_c,
    used_c,
    taint,
    track_clean,
    applied,
):
    """Points of the day's recorded events land on the agents they are attributed to.

    ``applied[t]`` receives the points event t actually moved (after yearly caps).

    The clean copy (``*_c``) is the counterfactual without false attributions, from
    which ``wrongfully_sanctioned`` is exact. It is kept only for tainted agents: an
    agent's clean state equals its real one until its first false attribution, when the
    real state is copied over. (Under liability every agent starts tainted, since
    friends' scores carry false attributions further.) Yearly caps count separately in
    each copy.
    """
    for t in range(attr.size):
        a = attr[t]
        b = beh[t]
        wrong = a != doer[t]
        if wrong:
            if track_clean and not taint[a]:
                taint[a] = 1
                score_c[a], grade_c[a], gdays_c[a], listed_c[a] = (
                    score[a],
                    grade[a],
                    gdays[a],
                    listed[a],
                )
                used_c[a] = used[a]
        clean = track_clean and not wrong and taint[a]
        total = np.int64(0)
        for r in range(rule_beh.size):
            if rule_beh[r] != b:
                continue
            slot = rule_slot[r]
            if slot < 0 or used[a, slot] < rule_cap[r]:
                if slot >= 0:
                    used[a, slot] += 1
                score[a] = _add_sat(score[a], rule_pts[r])
                total += rule_pts[r]
            if clean and (slot < 0 or used_c[a, slot] < rule_cap[r]):
                if slot >= 0:
                    used_c[a, slot] += 1
                score_c[a] = _add_sat(score_c[a], rule_pts[r])
        applied[t] = total
        if enter_beh[b]:
            flags[a] |= ENTER
            if not wrong:
                flags[a] |= ENTER_CLEAN


@njit(inline="always", cache=True)
def _add_sat(s, d):
    x = np.int64(s) + d
    return max(min(x, 2147483647), -2147483647)


@njit(inline="always", cache=True)
def _clamp(s, lo, hi):
    return max(min(np.int64(s), hi), lo)


@njit(inline="always", cache=True)
def _couple(i, s, old, indptr, indices, liability, lo, hi):
    """Move a score ``liability`` of the way to its friends' mean (read from ``old``)."""
    start, stop = indptr[i], indptr[i + 1]
    if stop == start:
        return s
    tot = np.int64(0)
    for p in range(start, stop):
        tot += _clamp(old[indices[p]], lo, hi)
    mean = tot / (stop - start)
    return s + np.int64(np.round(liability * (mean - s)))


@njit(inline="always", cache=True)
def _grade(s, grade_min):
    for k in range(grade_min.size):
        if s >= grade_min[k]:
            return k
    return grade_min.size


@njit(inline="always", cache=True)
def _step_list(listed, gdays, g, entered, enter_grade, enter_days, exit_after):
    """One day of the list: count days on it, leave after ``exit_after``, or enter.

    Leaving the list restarts the consecutive-days count, so a grade rule needs its full
    ``for_days`` again before it can list the agent anew.
    """
    if listed > 0:
        listed += 1
        if exit_after >= 0 and listed > exit_after:
            return 0, 0
        return listed, gdays
    for e in range(enter_grade.size):
        if g == enter_grade[e] and gdays >= enter_days[e]:
            entered = True
    return (1 if entered else 0), gdays


@njit(parallel=True, cache=True)
def settle(
    chunk,
    group,
    indptr,
    indices,
    liability,
    lo,
    hi,
    grade_min,
    enter_grade,
    enter_days,
    exit_after,
    wrong_tab,
    old,
    score,
    grade,
    gdays,
    listed,
    old_c,
    score_c,
    grade_c,
    gdays_c,
    listed_c,
    taint,
    flags,
    sum_score,
    state_n,
    wrongful_n,
    moves,
    trans,
    smin,
    smax,
):
    """Couple, grade and list every agent, and reduce the day's stocks.

    Reads scores after the day's deltas from ``old`` (the same array as ``score`` when
    liability is off) and writes clamped, coupled scores to ``score``. Sanctions are a
    function of (grade, listed), so the kernel only counts agents per (group, grade,
    listed); ``wrong_tab[k, l, kc, lc]`` says whether the real state carries a sanction
    that the clean counterfactual state does not. Only tainted agents have a clean state
    of their own (see ``apply_rules``).
    """
    n = group.size
    nblocks = sum_score.shape[0]
    for blk in prange(nblocks):
        sum_score[blk] = 0
        state_n[blk] = 0
        wrongful_n[blk] = 0
        moves[blk] = 0
        trans[blk] = 0
        mn = hi
        mx = lo
        for i in range(blk * chunk, min(n, (blk + 1) * chunk)):
            gr = group[i]
            f = flags[i]
            flags[i] = 0
            s = _clamp(old[i], lo, hi)
            if liability > 0.0:
                s = _couple(i, s, old, indptr, indices, liability, lo, hi)
            score[i] = s
            k = _grade(s, grade_min)
            was = grade[i]
            gd = min(gdays[i] + 1, 65535) if k == was else 1
            ld, gd = _step_list(
                listed[i], gd, k, (f & ENTER) != 0, enter_grade, enter_days, exit_after
            )
            if k != was:
                trans[blk, was, k] += 1
            if ld == 1:
                moves[blk, gr, 0] += 1
            elif ld == 0 and listed[i] > 0:
                moves[blk, gr, 1] += 1
            grade[i], gdays[i], listed[i] = k, gd, ld
            on_list = 1 if ld > 0 else 0
            if taint[i]:
                sc = _clamp(old_c[i], lo, hi)
                if liability > 0.0:
                    sc = _couple(i, sc, old_c, indptr, indices, liability, lo, hi)
                score_c[i] = sc
                kc = _grade(sc, grade_min)
                gdc = min(gdays_c[i] + 1, 65535) if kc == grade_c[i] else 1
                ldc, gdc = _step_list(
                    listed_c[i],
                    gdc,
                    kc,
                    (f & ENTER_CLEAN) != 0,
                    enter_grade,
                    enter_days,
                    exit_after,
                )
                grade_c[i], gdays_c[i], listed_c[i] = kc, gdc, ldc
                if wrong_tab[k, on_list, kc, 1 if ldc > 0 else 0]:
                    wrongful_n[blk, gr] += 1
            sum_score[blk, gr] += s
            state_n[blk, gr, k, on_list] += 1
            mn = min(mn, s)
            mx = max(mx, s)
        smin[blk] = mn
        smax[blk] = mx


@njit(parallel=True, cache=True)
def histogram(score, lo, width, hist):
    """Counts of scores in bins of ``width`` from ``lo`` (for the Gini).

    Each row of ``hist`` counts one slice of the agents; integer counts make the sum
    the same for any slicing, so a few wide slices keep the zeroing cheap.
    """
    n = score.size
    parts, nb = hist.shape
    step = -(-n // parts)
    for part in prange(parts):
        hist[part] = 0
        for i in range(part * step, min(n, (part + 1) * step)):
            j = (np.int64(score[i]) - lo) // width
            hist[part, min(max(j, 0), nb - 1)] += 1
