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
) -> Run:
    """Live ``days`` days of a synthetic population under a regime.

    The result depends only on the regime, ``population``, ``days`` and ``seed``:
    ``threads`` and ``chunk_size`` change the speed, never a number.
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
        sim = DayLoop(regime, compiled, pop, seed, chunk_size or DEFAULT_CHUNK)
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
        self, regime: Regime, compiled: Compiled, pop: Population, seed: int, chunk: int
    ) -> None:
        self.c = compiled
        self.pop = pop
        self.seed = seed
        self.chunk = chunk
        self.state: State = initial_state(compiled, pop.n)
        self.names = metric_names(regime)
        self.pending: dict[int, list[tuple[np.ndarray, ...]]] = {}
        self.group_size = np.bincount(pop.group, minlength=len(regime.groups))
        n_groups, n_beh = len(regime.groups), compiled.n_beh
        nblocks = -(-pop.n // chunk)
        self.nblocks = nblocks
        self.true_counts = np.zeros((nblocks, n_groups, n_beh), dtype=np.int64)
        max_rate = float(pop.lam_group.max(initial=0.0)) * n_beh
        self.width = int(chunk * max_rate * 2) + 64
        self.cand = np.empty((nblocks, self.width), dtype=np.int64)
        self.cand_n = np.zeros(nblocks, dtype=np.int64)
        self.sum_score = np.zeros((nblocks, n_groups), dtype=np.int64)
        self.state_n = np.zeros((nblocks, n_groups, compiled.n_grades, 2), dtype=np.int64)
        self.wrongful_n = np.zeros((nblocks, n_groups), dtype=np.int64)
        self.smin = np.zeros(nblocks, dtype=np.int64)
        self.smax = np.zeros(nblocks, dtype=np.int64)
        self.old = np.empty_like(self.state.score) if compiled.liability > 0 else None
        self.old_c = (
            np.empty_like(self.state.score)
            if compiled.liability > 0 and self.state.track_clean
            else None
        )

    def step(self, day: int) -> np.ndarray:
        """Live one day; return its metrics, one row per group with "all" first."""
        if day > 0 and day % 365 == 0:
            self.state.used[:] = 0
            self.state.used_c[:] = 0
        events = self.observe(day, self.behave(day))
        counts = self.score(events)
        self.settle()
        self.respond(day)
        return self.record(counts)

    def behave(self, day: int) -> np.ndarray:
        """The day's true events, as packed candidates in view of an observer."""
        c, p = self.c, self.pop
        key_b = rng.stage_key(self.seed, day, rng.BEHAVE)
        key_o = rng.stage_key(self.seed, day, rng.OBSERVE)
        while True:
            kernels.behave_observe(
                key_b,
                key_o,
                self.chunk,
                p.group,
                p.lam_total,
                p.lam_group,
                p.lam_agent,
                p.beh_col,
                c.beh_key,
                c.beh_obs,
                c.coverage,
                MAX_EVENTS_PER_DAY,
                self.true_counts,
                self.cand,
                self.cand_n,
            )
            if self.cand_n.max(initial=0) <= self.width:
                return kernels.gather(self.cand, self.cand_n)
            self.width = int(self.cand_n.max() * 1.5) + 64
            self.cand = np.empty((self.nblocks, self.width), dtype=np.int64)

    def observe(self, day: int, cand: np.ndarray) -> tuple[np.ndarray, ...]:
        """Capacity, matching and latency: the events recorded today."""
        c = self.c
        keep = np.ones(cand.size, dtype=np.bool_)
        limited = np.flatnonzero(c.capacity >= 0)
        if limited.size and cand.size:
            obs = (cand >> np.int64(16)) & np.int64(0xFF)
            pri = kernels.priorities(rng.stage_key(self.seed, day, rng.CAPACITY), cand, c.beh_key)
            for o in limited:
                idx = np.flatnonzero(obs == o)
                if idx.size > c.capacity[o]:
                    keep[idx] = False
                    if c.capacity[o] > 0:
                        keep[idx[np.argpartition(pri[idx], c.capacity[o] - 1)[: c.capacity[o]]]] = (
                            True
                        )
        rec = kernels.match(
            rng.stage_key(self.seed, day, rng.MATCH),
            cand,
            keep,
            self.pop.n,
            self.pop.group,
            c.fm_mult,
            c.beh_key,
            c.p_false,
            c.detection,
        )
        lat = c.latency[rec[3]] if rec[0].size else np.zeros(0, dtype=np.int64)
        for delay in np.unique(lat[lat > 0]):
            sel = lat == delay
            self.pending.setdefault(day + int(delay), []).append(tuple(a[sel] for a in rec))
        now = lat == 0
        batches = [*self.pending.pop(day, []), tuple(a[now] for a in rec)]
        return tuple(np.concatenate(cols) for cols in zip(*batches, strict=True))

    def score(self, events: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
        """Points of the recorded events, with yearly caps; flags events that list."""
        c, s = self.c, self.state
        n_groups = self.group_size.size
        counts = {
            "recorded": np.zeros((n_groups, c.n_beh), dtype=np.int64),
            "false": np.zeros(n_groups, dtype=np.int64),
            "wrongful": np.zeros(n_groups, dtype=np.int64),
        }
        attr, doer, beh, _ = events
        kernels.apply_rules(
            attr,
            doer,
            beh,
            self.pop.group,
            c.rule_beh,
            c.rule_pts,
            c.rule_cap,
            c.rule_slot,
            c.enter_beh,
            s.flags,
            s.score,
            s.grade,
            s.gdays,
            s.listed,
            s.used,
            s.score_c,
            s.grade_c,
            s.gdays_c,
            s.listed_c,
            s.used_c,
            s.taint,
            s.track_clean,
            counts["recorded"],
            counts["false"],
            counts["wrongful"],
        )
        return counts

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
            self.chunk,
            p.group,
            p.indptr,
            p.indices,
            c.liability,
            c.floor,
            c.ceiling,
            c.grade_min,
            c.enter_grade,
            c.enter_days,
            c.exit_after,
            c.wrong_tab,
            old,
            s.score,
            s.grade,
            s.gdays,
            s.listed,
            old_c,
            s.score_c,
            s.grade_c,
            s.gdays_c,
            s.listed_c,
            s.taint,
            s.flags,
            self.sum_score,
            self.state_n,
            self.wrongful_n,
            self.smin,
            self.smax,
        )

    def respond(self, day: int) -> None:
        """Behaviour change (deterrence, chilling, gaming, distancing): not yet modelled."""

    def record(self, counts: dict[str, np.ndarray]) -> np.ndarray:
        """The day's metrics, per group and overall, in the order of ``self.names``."""
        states = self.state_n.sum(0)  # [G, K, 2]
        per_group = np.column_stack(
            [
                self.sum_score.sum(0) / SCALE,
                states.sum(2),
                states[:, :, 1].sum(1),
                np.einsum("gkl,skl->gs", states, self.c.active),
                self.wrongful_n.sum(0),
                np.zeros(self.group_size.size),  # gini, overall only
                self.true_counts.sum(0),
                counts["recorded"],
                counts["false"],
                counts["wrongful"],
            ]
        ).astype(np.float64)
        rows = np.vstack([per_group.sum(0), per_group])
        sizes = np.concatenate([[self.group_size.sum()], self.group_size]).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            rows[:, 0] /= sizes
            rows[:, 1 : 1 + self.c.n_grades] /= sizes[:, None]
        gini_col = 1 + self.c.n_grades + 1 + self.c.active.shape[0] + 1
        rows[:, gini_col] = np.nan
        rows[0, gini_col] = self.gini()
        return rows

    def gini(self) -> float:
        lo, hi = int(self.smin.min()), int(self.smax.max())
        width = max(SCALE, -(-(hi - lo + 1) // GINI_BINS))
        hist = np.empty((min(self.nblocks, 64), (hi - lo) // width + 1), dtype=np.int64)
        kernels.histogram(self.state.score, lo, width, hist)
        values = (lo + width * np.arange(hist.shape[1])) / SCALE
        return gini_from_histogram(values, hist.sum(0))


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
