"""The score stage: recorded events become points, yearly counts and list entries.

Sparse: it walks the day's recorded events, not the population. Each event lands on
the agent it is attributed to (or, when the household is the scored unit, on every
member of that agent's household), in the real copy of the state, and in the clean
copy too when the attribution was right.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from scsim.engine import rng

CLEAN_BIT = 4  # flags: bit l asks list l to take the agent in the real copy, 4 + l in the clean


@njit(cache=True)
def apply_events(c, st, day, key_serious, attr, doer, beh, hstart, household, applied, listing):
    """Apply the day's recorded events in order.

    ``applied[t]`` receives the points event t moved on its agent (after yearly caps,
    escalation and ``at_most``); ``listing[t]`` the bit mask of the lists it asked to
    take the agent onto (real copy).
    """
    for t in range(attr.size):
        a = attr[t]
        wrong = a != doer[t]
        lo, hi = a, a + 1
        if c.household_unit:
            h = household[a]
            lo, hi = hstart[h], hstart[h + 1]
        for m in range(lo, hi):
            if wrong and st.track_clean and not st.taint[m]:
                _taint(st, m)
            for copy in range(2 if st.track_clean else 1):
                if copy == 1 and (wrong or not st.taint[m]):
                    continue
                moved = _points(c, st, copy, m, beh[t])
                asked = _listing(c, st, copy, m, beh[t], day, key_serious)
                if m == a and copy == 0:
                    applied[t] = moved
                    listing[t] = asked


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


@njit(cache=True)
def _points(c, st, copy, m, b):
    """Points of one event of behaviour b for agent m, in one copy; returns the change."""
    if not st.enrolled[m]:
        return 0
    before = np.int64(st.score[copy, m])
    s = before
    for r in range(c.rule_beh.size):
        if c.rule_beh[r] != b:
            continue
        slot = c.rule_slot[r]
        nth = 0
        if slot >= 0:
            nth = np.int64(st.used[copy, m, slot])
            if c.rule_cap[r] >= 0 and nth >= c.rule_cap[r]:
                continue
            st.used[copy, m, slot] = min(nth + 1, 65535)
        s += c.rule_pts[r, min(nth, c.rule_len[r] - 1)]
        s = min(s, c.rule_at_most[r])
    s = max(min(s, 2147483647), -2147483647)
    st.score[copy, m] = s
    return s - before


@njit(cache=True)
def _listing(c, st, copy, m, b, day, key_serious):
    """Count the event towards list conditions; flag the lists it takes the agent onto.

    A listing's term is set here, from its ground: ``term_days`` of the condition, plus
    extra days for the ``serious_share`` of cases.
    """
    asked = 0
    for q in range(c.cond_list.size):
        if not c.cond_beh[q, b]:
            continue
        li = c.cond_list[q]
        hit = True
        w = c.cond_slot[q]
        if w >= 0:
            hit = _window_hit(st.window[copy, w, m], day, c.cond_count[q], c.cond_within[q])
        if not hit or st.listed[copy, li, m] > 0 or (st.flags[m] >> (li + CLEAN_BIT * copy)) & 1:
            continue
        st.flags[m] |= np.uint8(1 << (li + CLEAN_BIT * copy))
        term = c.cond_term[q]
        h = rng.draw(rng.agent_base(key_serious, m), np.uint64(q))
        if term >= 0 and rng.unit(h) < c.cond_serious[q]:
            lo, hi = c.cond_extra[q, 0], c.cond_extra[q, 1]
            term += lo + np.int64(rng.mix64(h) % np.uint64(hi - lo + 1))
        st.term[copy, li, m] = term
        asked |= 1 << li
    return asked


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
