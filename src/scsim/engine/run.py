"""The driver: builds the population, runs the day pipeline, collects the frames.

Kernels know nothing of progress bars, stores or options; this module owns them.

    behave -> observe -> score -> couple -> grade -> list -> sanction -> respond -> record

behave and the routing of events to observers are one kernel (``behave_observe``);
couple, grade, list and sanction are another (``settle``), so the dense state is swept
twice a day.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np
import polars as pl

from scsim.engine import kernels, rng
from scsim.engine.compile import MAX_EVENTS_PER_DAY, SCALE, Compiled, compile_regime
from scsim.engine.result import Run
from scsim.engine.state import State, initial_state
from scsim.errors import OptionError
from scsim.metrics.names import gini_from_histogram, metric_names, stock_names
from scsim.population import Population, build_population
from scsim.regime import Regime, load_regime

DEFAULT_CHUNK = 1 << 14
MAX_DAYS = 36_500
GINI_BINS = 4096

Progress = Callable[[int, int], None]


def simulate(
    regime: Regime | str | Path,
    population: int = 100_000,
    days: int = 365,
    seed: int = 0,
    *,
    threads: int | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    keep_events: bool = True,
) -> Run:
    """Live ``days`` days of a synthetic population under a regime.

    The result depends only on the regime, ``population``, ``days`` and ``seed``:
    ``threads`` and ``chunk_size`` change the speed, never a number. ``keep_events``
    keeps every recorded event for ``run.events`` (about 22 bytes an event).
    """
    if not isinstance(regime, Regime):
        regime = load_regime(regime)
    _check_options(population, days, seed, threads, chunk_size)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    with _numba_threads(threads):
        pop = build_population(regime, population, seed)
        compiled = compile_regime(regime, population)
        t1 = time.perf_counter()
        sim = DayLoop(regime, compiled, pop, seed, chunk_size or DEFAULT_CHUNK, keep_events)
        daily = np.empty((days, len(regime.groups) + 1, len(sim.names)))
        for day in range(days):
            daily[day] = sim.step(day)
            if progress is not None:
                progress(day + 1, days)
    t2 = time.perf_counter()
    return Run(
        regime=regime,
        population=population,
        days=days,
        seed=seed,
        daily=_daily_frame(daily, sim.names, ["all", *(g.name for g in regime.groups)]),
        agents=agents_frame(regime, pop, sim.state),
        summary=_summary(daily[:, 0, :], sim.names, set(stock_names(regime))),
        stocks=frozenset(stock_names(regime)),
        seconds=t2 - t0,
        started=started.isoformat(timespec="seconds"),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        params={
            "threads": numba.get_num_threads() if threads is None else threads,
            "chunk_size": chunk_size or DEFAULT_CHUNK,
            "build_seconds": t1 - t0,
            "loop_seconds": t2 - t1,
            "bytes_per_agent": (pop.nbytes() + sim.state.nbytes()) / population,
        },
        events=sim.log.frame(regime) if sim.log is not None else None,
        transitions=transitions_frame(regime, sim.transitions),
    )


def _check_options(population, days, seed, threads, chunk_size) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise OptionError(f"days: {days} is out of range (allowed: 1 to {MAX_DAYS})")
    if not 0 <= seed < 2**63:
        raise OptionError(f"seed: {seed} is out of range (allowed: 0 to 2**63 - 1)")
    top = numba.config.NUMBA_NUM_THREADS
    if threads is not None and not 1 <= threads <= top:
        raise OptionError(f"threads: {threads} is out of range (allowed: 1 to {top})")
    if chunk_size is not None and not 1 <= chunk_size <= 2**31:
        raise OptionError(f"chunk_size: {chunk_size} is out of range (allowed: 1 to 2**31)")
    del population  # checked where the population is built


@contextlib.contextmanager
def _numba_threads(threads: int | None) -> Iterator[None]:
    before = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(before)


class DayLoop:
    """One regime's day pipeline over one population, with its reusable buffers."""

    def __init__(
        self,
        regime: Regime,
        compiled: Compiled,
        pop: Population,
        seed: int,
        chunk: int,
        keep_events: bool = True,
    ) -> None:
        self.regime = regime
        self.c = compiled
        self.pop = pop
        self.seed = seed
        self.chunk = chunk
        self.state: State = initial_state(compiled, pop.n)
        self.names = metric_names(regime)
        self.pending: dict[int, list[tuple[np.ndarray, ...]]] = {}
        self.log: EventLog | None = EventLog() if keep_events else None
        self.transitions: list[np.ndarray] = []
        self.group_size = np.bincount(pop.group, minlength=len(regime.groups))
        n_groups, n_beh = len(regime.groups), compiled.n_beh
        nblocks = -(-pop.n // chunk)
        self.nblocks = nblocks
        self.true_counts = np.zeros((nblocks, n_groups, n_beh), dtype=np.int64)
        mean_rate = float(pop.lam_group.sum(axis=1).max(initial=0.0))
        self.width = int(chunk * mean_rate * 2) + 64
        self.buf = np.empty((nblocks, self.width), dtype=np.int64)
        self.buf_n = np.zeros(nblocks, dtype=np.int64)
        k = compiled.n_grades
        self.sum_score = np.zeros((nblocks, n_groups), dtype=np.int64)
        self.state_n = np.zeros((nblocks, n_groups, k, 2), dtype=np.int64)
        self.wrongful_n = np.zeros((nblocks, n_groups), dtype=np.int64)
        self.moves = np.zeros((nblocks, n_groups, 2), dtype=np.int64)
        self.trans = np.zeros((nblocks, k, k), dtype=np.int64)
        self.smin = np.zeros(nblocks, dtype=np.int64)
        self.smax = np.zeros(nblocks, dtype=np.int64)
        liable = compiled.liability > 0
        self.old = np.empty_like(self.state.score) if liable else None
        self.old_c = np.empty_like(self.state.score) if liable and self.state.track_clean else None

    def step(self, day: int) -> np.ndarray:
        """Live one day; return its metrics, one row per group with "all" first."""
        if day > 0 and day % 365 == 0:
            self.state.used[:] = 0
            self.state.used_c[:] = 0
        events = self.observe(day, self.behave(day))
        flows = self.score(day, events)
        self.settle()
        self.respond(day)
        return self.record(flows)

    def behave(self, day: int) -> np.ndarray:
        """The day's true events, packed (agent, behaviour, index), in agent order."""
        p = self.pop
        key_b = rng.stage_key(self.seed, day, rng.BEHAVE)
        while True:
            kernels.behave(
                key_b, self.chunk, p.group, p.lam_total, p.lam_group, p.lam_agent, p.beh_col,
                MAX_EVENTS_PER_DAY, self.true_counts, self.buf, self.buf_n,
            )  # fmt: skip
            if self.buf_n.max(initial=0) <= self.width:
                return kernels.gather(self.buf, self.buf_n)
            self.width = int(self.buf_n.max() * 1.5) + 64
            self.buf = np.empty((self.nblocks, self.width), dtype=np.int64)

    def observe(self, day: int, true_events: np.ndarray) -> Events:
        """Coverage, capacity, matching and latency: the events recorded today."""
        c = self.c
        key_o = rng.stage_key(self.seed, day, rng.OBSERVE)
        cand = kernels.route(key_o, true_events, c.beh_key, c.obs_key, c.beh_obs, c.coverage)
        keep = self.within_capacity(day, cand)
        attr, doer, beh, obs = kernels.match(
            rng.stage_key(self.seed, day, rng.MATCH), cand, keep, self.pop.n, self.pop.group,
            c.fm_mult, c.beh_key, c.obs_key, c.p_false, c.detection,
        )  # fmt: skip
        rec = (attr, doer, beh, obs, np.full(attr.size, day, dtype=np.int64))
        lat = c.latency[obs]
        for delay in np.unique(lat[lat > 0]):
            sel = lat == delay
            self.pending.setdefault(day + int(delay), []).append(tuple(a[sel] for a in rec))
        now = lat == 0
        batches = [*self.pending.pop(day, []), tuple(a[now] for a in rec)]
        return Events(*(np.concatenate(cols) for cols in zip(*batches, strict=True)))

    def within_capacity(self, day: int, cand: np.ndarray) -> np.ndarray:
        """Which candidates an observer with a daily capacity gets to search.

        Each candidate has a random priority; an observer over capacity serves the
        ``capacity_per_day`` lowest, so who is searched is a fair draw, not id order.
        """
        c = self.c
        keep = np.ones(cand.size, dtype=np.bool_)
        limited = np.flatnonzero(c.capacity >= 0)
        if not (limited.size and cand.size):
            return keep
        obs = kernels.unpack(cand)[2]
        pri = kernels.priorities(
            rng.stage_key(self.seed, day, rng.CAPACITY), cand, c.beh_key, c.obs_key
        )
        for o in limited:
            idx = np.flatnonzero(obs == o)
            cap = int(c.capacity[o])
            if idx.size > cap:
                keep[idx] = False
                if cap > 0:
                    keep[idx[np.argpartition(pri[idx], cap - 1)[:cap]]] = True
        return keep

    def score(self, day: int, ev: Events) -> dict[str, np.ndarray]:
        """Points of the recorded events, with yearly caps; flags events that list.

        Returns the day's event flows per group of the agent the event was attributed
        to (``recorded``: [G, B]; ``false``, ``wrongful``: [G]; ``by_observer``,
        ``false_by_observer``: [G, O]).
        """
        c, s = self.c, self.state
        applied = np.zeros(ev.attr.size, dtype=np.int64)
        kernels.apply_rules(
            ev.attr, ev.doer, ev.beh, c.rule_beh, c.rule_pts, c.rule_cap, c.rule_slot,
            c.enter_beh, s.flags, s.score, s.grade, s.gdays, s.listed, s.used,
            s.score_c, s.grade_c, s.gdays_c, s.listed_c, s.used_c, s.taint, s.track_clean,
            applied,
        )  # fmt: skip
        if self.log is not None:
            self.log.add(ev, day, applied)
        n_groups, n_obs = self.group_size.size, c.coverage.size
        g = self.pop.group[ev.attr].astype(np.int64)
        wrong = ev.attr != ev.doer

        def by(cols: np.ndarray, width: int, mask: np.ndarray | None = None) -> np.ndarray:
            flat = np.bincount(g * width + cols, weights=mask, minlength=n_groups * width)
            return flat.reshape(n_groups, width)

        return {
            "recorded": by(ev.beh, c.n_beh),
            "false": np.bincount(g[wrong], minlength=n_groups),
            "wrongful": np.bincount(g[wrong & (applied < 0)], minlength=n_groups),
            "by_observer": by(ev.obs, n_obs),
            "false_by_observer": by(ev.obs, n_obs, wrong.astype(np.float64)),
        }

    def settle(self) -> None:
        """couple -> grade -> list -> sanction, in one sweep over the agents."""
        c, s, p = self.c, self.state, self.pop
        old, old_c = s.score, s.score_c
        if self.old is not None:
            np.copyto(self.old, s.score)
            old = self.old
            if self.old_c is not None:
                np.copyto(self.old_c, s.score_c)
                old_c = self.old_c
        kernels.settle(
            self.chunk, p.group, p.indptr, p.indices, c.liability, c.floor, c.ceiling,
            c.grade_min, c.enter_grade, c.enter_days, c.exit_after, c.wrong_tab,
            old, s.score, s.grade, s.gdays, s.listed,
            old_c, s.score_c, s.grade_c, s.gdays_c, s.listed_c, s.taint, s.flags,
            self.sum_score, self.state_n, self.wrongful_n, self.moves, self.trans,
            self.smin, self.smax,
        )  # fmt: skip
        self.transitions.append(self.trans.sum(0))

    def respond(self, day: int) -> None:
        """Behaviour change (deterrence, chilling, gaming, distancing): not yet modelled."""

    def record(self, flows: dict[str, np.ndarray]) -> np.ndarray:
        """The day's metrics, per group and overall, in the order of ``self.names``.

        Everything is first a count per group; the overall row is the sum of the group
        rows, and means and shares are divided by the population last.
        """
        r, c = self.regime, self.c
        states = self.state_n.sum(0)  # [G, K, listed]
        acts = np.einsum("gkl,skl->gs", states, c.active)
        moves = self.moves.sum(0)
        true = self.true_counts.sum(0)
        counts: dict[str, np.ndarray] = {"mean_score": self.sum_score.sum(0) / SCALE}
        for k, grade in enumerate(r.grades):
            counts[f"grade_share.{grade.name}"] = states[:, k].sum(1)
        counts["blacklisted"] = states[:, :, 1].sum(1)
        for a, act in enumerate([*r.sanctions, *r.rewards]):
            kind = "sanctioned" if a < c.n_sanctions else "rewarded"
            counts[f"{kind}.{act.name}"] = acts[:, a]
        counts["wrongfully_sanctioned"] = self.wrongful_n.sum(0)
        counts["list_entries"], counts["list_exits"] = moves[:, 0], moves[:, 1]
        for b, name in enumerate(r.behaviours):
            counts[f"events_true.{name}"] = true[:, b]
            counts[f"events_recorded.{name}"] = flows["recorded"][:, b]
        counts["false_attributions"] = flows["false"]
        counts["wrongful_penalties"] = flows["wrongful"]
        for o, obs in enumerate(r.observers):
            counts[f"recorded_by.{obs.name}"] = flows["by_observer"][:, o]
            counts[f"false_by.{obs.name}"] = flows["false_by_observer"][:, o]
        sizes = self.group_size.astype(np.float64)
        rows = {}
        for name in self.names:
            col = counts.get(name)
            if col is None:  # measured on the whole population only
                continue
            col = np.asarray(col, dtype=np.float64)
            rows[name] = np.concatenate([[col.sum()], col])
        everyone = np.concatenate([[sizes.sum()], sizes])
        with np.errstate(invalid="ignore", divide="ignore"):
            for name in rows:
                if name == "mean_score" or name.startswith("grade_share."):
                    rows[name] = rows[name] / everyone
        nan = np.full(sizes.size, np.nan)
        rows["score_gini"] = np.concatenate([[self.gini()], nan])
        for a, act in enumerate(r.sanctions):
            impact = disparate_impact(acts[:, a], self.group_size)
            rows[f"disparate_impact.{act.name}"] = np.concatenate([[impact], nan])
        return np.column_stack([rows[name] for name in self.names])

    def gini(self) -> float:
        lo, hi = int(self.smin.min()), int(self.smax.max())
        width = max(SCALE, -(-(hi - lo + 1) // GINI_BINS))
        hist = np.empty((min(self.nblocks, 64), (hi - lo) // width + 1), dtype=np.int64)
        kernels.histogram(self.state.score, lo, width, hist)
        values = (lo + width * np.arange(hist.shape[1])) / SCALE
        return gini_from_histogram(values, hist.sum(0))


def disparate_impact(sanctioned: np.ndarray, size: np.ndarray) -> float:
    """Sanction rate of the most affected group over that of the least affected.

    NaN when nobody is sanctioned; infinite when some group is sanctioned and another,
    non-empty, is not.
    """
    rates = sanctioned[size > 0] / size[size > 0]
    if rates.size == 0 or rates.max() == 0:
        return float("nan")
    return float(rates.max() / rates.min()) if rates.min() > 0 else float("inf")


class Events(NamedTuple):
    """Recorded events of one day: attributed agent, doer, behaviour, observer, and the
    day the event happened."""

    attr: np.ndarray
    doer: np.ndarray
    beh: np.ndarray
    obs: np.ndarray
    happened: np.ndarray


class EventLog:
    """Every recorded event of a run, in compact columns (22 bytes an event)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, ev: Events, day: int, applied: np.ndarray) -> None:
        if ev.attr.size:
            self.parts.append(
                (
                    ev.happened.astype(np.int32),
                    np.full(ev.attr.size, day, dtype=np.int32),
                    ev.doer.astype(np.int32),
                    ev.attr.astype(np.int32),
                    ev.beh.astype(np.uint8),
                    ev.obs.astype(np.uint8),
                    applied.astype(np.int32),
                )
            )

    def frame(self, regime: Regime) -> pl.DataFrame:
        cols = [np.concatenate(c) if c else np.zeros(0) for c in zip(*self.parts, strict=True)]
        if not cols:
            cols = [np.zeros(0, dtype=t) for t in ("i4", "i4", "i4", "i4", "u1", "u1", "i4")]
        happened, recorded, doer, agent, beh, obs, points = cols
        behaviours = list(regime.behaviours)
        observers = [o.name for o in regime.observers] or ["none"]
        return pl.DataFrame(
            {
                "day_happened": happened.astype(np.int32),
                "day_recorded": recorded.astype(np.int32),
                "doer": doer.astype(np.int64),
                "agent": agent.astype(np.int64),
                "behaviour": pl.Series(np.asarray(behaviours)[beh.astype(np.int64)]).cast(
                    pl.Enum(behaviours)
                ),
                "observer": pl.Series(np.asarray(observers)[obs.astype(np.int64)]).cast(
                    pl.Enum(observers)
                ),
                "false": doer != agent,
                "points": points / SCALE,
            }
        )


def transitions_frame(regime: Regime, moves: list[np.ndarray]) -> pl.DataFrame:
    """Agents whose grade changed, per day and (from, to) pair; nonzero pairs only."""
    grades = [g.name for g in regime.grades]
    cube = np.stack(moves) if moves else np.zeros((0, len(grades), len(grades)), np.int64)
    day, src, dst = np.nonzero(cube)
    return pl.DataFrame(
        {
            "day": day.astype(np.int64),
            "from_grade": pl.Series(np.asarray(grades)[src], dtype=pl.String).cast(pl.Enum(grades)),
            "to_grade": pl.Series(np.asarray(grades)[dst], dtype=pl.String).cast(pl.Enum(grades)),
            "agents": cube[day, src, dst].astype(np.int64),
        }
    )


def _daily_frame(daily: np.ndarray, names: list[str], groups: list[str]) -> pl.DataFrame:
    days, n_rows, _ = daily.shape
    frame = pl.DataFrame(daily.reshape(days * n_rows, -1), schema=names, orient="row")
    return frame.with_columns(
        pl.Series("day", np.repeat(np.arange(days), n_rows)),
        pl.Series("group", np.tile(groups, days)),
    ).select("day", "group", *names)


def _summary(overall: np.ndarray, names: list[str], stocks: set[str]) -> dict[str, float]:
    return {
        name: float(overall[-1, j] if name in stocks else overall[:, j].sum())
        for j, name in enumerate(names)
    }


def agents_frame(regime: Regime, pop: Population, s: State) -> pl.DataFrame:
    """The final state, one row per agent."""
    grades = [g.name for g in regime.grades]
    groups = [g.name for g in regime.groups]
    return pl.DataFrame(
        {
            "agent": np.arange(pop.n, dtype=np.int64),
            "group": pl.Series(np.asarray(groups)[pop.group]).cast(pl.Enum(groups)),
            "household": pop.household,
            "degree": pop.degree(),
            "score": s.score / SCALE,
            "grade": pl.Series(np.asarray(grades)[s.grade]).cast(pl.Enum(grades)),
            "listed": s.listed > 0,
            "days_listed": s.listed,
        }
    )
