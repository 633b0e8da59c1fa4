"""The score stage: recorded events become points, yearly counts and list entries.

Sparse: it walks the day's recorded events, not the population. Each event lands on
the agent it is attributed to (or, when the household is the scored unit, on every
member of that agent's household), in the real copy of the state, and in the clean
copy too when the attribution was right.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.engine import rng

CLEAN_BIT = 4  # flags: bit l asks list l to take the agent in the real copy, 4 + l in the clean
RENEW_NONE, RENEW_RESTART = 0, 1  # codes of compile.RENEW (2: extend)


#: Blocks of agents whose events are applied in parallel.
PARTS = 64


@njit(parallel=True, cache=True)
def apply_events(
    c, st, day, key_serious, attr, doer, beh, hstart, household, applied, listing, applied_clean
):
    """Apply the day's recorded events, each agent's in their order.

    ``applied[t]`` receives the points event t moved on its agent (after yearly caps,
    escalation and ``at_most``); ``listing[t]`` the bit mask of the lists it asked to
    take the agent onto (real copy); ``applied_clean[t]`` the points it moved in the
    agent's clean copy (0 for a false attribution; as ``applied`` when untainted).

    An event touches only its agent (or its agent's household), so the events are
    split by blocks of agents (whole households) and the blocks applied in parallel,
    each in the events' order: the same result as one pass in order, on any number of
    threads.
    """
    order, starts = _partition(attr, hstart, household, c.household_unit, st.flags.size)
    for part in prange(PARTS):
        _apply_part(
            c, st, day, key_serious, attr, doer, beh, hstart, household, applied, listing,
            applied_clean, order[starts[part] : starts[part + 1]],
        )  # fmt: skip


@njit(cache=True)
def _partition(attr, hstart, household, by_household, n):
    """The events' indices grouped by the block of agents they touch (a household's
    events by the block of its first member), each group in the events' order."""
    part = np.empty(attr.size, dtype=np.int64)
    starts = np.zeros(PARTS + 1, dtype=np.int64)
    for t in range(attr.size):
        a = attr[t]
        key = hstart[household[a]] if by_household else a
        part[t] = np.int64(key) * PARTS // n
        starts[part[t] + 1] += 1
    for p in range(PARTS):
        starts[p + 1] += starts[p]
    fill = starts[:-1].copy()
    order = np.empty(attr.size, dtype=np.int64)
    for t in range(attr.size):
        order[fill[part[t]]] = t
        fill[part[t]] += 1
    return order, starts


@njit(cache=True)
def _apply_part(
    c, st, day, key_serious, attr, doer, beh, hstart, household, applied, listing,
    applied_clean, order,
):  # fmt: skip
    # Unpack the tuples once: reading a tuple's array in a loop costs a reference-count
    # update each time (see engine.settle).
    score, used, window, flags, term = st.score, st.used, st.window, st.flags, st.term
    listed, taint, enrolled, track = st.listed, st.taint, st.enrolled, st.track_clean
    used_max = st.used_max
    rules = (c.rule_beh, c.rule_pts, c.rule_len, c.rule_cap, c.rule_slot, c.rule_at_most)
    rule_beh, rule_pts, rule_len, rule_cap, rule_slot, rule_at_most = rules
    cond_list, cond_beh, cond_count, cond_within = (
        c.cond_list,
        c.cond_beh,
        c.cond_count,
        c.cond_within,
    )
    cond_slot, cond_term, cond_serious, cond_extra = (
        c.cond_slot,
        c.cond_term,
        c.cond_serious,
        c.cond_extra,
    )
    renew = c.list_renew
    by_household = c.household_unit
    for t in order:
        a = attr[t]
        b = beh[t]
        wrong = a != doer[t]
        lo, hi = a, a + 1
        if by_household:
            lo, hi = hstart[household[a]], hstart[household[a] + 1]
        for m in range(lo, hi):
            if wrong and track and not taint[m]:
                _taint(st, m)
            for copy in range(2 if track else 1):
                if copy == 1 and (wrong or not taint[m]):
                    continue
                moved = 0
                if enrolled[m]:
                    moved = _points(
                        score, used, used_max, copy, m, b, rule_beh, rule_pts, rule_len,
                        rule_cap, rule_slot, rule_at_most,
                    )  # fmt: skip
                asked = _listing(
                    window, listed, flags, term, copy, m, b, day, key_serious, cond_list,
                    cond_beh, cond_count, cond_within, cond_slot, cond_term, cond_serious,
                    cond_extra, renew,
                )  # fmt: skip
                if m == a and copy == 0:
                    applied[t] = moved
                    listing[t] = asked
                    applied_clean[t] = 0 if wrong else moved
                elif m == a:
                    applied_clean[t] = moved


@njit(cache=True)
def _taint(st, m):
    """Copy the real state into the clean copy, before a first false attribution."""
    st.taint[m] = 1
    st.score[1, m] = st.score[0, m]
    st.grade[1, m] = st.grade[0, m]
    st.gdays[1, m] = st.gdays[0, m]
    st.listed[1, :, m] = st.listed[0, :, m]
    st.term[1, :, m] = st.term[0, :, m]
    st.cure[1, :, m] = st.cure[0, :, m]
    st.used[1, m] = st.used[0, m]
    st.window[1, :, m] = st.window[0, :, m]
    bits = st.flags[m] & 0x0F
    st.flags[m] = bits | (bits << CLEAN_BIT)


@njit(inline="always", cache=True)
def _points(
    score, used, used_max, copy, m, b, rule_beh, rule_pts, rule_len, rule_cap, rule_slot, at_most
):
    """Points of one event of behaviour b for agent m, in one copy; returns the change.

    Yearly counts saturate at ``used_max`` (their dtype's maximum, see engine.state)."""
    before = np.int64(score[copy, m])
    s = before
    for r in range(rule_beh.size):
        if rule_beh[r] != b:
            continue
        slot = rule_slot[r]
        nth = 0
        if slot >= 0:
            nth = np.int64(used[copy, m, slot])
            if rule_cap[r] >= 0 and nth >= rule_cap[r]:
                continue
            used[copy, m, slot] = min(nth + 1, used_max)
        s += rule_pts[r, min(nth, rule_len[r] - 1)]
        s = min(s, at_most[r])
    s = max(min(s, 2147483647), -2147483647)
    score[copy, m] = s
    return s - before


@njit(inline="always", cache=True)
def _listing(
    window, listed, flags, term, copy, m, b, day, key_serious, cond_list, cond_beh,
    cond_count, cond_within, cond_slot, cond_term, cond_serious, cond_extra, renew,
):  # fmt: skip
    """Count the event towards list conditions; flag the lists it takes the agent onto.

    A listing's term is set here, from its ground: ``term_days`` of the condition, plus
    extra days for the ``serious_share`` of cases. A new ground while listed changes
    the term as the list's ``renew`` says (``_renewed``).
    """
    asked = 0
    for q in range(cond_list.size):
        if not cond_beh[q, b]:
            continue
        li = cond_list[q]
        hit = True
        w = cond_slot[q]
        if w >= 0:
            hit = _window_hit(window[copy, w, m], day, cond_count[q], cond_within[q])
        if not hit or (flags[m] >> (li + CLEAN_BIT * copy)) & 1:
            continue
        days = _ground_term(q, m, key_serious, cond_term, cond_serious, cond_extra)
        ld = np.int64(listed[copy, li, m])
        if ld > 0:
            if renew[li] != RENEW_NONE:
                longest = np.iinfo(term.dtype).max
                term[copy, li, m] = _renewed(
                    renew[li], np.int64(term[copy, li, m]), ld, days, longest
                )
            continue
        flags[m] |= np.uint8(1 << (li + CLEAN_BIT * copy))
        term[copy, li, m] = days
        asked |= 1 << li
    return asked


@njit(inline="always", cache=True)
def _ground_term(q, m, key_serious, cond_term, cond_serious, cond_extra):
    """The term a listing on ground q gets: its days, longer for a serious case."""
    days = cond_term[q]
    h = rng.draw(rng.agent_base(key_serious, m), np.uint64(q))
    if days >= 0 and rng.unit(h) < cond_serious[q]:
        lo, hi = cond_extra[q, 0], cond_extra[q, 1]
        days += lo + np.int64(rng.mix64(h) % np.uint64(hi - lo + 1))
    return days


@njit(inline="always", cache=True)
def _renewed(mode, old, listed_days, days, longest):
    """A listing's term after a new ground of ``days`` on an agent listed for
    ``listed_days`` (the settle sweep lets it go once its days on the list exceed the
    term): restart ends it ``days`` after today, extend ``days`` after it would have
    ended. A term that never ends, or a ground that lists for ever, never ends."""
    if old < 0 or days < 0:
        return -1
    new = listed_days + days if mode == RENEW_RESTART else old + days
    return min(new, longest)


@njit(cache=True)
def _window_hit(recent, day, count, within):
    """Record an event day in the window; true when ``count`` events fall ``within`` days.

    ``recent`` holds the days (+1, 0 = none) of the agent's last count - 1 events,
    newest first.
    """
    hit = True
    for j in range(count - 1):
        if recent[j] == 0 or day - (np.int64(recent[j]) - 1) >= within:
            hit = False
            break
    for j in range(recent.size - 1, 0, -1):
        recent[j] = recent[j - 1]
    if recent.size:
        recent[0] = min(day + 1, 65535)
    return hit
