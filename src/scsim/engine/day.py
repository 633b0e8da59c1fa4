"""One regime's day pipeline over one population.

    behave -> observe -> score -> couple -> grade -> list -> sanction -> respond -> record

behave is one parallel sweep; observe and score walk the day's sparse events; couple,
grade, list and sanction are one more parallel sweep (``settle``); record (``engine.record``,
which only reads the loop) turns the per-block tallies into the day's metrics.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scsim.core import rng
from scsim.engine import behave, network, respond, scoring, settle
from scsim.engine.appeals import Appeals
from scsim.engine.compile import MAX_EVENTS_PER_DAY, Compiled
from scsim.engine.record import record
from scsim.engine.state import State, initial_state
from scsim.metrics.frames import EventLog, ListLog
from scsim.metrics.names import has_graph_dynamics, metric_names
from scsim.observe.stage import Events, Observation
from scsim.population import Population
from scsim.regime import Regime


class DayLoop:
    """The stages of one day, the state they share, and their reusable buffers."""

    def __init__(
        self,
        regime: Regime,
        compiled: Compiled,
        pop: Population,
        seed: int,
        chunk: int,
        keep_events: bool = True,
        *,
        stream: str | None = None,
        can_wrong: bool = False,
    ) -> None:
        """``stream``: an operator's name in a world of several, which keys its own
        draws (observation, appeals, cures...) apart from the other operators'; the
        behaviour draws stay the world's. ``can_wrong``: records it receives from other
        operators can be false, so keep the clean counterfactual whatever its own
        channels do."""
        c = compiled
        self.regime, self.c, self.pop, self.seed, self.chunk = regime, c, pop, seed, chunk
        self.op_seed = seed if stream is None else operator_seed(seed, stream)
        op_seed = self.op_seed
        self.state: State = initial_state(c, pop.n, op_seed, can_wrong or own_errors(c))
        self.names = metric_names(regime)
        self.observe_stage = Observation(c, pop, op_seed)
        self.appeals = Appeals(c, pop.group, op_seed)
        self.log: EventLog | None = EventLog() if keep_events else None
        self.list_log: ListLog | None = ListLog(c.n_lists) if keep_events else None
        self.transitions: list[np.ndarray] = []
        n_groups = len(regime.groups)
        self.group_size = np.bincount(pop.group, minlength=n_groups)
        self.enrolled = np.bincount(pop.group, weights=self.state.enrolled, minlength=n_groups)
        self.nblocks = -(-pop.n // chunk)
        self.true_counts = np.zeros((self.nblocks, n_groups, c.n_beh), dtype=np.int64)
        self.width = int(chunk * float(pop.lam_group.sum(axis=1).max(initial=0.0)) * 2) + 64
        self.buf = np.empty((self.nblocks, self.width), dtype=np.int64)
        self.buf_n = np.zeros(self.nblocks, dtype=np.int64)
        self.tallies = settle.Tallies(self.nblocks, n_groups, c.n_grades, c.n_lists)
        self.appeal_exits = np.zeros((n_groups, max(c.n_lists, 1), 2), dtype=np.int64)
        self.rehab = np.zeros((n_groups, 2), dtype=np.int64)  # days on list, listings ended
        # Liability reads a snapshot of the scores, agent-major ([n, copies]).
        self.old = np.empty(self.state.score.shape[::-1], np.int32) if c.liability > 0 else None
        self.has_family = bool(c.family.any())
        self.graph = network.Graph(
            c, pop.indptr, pop.indices, pop.group, n_groups, op_seed, pop.proc
        )
        penalty = c.low_friend_grade < c.n_grades
        self.lows = np.zeros(pop.n if penalty else 0, dtype=np.int32)  # low agents, by block
        self.friend_hits = np.zeros(n_groups, dtype=np.int64)
        self.resp = respond.Responses(regime, pop, n_groups) if respond.active(regime) else None
        self.inert = respond.inert(c.n_beh)
        # An agent's events of several behaviours are listed by name key, not file order.
        self.beh_order = np.argsort(c.beh_key, kind="stable")
        self.graph_metrics = has_graph_dynamics(regime)
        self.keep_moves = False  # a world reads the day's list moves (``self.moved``)
        self.events: Events | None = None  # the day's records, for a world's flows
        # ``trace(stage, day)``, called after each stage that can move a score (for
        # ``explain``'s accounting, ``analysis.trace``); None, and free, in a normal run.
        self.trace: Callable[[str, int], None] | None = None

    def step(
        self, day: int, true_events: np.ndarray | None = None, incoming: Events | None = None
    ) -> np.ndarray:
        """Live one day; return its metrics, one row per group with "all" first.

        In a world, ``true_events`` are the day's events of the shared population
        (behaved once, by the first operator) and ``incoming`` the records other
        operators send today; they are scored after this operator's own.
        """
        if day > 0 and day % 365 == 0:
            self.state.used[:] = 0
        events = self.observe_stage(day, self.behave(day) if true_events is None else true_events)
        if incoming is not None:
            events = Events.concat([events, incoming])
        self.events = events
        flows = self.score(day, events)
        self.settle(day)
        self.respond(day, events, flows)
        return record(self, flows)

    def behave(self, day: int) -> np.ndarray:
        """The day's true events, packed (agent, behaviour, index), in agent order."""
        p = self.pop
        key_b = rng.stage_key(self.seed, day, rng.BEHAVE)
        tables = self.resp.tables() if self.resp is not None else self.inert
        while True:
            behave.behave(
                key_b, day, self.chunk, p.group, p.lam_total, p.lam_group, p.rates, p.beh_col,
                self.c.beh_key, self.beh_order, MAX_EVENTS_PER_DAY, tables, self.true_counts,
                self.buf, self.buf_n,
            )  # fmt: skip
            if self.buf_n.max(initial=0) <= self.width:
                return behave.gather(self.buf, self.buf_n)
            self.width = int(self.buf_n.max() * 1.5) + 64
            self.buf = np.empty((self.nblocks, self.width), dtype=np.int64)

    def score(self, day: int, ev: Events) -> dict[str, np.ndarray]:
        """Appeals decided today, then the points and listings of today's records.

        Returns the day's event flows per group of the agent each event was attributed
        to.
        """
        c, st, p = self.c, self.state, self.pop
        self.appeal_exits[:] = 0
        won, left = self.appeals.decide(day, st, p, self.appeal_exits)
        if self.trace is not None:
            self.trace("appeals", day)
        if self.list_log is not None:
            self.list_log.add_appeals(day, won, left)
        applied = np.zeros(ev.attr.size, dtype=np.int64)
        listing = np.zeros(ev.attr.size, dtype=np.int64)
        applied_clean = np.zeros(ev.attr.size, dtype=np.int64)
        scoring.apply_events(
            c, st, day, rng.stage_key(self.op_seed, day, rng.SERIOUS), ev.attr, ev.doer, ev.beh,
            p.hstart, p.household, applied, listing, applied_clean,
        )  # fmt: skip
        if self.trace is not None:
            self.trace("events", day)
        self.friend_hits[:] = 0
        if c.friend_share > 0:
            network.push_deductions(
                c, st, c.friend_share, ev.attr, ev.doer, applied, applied_clean, p.indptr,
                p.indices, p.group, self.friend_hits,
            )  # fmt: skip
        if self.trace is not None:
            self.trace("friend_deductions", day)
        filed = self.appeals.file(day, ev, applied, listing)
        if self.log is not None:
            self.log.add(ev, day, applied)
        n_groups, n_obs = self.group_size.size, c.obs_key.size
        g = p.group[ev.attr].astype(np.int64)
        wrong = ev.attr != ev.doer

        def by(cols: np.ndarray, width: int, weights: np.ndarray | None = None) -> np.ndarray:
            flat = np.bincount(g * width + cols, weights=weights, minlength=n_groups * width)
            return flat.reshape(n_groups, width)

        return {
            "recorded": by(ev.beh, c.n_beh),
            "false": np.bincount(g[wrong], minlength=n_groups),
            "wrongful": np.bincount(g[wrong & (applied < 0)], minlength=n_groups),
            "by_observer": by(ev.obs, n_obs),
            "false_by_observer": by(ev.obs, n_obs, wrong.astype(np.float64)),
            "filed": np.bincount(g[filed], minlength=n_groups),
            "won": np.bincount(p.group[won], minlength=n_groups),
        }

    def settle(self, day: int) -> None:
        """couple -> grade -> list -> sanction, in one sweep over the agents."""
        st, p = self.state, self.pop
        if self.old is not None:
            settle.snapshot(st.score, self.old, self.chunk)
            settle.couple(self.c, st, self.chunk, self.old, p.indptr, p.indices, self.graph.proc)
        if self.trace is not None:
            self.trace("liability", day)
        if self.c.low_friend_grade < self.c.n_grades:
            network.low_friend_penalty(self.c, st, self.chunk, p.indptr, p.indices, self.lows)
        if self.trace is not None:
            self.trace("low_friends", day)
        settle.settle(
            self.c,
            st,
            self.chunk,
            p.group,
            rng.stage_key(self.op_seed, day, rng.CURE),
            self.tallies.as_tuple(),
        )
        if self.trace is not None:
            self.trace("settle", day)
        self.transitions.append(self.tallies.trans.sum(0))
        if self.list_log is not None:
            self.list_log.add_sweep(day, st.flags)
        if self.keep_moves:
            self.moved = np.flatnonzero(st.flags)
            self.moved_codes = st.flags[self.moved].astype(np.int64)
        st.flags[:] = 0

    def respond(self, day: int, ev: Events, flows: dict[str, np.ndarray]) -> None:
        """Behaviour change (``engine.respond``: perceived records, gaming uptake) and
        distancing (``engine.network``: agents drop ties to the friends they shun)."""
        st, p = self.state, self.pop
        if self.resp is not None:
            self.chill = self.resp.chilling(day, p)  # the rates in force today
            recorded = flows["recorded"].sum(0).astype(np.float64)
            self.resp.update(day, self.seed, ev, recorded, p.indptr, p.indices, p.group)
        key = rng.stage_key(self.op_seed, day, rng.DISTANCE)
        self.graph.distance(key, st.grade[0], st.listed[0], self.chunk)


def own_errors(c: Compiled) -> bool:
    """Whether the regime's own channels can attribute an event to someone who did
    not do it (false matches, attribute errors, false accusations)."""
    return bool((c.p_false > 0).any() or (c.attr_error > 0).any() or (c.accuse_rate > 0).any())


def operator_seed(seed: int, name: str) -> int:
    """The seed of one operator's own draws in a world of several."""
    return int(rng.stage_key(seed ^ int(rng.name_key(name)) >> 1, 0, rng.OPERATOR)) >> 1
