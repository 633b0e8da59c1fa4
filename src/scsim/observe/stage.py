"""The observe stage: from the day's true events to the events recorded today.

It owns what lasts between days: events waiting in a queue for a matcher with spare
capacity, events matched but not yet recorded (latency), and the coverage of
observers that follow their own records (adaptive deployment).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from scsim.core import rng
from scsim.core.events import unpack
from scsim.observe import kernels
from scsim.population import Population

if TYPE_CHECKING:
    from scsim.engine.compile import Compiled


class Events(NamedTuple):
    """Recorded events: attributed agent, doer (-1: nobody, a false accusation),
    behaviour, observer, and the day the event happened."""

    attr: np.ndarray
    doer: np.ndarray
    beh: np.ndarray
    obs: np.ndarray
    happened: np.ndarray

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        return Events(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))

    def subset(self, mask: np.ndarray) -> Events:
        return Events(*(a[mask] for a in self))


def _no_events() -> Events:
    z = np.zeros(0, dtype=np.int64)
    return Events(z, z, z, z, z)


class Observation:
    """The observe stage of one regime over one population."""

    def __init__(self, c: Compiled, pop: Population, seed: int) -> None:
        self.c, self.pop, self.seed = c, pop, seed
        self.coverage = c.coverage.copy()
        n_places = c.coverage.shape[1]
        self.budget = c.coverage.mean(axis=1) * n_places  # coverage summed over places
        self.urn = np.full(c.coverage.shape, 0.5)
        self.pending: dict[int, list[Events]] = {}
        self.waiting = np.zeros(0, dtype=np.int64)  # packed candidates in a queue
        self.waiting_since = np.zeros(0, dtype=np.int64)
        self.key_e = rng.stage_key(seed, 0, rng.POP_GALLERY)
        # Searches today that returned someone outside the simulation, by the doer's group.
        self.outside = np.zeros(c.fm_weight.size, dtype=np.int64)

    def __call__(self, day: int, true_events: np.ndarray) -> Events:
        c, pop = self.c, self.pop
        cand = kernels.route(
            c, rng.stage_key(self.seed, day, rng.OBSERVE), true_events, pop.place, self.coverage
        )
        happened = np.full(cand.size, day, dtype=np.int64)
        if self.waiting.size:
            cand = np.concatenate([self.waiting, cand])
            happened = np.concatenate([self.waiting_since, happened])
        keep = self.serve(day, cand, happened)
        self.outside[:] = 0
        attr, recorded = kernels.match(
            c, rng.stage_key(self.seed, day, rng.MATCH), self.key_e, cand, keep, pop.group,
            pop.household, pop.hstart, self.outside,
        )  # fmt: skip
        doer, beh, obs, _ = unpack(cand)
        found = Events(attr, doer, beh, obs, happened).subset(recorded)
        found = Events.concat([found, self.accusations(day)])
        self.adapt(day, found)
        lat = c.latency[found.obs]
        for delay in np.unique(lat[lat > 0]):
            self.pending.setdefault(day + int(delay), []).append(found.subset(lat == delay))
        return Events.concat([*self.pending.pop(day, []), found.subset(lat == 0), _no_events()])

    def serve(self, day: int, cand: np.ndarray, happened: np.ndarray) -> np.ndarray:
        """Which candidates an observer with a daily capacity searches today.

        The oldest waiting events go first; among events of one day each has a random
        priority, so who is searched is a fair draw, not id order. An observer whose
        ``queue`` is ``wait`` keeps the rest for tomorrow; otherwise they expire.
        """
        c = self.c
        keep = np.ones(cand.size, dtype=np.bool_)
        wait = np.zeros(cand.size, dtype=np.bool_)
        limited = np.flatnonzero(c.capacity >= 0)
        if limited.size and cand.size:
            obs = unpack(cand)[2]
            pri = kernels.priorities(c, rng.stage_key(self.seed, day, rng.CAPACITY), cand)
            for o in limited:
                idx = np.flatnonzero(obs == o)
                cap = int(c.capacity[o])
                if idx.size <= cap:
                    continue
                order = idx[np.lexsort((pri[idx], happened[idx]))]
                keep[order[cap:]] = False
                wait[order[cap:]] = c.queue_wait[o]
        self.waiting, self.waiting_since = cand[wait], happened[wait]
        return keep

    def accusations(self, day: int) -> Events:
        """Reports of events nobody committed (informants' false accusations)."""
        c, n = self.c, self.pop.n
        parts = [_no_events()]
        key = rng.stage_key(self.seed, day, rng.ACCUSE)
        for o in np.flatnonzero(c.accuse_rate > 0):
            lam = n * c.accuse_rate[o] * c.accuse_mean
            attr = kernels.accusations(c, key, int(o), float(lam), self.pop.group)
            fill = np.full(attr.size, 1, dtype=np.int64)
            parts.append(Events(attr, -fill, fill * c.accuse_beh[o], fill * o, fill * day))
        return Events.concat(parts)

    def adapt(self, day: int, found: Events) -> None:
        """Adaptive observers go where their own records are (Ensign et al. 2018).

        Each day an adaptive observer puts its whole coverage budget (its coverage
        summed over places, at most 1 in a place) on one place, drawn with chance
        proportional to the events it has recorded there so far (a Pólya urn, started
        at half an event a place). Records can only come from where it looks, so with
        equal true rates the coverage runs away to whichever place got ahead early.
        """
        c = self.c
        for o in np.flatnonzero(c.adaptive):
            mine = found.obs == o
            who = np.where(found.doer[mine] >= 0, found.doer[mine], found.attr[mine])
            self.urn[o] += np.bincount(self.pop.place[who], minlength=self.urn.shape[1])
            u = rng.unit_py(rng.stage_key(self.seed, day, rng.DEPLOY) ^ np.uint64(o))
            cum = np.cumsum(self.urn[o])
            where = min(int(np.searchsorted(cum, u * cum[-1], side="right")), cum.size - 1)
            self.coverage[o] = 0.0
            self.coverage[o, where] = min(1.0, self.budget[o])
