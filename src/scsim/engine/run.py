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
from scsim.population.build import MAX_POPULATION
from scsim.regime import Regime
from scsim.world import World, load

DEFAULT_CHUNK = 1 << 14
DEFAULT_POPULATION = 100_000
MAX_DAYS = 36_500

Progress = Callable[[int, int], None]
OnDay = Callable[[int, dict[str, float]], None]


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
    replicates: int = 1,
    on_day: OnDay | None = None,
) -> Run | WorldRun | list[Run | WorldRun]:
    """Live ``days`` days of a synthetic population under a regime, or a world of
    several (then a :class:`WorldRun`; a world of one gives that regime's ``Run``).

    ``replicates=K`` (K > 1) runs seeds ``seed .. seed + K - 1`` and returns the K runs
    in seed order, a replicate batch as the CLI's ``--replicates K`` makes (pass it to
    ``compare`` or ``write_report`` for means and 95% intervals).

    ``on_day(day, metrics)``, if given, is called after each day with that day's
    metrics for the whole population (the "all" row of ``run.daily``, by column name),
    so a notebook or the workbench can draw a run while it lives.

    ``population`` defaults to the regime's own ``population`` key, else 100,000.
    The result depends only on the regime, ``population``, ``days`` and ``seed``:
    ``threads`` and ``chunk_size`` change the speed, never a number. ``keep_events``
    keeps every recorded event for ``run.events`` (about 22 bytes an event);
    ``keep_agents`` keeps the final state, one row per agent, in ``run.agents`` (about
    40 bytes an agent). Without them a run hands back aggregates only, which is what a
    run of a billion agents can afford.
    """
    if not isinstance(regime, Regime | World):
        if not isinstance(regime, str | Path):
            raise OptionError(
                f"regime: {_quote(regime)} is not a regime (allowed: a Regime or World from "
                "scsim.load, a built-in name, or a path to a YAML file)"
            )
        regime = load(regime)
    _check_flags(progress, keep_events, keep_agents, on_day)
    if replicates != 1:
        if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
            raise OptionError(f"replicates: {replicates!r} (allowed: a whole number, 1 or more)")
        options = {"threads": threads, "chunk_size": chunk_size, "progress": progress}
        options["on_day"] = on_day
        keep = {"keep_events": keep_events, "keep_agents": keep_agents}
        first = simulate(regime, population, days, seed, **options, **keep)  # checks seed
        rest = [simulate(regime, population, days, seed + k, **options, **keep)
                for k in range(1, replicates)]  # fmt: skip
        return [first, *rest]
    if isinstance(regime, World):
        return _simulate_world(
            regime, population, days, seed, threads, chunk_size, progress, keep_events,
            keep_agents, on_day,
        )  # fmt: skip
    built = population if isinstance(population, Population) else None
    population = built.n if built is not None else default_population(regime, population)
    _check_options(population, days, seed, threads, chunk_size)
    check_fits(regime, population, days, keep_events)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    with _numba_threads(threads), _compile_timer() as compiling:
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
            if on_day is not None:
                on_day(day, dict(zip(sim.names, daily[day, 0].tolist(), strict=True)))
            if progress is not None:
                progress(day + 1, days)
    t2 = time.perf_counter()
    params = _params(threads, chunk_size, t0, t1, t2, compiling)
    return _operator_run(sim, daily, seed, days, started, t2 - t0, params, keep_agents)


def _params(threads, chunk_size, t0: float, t1: float, t2: float, compiling: list) -> dict:
    return {
        "threads": numba.get_num_threads() if threads is None else threads,
        "chunk_size": chunk_size or DEFAULT_CHUNK,
        "build_seconds": t1 - t0,
        "loop_seconds": t2 - t1,
        "compile_seconds": sum(compiling),
    }


@contextlib.contextmanager
def _compile_timer() -> Iterator[list[float]]:
    """Seconds numba spends compiling kernels (cache misses only; nested compiles
    counted once) while the block runs, so a run's speed can leave them out."""
    from numba.core import event

    spent: list[float] = []
    listener = event.TimingListener()
    with event.install_listener("numba:compile", listener):
        yield spent
    if listener.done:
        spent.append(listener.duration)


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
    world: World,
    population,
    days,
    seed,
    threads,
    chunk_size,
    progress,
    keep_events,
    keep_agents,
    on_day: OnDay | None,
) -> Run | WorldRun:
    from scsim.engine.world import WorldLoop

    first = next(iter(world.regimes.values()))
    population = default_population(world, population)
    _check_options(population, days, seed, threads, chunk_size)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    with _numba_threads(threads), _compile_timer() as compiling:
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
            if on_day is not None:
                on_day(day, _world_day(sim, ops, world_row, world.single))
            if progress is not None:
                progress(day + 1, days)
    t2 = time.perf_counter()
    params = _params(threads, chunk_size, t0, t1, t2, compiling)
    runs = {
        name: _operator_run(
            sim.loops[name], daily[name], seed, days, started, t2 - t0, params, keep_agents
        )
        for name in sim.order
    }
    if world.single:
        return next(iter(runs.values()))
    return world_run(world, runs, joint, sim, started, t2 - t0, params)


def _world_day(sim, ops: dict[str, np.ndarray], world_row, single: bool) -> dict[str, float]:
    """A world's day for ``on_day``: each operator's "all" row under its prefixed
    names, then the world's own metrics (the columns of ``WorldRun.daily``)."""
    row: dict[str, float] = {}
    for name, values in ops.items():
        prefix = "" if single else f"{name}."
        names = sim.loops[name].names
        row |= {prefix + m: v for m, v in zip(names, values[0].tolist(), strict=True)}
    if world_row is not None and not single:
        row |= dict(zip(sim.world_names, world_row[0].tolist(), strict=True))
    return row


def default_population(regime: Regime | World, population: int | None = None) -> int:
    """``population`` if given, else the regime's (or world's) ``population`` key, else
    :data:`DEFAULT_POPULATION`: what ``simulate`` and ``scsim run`` both run."""
    if population is not None:
        return population
    if isinstance(regime, World):
        regime = next(iter(regime.regimes.values()))  # the world's key is set on it
    return regime.population or DEFAULT_POPULATION


def _check_options(population, days, seed, threads, chunk_size) -> None:
    """The numbers ``simulate`` takes: whole numbers in range, or one ``OptionError``
    (a float, a bool or a string would otherwise reach Numba as a typing wall)."""
    _whole("population", population, 1, MAX_POPULATION, f"{MAX_POPULATION:,}")
    _whole("days", days, 1, MAX_DAYS, str(MAX_DAYS))
    _whole("seed", seed, 0, 2**63 - 1, "2**63 - 1")
    top = numba.config.NUMBA_NUM_THREADS
    if threads is not None:
        _whole("threads", threads, 1, top, str(top))
    if chunk_size is not None:
        _whole("chunk_size", chunk_size, 1, 2**31, "2**31")


def _whole(name: str, value: object, lo: int, hi: int, hi_text: str) -> None:
    allowed = f"allowed: a whole number from {lo} to {hi_text}"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise OptionError(f"{name}: {_quote(value)} is not a whole number ({allowed})")
    if not lo <= value <= hi:
        raise OptionError(f"{name}: {value} is out of range ({allowed})")


def _check_flags(progress, keep_events, keep_agents, on_day=None) -> None:
    for name, value in (("keep_events", keep_events), ("keep_agents", keep_agents)):
        if not isinstance(value, bool | np.bool_):
            raise OptionError(f"{name}: {_quote(value)} is not true or false (allowed: a bool)")
    if progress is not None and not callable(progress):
        raise OptionError(
            f"progress: {_quote(progress)} is not callable (allowed: None, or a function "
            "called with (days done, days))"
        )
    if on_day is not None and not callable(on_day):
        raise OptionError(
            f"on_day: {_quote(on_day)} is not callable (allowed: None, or a function "
            "called with (day, metrics of that day))"
        )


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@contextlib.contextmanager
def _numba_threads(threads: int | None) -> Iterator[None]:
    before = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(before)
