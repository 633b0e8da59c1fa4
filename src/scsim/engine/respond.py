"""The respond stage: behaviour change under a regime (deterrence, chilling,
displacement, gaming), as tables the behave kernel reads.

Effective rates are drawn by *thinning* (``engine.behave``): an agent's events of each
behaviour are still its base draws, and an event of a deterred or chilled behaviour b
is kept with chance m(i, b), the agent's multiplier of b, from a draw of its own. That
is exactly a Poisson stream at rate ``rate x m``, and the multiplier is computed only
on the rare days an agent draws an event, so perceived records are kept lazily: a
fading count and the day it was last touched. A deterred event of a behaviour with
``displaced_to`` happens as that behaviour instead.

- deterrence, ``seen: everyone``: perceived = the population's recorded events of b per
  capita, fading with ``memory_days`` (one number a day, as on a public screen);
- deterrence, ``seen: friends``: perceived = a fading count of the recorded events of
  b against the agent and its friends (pushed along the graph from the few recorded);
- m = 1 / (1 + sensitivity x perceived x |points|);
- chilled_by {behaviour c, share}: m_b = 1 - share x (1 - m_c);
- gaming: each day an agent without a bot for b starts one with chance
  ``uptake x points`` (capped at 1); a bot does b at ``rate`` a day, and a ``detected``
  share of its events is discarded by the regime (it happens, it never scores).

With none of these keys, behave reads ``inert`` tables: every multiplier is 1.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.core import rng
from scsim.regime import Regime
from scsim.regime.schema import MAX_GAMED

NONE, GLOBAL, FRIENDS, CHILLED = 0, 1, 2, 3


def active(regime: Regime) -> bool:
    return any(
        b.deterrence is not None or b.chilled_by is not None or b.gaming is not None
        for b in regime.behaviours.values()
    )


def inert(n_beh: int) -> tuple:
    """Response tables under which nothing responds (``Responses.tables``' types)."""
    zero, none = np.zeros(n_beh), np.full(n_beh, -1, dtype=np.int64)
    return (
        np.zeros(n_beh, dtype=np.int64), np.ones(n_beh), zero, np.ones(n_beh), zero, none,
        none, zero, none, np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int32),
        np.zeros(0, dtype=np.uint32), zero, zero, np.zeros(0, dtype=np.int64),
    )  # fmt: skip


class Responses:
    """Compiled response tables and the per-agent state they need."""

    def __init__(self, regime: Regime, pop, n_groups: int) -> None:
        names = list(regime.behaviours)
        index = {name: b for b, name in enumerate(names)}
        n_beh, n = len(names), pop.n
        points = dict.fromkeys(names, 0.0)
        for rule in regime.rules:
            points[rule.on] += rule.points[0] if isinstance(rule.points, list) else rule.points
        self.kind = np.zeros(n_beh, dtype=np.int64)
        self.sens = np.zeros(n_beh)
        self.memory = np.ones(n_beh)
        self.pts = np.array([abs(points[name]) for name in names])
        self.dcol = np.full(n_beh, -1, dtype=np.int64)
        self.chill_src = np.full(n_beh, -1, dtype=np.int64)
        self.chill_share = np.zeros(n_beh)
        self.displace = np.full(n_beh, -1, dtype=np.int64)
        self.game_rate = np.zeros(n_beh)
        self.game_detect = np.zeros(n_beh)
        self.game_p = np.zeros(n_beh)
        cols = 0
        for b, (name, beh) in enumerate(regime.behaviours.items()):
            det = beh.deterrence
            if det is not None:
                self.kind[b] = GLOBAL if det.seen == "everyone" else FRIENDS
                self.sens[b], self.memory[b] = det.sensitivity, det.memory_days
                if det.cost is not None:  # sanctioned without points: the felt cost
                    self.pts[b] = det.cost
                if det.seen == "friends":
                    self.dcol[b] = cols
                    cols += 1
            if beh.chilled_by is not None:
                self.kind[b] = CHILLED
                self.chill_src[b] = index[beh.chilled_by.behaviour]
                self.chill_share[b] = beh.chilled_by.share
            if beh.displaced_to is not None:
                self.displace[b] = index[beh.displaced_to]
            if beh.gaming is not None:
                g = beh.gaming
                self.game_rate[b], self.game_detect[b] = g.rate, g.detected
                self.game_p[b] = min(g.uptake * points[name], 1.0)
        self.gamed = np.flatnonzero(self.game_rate > 0).astype(np.int64)
        assert self.gamed.size <= MAX_GAMED  # the schema's bound: bots are uint32 bits
        self.friends = cols > 0
        self.perc = np.zeros((n if cols else 0, cols), dtype=np.float32)
        self.stamp = np.zeros(n if cols else 0, dtype=np.int32)
        self.bots = np.zeros(n if self.gamed.size else 0, dtype=np.uint32)
        self.bots_by = np.zeros((n_groups, n_beh), dtype=np.int64)  # bots per group, b
        self.botted = np.zeros(n_groups, dtype=np.int64)  # agents with any bot, per group
        self.pglob = np.zeros(n_beh)
        self.gmult = np.ones(n_beh)
        self.n = n
        # Base rate sums per (group, behaviour), the denominators of chilling.<b>.
        base = np.zeros((n_groups, n_beh))
        size = np.bincount(pop.group, minlength=n_groups)
        # The per-agent rate table is kept only for the dense daily sums of chilling
        # through friends (``_effective``); other runs derive rates on demand.
        keep = pop.agent_rates() if self.friends else None
        self.lam_agent = keep if keep is not None else np.zeros((0, 0), dtype=np.float32)
        step = 1 << 24  # a slice at a time above 16M agents
        for first in range(0, pop.n, step):
            stop = min(pop.n, first + step)
            own = keep[first:stop] if keep is not None else pop.agent_rates(first, stop)
            grp = pop.group[first:stop]
            for b in range(n_beh):
                col = pop.beh_col[b]
                if col >= 0:
                    w = own[:, col].astype(np.float64)
                    base[:, b] += np.bincount(grp, weights=w, minlength=n_groups)
        for b in range(n_beh):
            if pop.beh_col[b] < 0:
                base[:, b] = pop.lam_group[:, b] * size
        self.base = base

    def tables(self) -> tuple:
        """What ``engine.behave.behave`` reads, in the order of ``inert``."""
        return (
            self.kind, self.gmult, self.sens, self.memory, self.pts, self.dcol,
            self.chill_src, self.chill_share, self.displace, self.perc, self.stamp,
            self.bots, self.game_rate, self.game_detect, self.gamed,
        )  # fmt: skip

    def nbytes(self) -> int:
        return self.perc.nbytes + self.stamp.nbytes + self.bots.nbytes + self.lam_agent.nbytes

    def update(self, day: int, seed: int, ev, recorded: np.ndarray, indptr, indices, group):
        """After the day's records: perceived records, then gaming uptake."""
        decay = np.exp(-1.0 / self.memory)
        glob = self.kind == GLOBAL
        if glob.any():
            self.pglob = np.where(glob, self.pglob * decay + recorded / self.n, 0.0)
            self.gmult = np.where(glob, 1.0 / (1.0 + self.sens * self.pglob * self.pts), 1.0)
        if self.friends and ev.attr.size:
            _perceive(
                day, ev.attr, ev.beh, self.dcol, self.memory, indptr, indices, self.perc,
                self.stamp,
            )  # fmt: skip
        if self.gamed.size:
            key = rng.stage_key(seed, day, rng.GAMING)
            _uptake(key, group, self.gamed, self.game_p, self.bots, self.bots_by, self.botted)

    def chilling(self, day: int, pop) -> np.ndarray:
        """The day's effective rate over the day-0 rate, per (group, behaviour), with the whole
        population in row 0: exact sums of rate x multiplier, plus bots, plus events
        displaced in."""
        n_groups = self.base.shape[0]
        if self.friends:
            parts = 64
            out = np.zeros((parts, n_groups, self.kind.size))
            _effective(
                day, pop.group, pop.lam_group, self.lam_agent, pop.beh_col, self.kind,
                self.gmult, self.sens, self.memory, self.pts, self.dcol, self.chill_src,
                self.chill_share, self.perc, self.stamp, out,
            )  # fmt: skip
            eff = out.sum(0)
        else:
            m = self.gmult.copy()
            ch = self.kind == CHILLED
            m[ch] = 1.0 - self.chill_share[ch] * (1.0 - self.gmult[self.chill_src[ch]])
            eff = self.base * m
        moved = self.base - eff
        for b in np.flatnonzero(self.displace >= 0):
            eff[:, self.displace[b]] += moved[:, b]
        eff = eff + self.bots_by * self.game_rate
        eff = np.vstack([eff.sum(0, keepdims=True), eff])
        base = np.vstack([self.base.sum(0, keepdims=True), self.base])
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return eff / base


@njit(inline="always", cache=True)
def _det(i, b, day, kind, gmult, sens, memory, pts, dcol, perc, stamp):
    if kind[b] == GLOBAL:
        return gmult[b]
    p = np.float64(perc[i, dcol[b]])
    if p == 0.0:
        return 1.0
    p *= np.exp(-(day - np.float64(stamp[i])) / memory[b])
    return 1.0 / (1.0 + sens[b] * p * pts[b])


@njit(inline="always", cache=True)
def multiplier(
    i, b, day, kind, gmult, sens, memory, pts, dcol, chill_src, chill_share, perc, stamp
):
    """m(i, b) on ``day``: the share of its base rate of b agent i keeps."""
    k = kind[b]
    if k == NONE:
        return 1.0
    if k == CHILLED:
        c = chill_src[b]
        m = _det(i, c, day, kind, gmult, sens, memory, pts, dcol, perc, stamp)
        return 1.0 - chill_share[b] * (1.0 - m)
    return _det(i, b, day, kind, gmult, sens, memory, pts, dcol, perc, stamp)


@njit(cache=True)
def _perceive(day, attr, beh, dcol, memory, indptr, indices, perc, stamp):
    """Each recorded event of a friends-deterred behaviour is seen by the agent it was
    recorded against and by its live friends. Sequential, in event order."""
    for t in range(attr.size):
        col = dcol[beh[t]]
        if col < 0:
            continue
        a = attr[t]
        _bump(a, col, day, dcol, memory, perc, stamp)
        for p in range(indptr[a], indptr[a + 1]):
            j = indices[p]
            if j >= 0:
                _bump(j, col, day, dcol, memory, perc, stamp)


@njit(inline="always", cache=True)
def _bump(m, col, day, dcol, memory, perc, stamp):
    # Records are seen the day after they are made: counted as of day + 1.
    if stamp[m] != day + 1:
        for b in range(dcol.size):
            d = dcol[b]
            if d >= 0 and perc[m, d] != 0:
                perc[m, d] = perc[m, d] * np.exp(-(day + 1 - np.float64(stamp[m])) / memory[b])
        stamp[m] = day + 1
    perc[m, col] += 1.0


@njit(parallel=True, cache=True)
def _uptake(key, group, gamed, game_p, bots, bots_by, botted):
    n = group.size
    parts = 64
    step = -(-n // parts)
    new = np.zeros((parts, bots_by.shape[0], bots_by.shape[1] + 1), dtype=np.int64)
    for part in prange(parts):
        _uptake_part(
            key, group, gamed, game_p, bots, part * step, min(n, (part + 1) * step), new[part]
        )
    tot = new.sum(0)
    bots_by += tot[:, :-1]
    botted += tot[:, -1]


@njit(cache=True)
def _uptake_part(key, group, gamed, game_p, bots, start, stop, new):
    n_beh = new.shape[1] - 1
    for i in range(start, stop):
        bits = bots[i]
        base = rng.agent_base(key, i)
        for t in range(gamed.size):
            one = np.uint32(1) << np.uint32(t)
            if bits & one:
                continue
            b = gamed[t]
            if rng.unit(rng.draw(base, np.uint64(t))) < game_p[b]:
                if bits == 0:
                    new[group[i], n_beh] += 1
                bits |= one
                new[group[i], b] += 1
        bots[i] = bits


@njit(parallel=True, cache=True)
def _effective(
    day, group, lam_group, lam_agent, beh_col, kind, gmult, sens, memory, pts, dcol,
    chill_src, chill_share, perc, stamp, out,
):  # fmt: skip
    n = group.size
    parts = out.shape[0]
    step = -(-n // parts)
    for part in prange(parts):
        _effective_part(
            day, group, lam_group, lam_agent, beh_col, kind, gmult, sens, memory, pts, dcol,
            chill_src, chill_share, perc, stamp, part * step, min(n, (part + 1) * step),
            out[part],
        )  # fmt: skip


@njit(cache=True)
def _effective_part(
    day, group, lam_group, lam_agent, beh_col, kind, gmult, sens, memory, pts, dcol,
    chill_src, chill_share, perc, stamp, start, stop, out,
):  # fmt: skip
    n_beh = kind.size
    for i in range(start, stop):
        g = group[i]
        for b in range(n_beh):
            col = beh_col[b]
            lam = np.float64(lam_agent[i, col]) if col >= 0 else lam_group[g, b]
            m = multiplier(
                i, b, day, kind, gmult, sens, memory, pts, dcol, chill_src, chill_share,
                perc, stamp,
            )  # fmt: skip
            out[g, b] += lam * m
