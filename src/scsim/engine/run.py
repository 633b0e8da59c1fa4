"""The driver: checks options, builds the population, runs the days, collects frames.

Kernels and the day loop (``engine.day``) know nothing of progress bars, stores or
options; this module owns them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numba
import numpy as np
import polars as pl

from scsim.engine.compile import compile_regime
from scsim.engine.day import DayLoop
from scsim.engine.memory import check_fits
from scsim.engine.result import Run, WorldRun, world_run
from scsim.errors import OptionError
from scsim.metrics.frames import agents_frame, daily_frame, summary, transitions_frame
from scsim.metrics.names import stock_names
from scsim.population import Population, build_population
from scsim.regime import Regime
from scsim.world import World, load

DEFAULT_CHUNK = 1 << 14
DEFAULT_POPULATION = 100_000
MAX_DAYS = 36_500

Progress = Callable[[int, int], None]


def simulate(
    regime: Regime | World | str | Path,
    population: int | Population | None = None,
    days: int = 365,
    seed: int = 0,
    *,
    threads: int | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    keep_events: bool = True,
    keep_agents: bool = True,
) -> Run | WorldRun:
    """Live ``days`` days of a synthetic population under a regime, or a world of
    several (then a :class:`WorldRun`; a world of one gives that regime's ``Run``).

    ``population`` defaults to the regime's own ``population`` key, else 100,000.
    The result depends only on the regime, ``population``, ``days`` and ``seed``:
    ``threads`` and ``chunk_size`` change the speed, never a number. ``keep_events``
    keeps every recorded event for ``run.events`` (about 22 bytes an event);
    ``keep_agents`` keeps the final state, one row per agent, in ``run.agents`` (about
    40 bytes an agent). Without them a run hands back aggregates only, which is what a
    run of a billion agents can afford.
    """
    if not isinstance(regime, Regime | World):
        regime = load(regime)
    if isinstance(regime, World):
        return _simulate_world(
            regime, population, days, seed, threads, chunk_size, progress, keep_events,
            keep_agents,
        )  # fmt: skip
    built = population if isinstance(population, Population) else None
    if population is None:
        population = regime.population or DEFAULT_POPULATION
    population = built.n if built is not None else population
    _check_options(population, days, seed, threads, chunk_size)
    check_fits(regime, population)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    with _numba_threads(threads):
        if built is not None:  # distancing drops ties in ``indices``: the run gets a copy
            pop = dataclasses.replace(built, indices=built.indices.copy())
        else:
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
    params = _params(threads, chunk_size, t0, t1, t2)
    return _operator_run(sim, daily, seed, days, started, t2 - t0, params, keep_agents)


def _params(threads, chunk_size, t0: float, t1: float, t2: float) -> dict:
    return {
        "threads": numba.get_num_threads() if threads is None else threads,
        "chunk_size": chunk_size or DEFAULT_CHUNK,
        "build_seconds": t1 - t0,
        "loop_seconds": t2 - t1,
    }


def _operator_run(
    sim: DayLoop,
    daily: np.ndarray,
    seed: int,
    days: int,
    started,
    seconds: float,
    params,
    keep_agents: bool = True,
) -> Run:
    """One regime's run from its day loop and its daily metrics [day, group, metric]."""
    regime, pop = sim.regime, sim.pop
    return Run(
        regime=regime,
        population=pop.n,
        days=days,
        seed=seed,
        daily=daily_frame(daily, sim.names, ["all", *(g.name for g in regime.groups)]),
        agents=agents_frame(regime, sim.c, pop, sim.state) if keep_agents else pl.DataFrame(),
        summary=summary(daily[:, 0, :], sim.names, set(stock_names(regime))),
        stocks=frozenset(stock_names(regime)),
        seconds=seconds,
        started=started.isoformat(timespec="seconds"),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        params={
            **params,
            "bytes_per_agent": (pop.nbytes() + sim.state.nbytes() + sim.graph.nbytes()) / pop.n,
        },
        events=sim.log.frame(regime) if sim.log is not None else None,
        list_moves=sim.list_log.frame(regime) if sim.list_log is not None else None,
        transitions=transitions_frame(regime, sim.transitions),
    )


def _simulate_world(
    world: World, population, days, seed, threads, chunk_size, progress, keep_events, keep_agents
) -> Run | WorldRun:
    from scsim.engine.world import WorldLoop

    first = next(iter(world.regimes.values()))
    if population is None:
        population = first.population or DEFAULT_POPULATION
    _check_options(population, days, seed, threads, chunk_size)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    with _numba_threads(threads):
        pop = build_population(first, population, seed)
        t1 = time.perf_counter()
        sim = WorldLoop(world, pop, seed, chunk_size or DEFAULT_CHUNK, keep_events)
        rows = len(first.groups) + 1
        daily = {name: np.empty((days, rows, len(sim.loops[name].names))) for name in sim.order}
        joint = np.empty((days, rows, len(sim.world_names)))
        for day in range(days):
            ops, world_row = sim.step(day)
            for name, row in ops.items():
                daily[name][day] = row
            if world_row is not None:
                joint[day] = world_row
            if progress is not None:
                progress(day + 1, days)
    t2 = time.perf_counter()
    params = _params(threads, chunk_size, t0, t1, t2)
    runs = {
        name: _operator_run(
            sim.loops[name], daily[name], seed, days, started, t2 - t0, params, keep_agents
        )
        for name in sim.order
    }
    if world.single:
        return next(iter(runs.values()))
    return world_run(world, runs, joint, sim, started, t2 - t0, params)


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
