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

from scsim.engine import checkpoint as ckpt
from scsim.engine.day import DayLoop
from scsim.engine.memory import check_fits
from scsim.engine.result import Run, WorldRun, world_run
from scsim.errors import OptionError
from scsim.limits import MAX_DAYS, MAX_POPULATION, MAX_SEED
from scsim.metrics.frames import agents_frame, daily_frame, summary, transitions_frame
from scsim.metrics.names import stock_names
from scsim.population import Population, build_population
from scsim.regime import Regime
from scsim.world import World, load

DEFAULT_CHUNK = 1 << 14
DEFAULT_POPULATION = 100_000

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
    checkpoint: str | Path | None = None,
    every: int | None = None,
    checkpoint_options: dict | None = None,
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
        if checkpoint is not None:
            raise OptionError("checkpoint: one run at a time (allowed: replicates=1)")
        first = simulate(regime, population, days, seed, **options, **keep)  # checks seed
        rest = [simulate(regime, population, days, seed + k, **options, **keep)
                for k in range(1, replicates)]  # fmt: skip
        return [first, *rest]
    world = regime if isinstance(regime, World) else world_of_one(regime)
    built = population if isinstance(population, Population) else None
    population = built.n if built is not None else default_population(world, population)
    _check_options(population, days, seed, threads, chunk_size)
    if every is not None:
        _whole("every", every, 1, MAX_DAYS, str(MAX_DAYS))
    saver = None
    if checkpoint is not None:
        saver = _Saver.start(
            Path(checkpoint), world, population, days, seed, chunk_size, every,
            {"keep_events": bool(keep_events), "keep_agents": bool(keep_agents)},
            checkpoint_options or {},
        )  # fmt: skip
    keep = (bool(keep_events), bool(keep_agents))
    return _drive(
        world, built or population, days, seed, threads, chunk_size, progress, keep, saver,
        on_day=on_day,
    )  # fmt: skip


def world_of_one(regime: Regime) -> World:
    """A regime as a world of one operator: the same code path, the same numbers."""
    world = World.model_construct(name=regime.name, operators={regime.name: regime.name})
    world._regimes = world._originals = {regime.name: regime}
    return world


def resume(
    directory: str | Path, *, threads: int | None = None, progress: Progress | None = None
) -> tuple[Run | WorldRun, dict]:
    """Continue the run checkpointed in ``directory`` (``simulate(...,
    checkpoint=directory)``); returns the finished run, bit for bit the run without
    the interruption, and the options the caller stored with the checkpoint.

    Refuses (``CheckpointError``) a checkpoint written by another scsim or state
    format, of a regime that no longer reads back to the same hash, or with a file
    missing or damaged.
    """
    directory = Path(directory)
    manifest, regime_path, arrays = ckpt.read(directory)
    loaded = load(regime_path)
    if loaded.content_hash() != manifest["regime_hash"]:
        raise ckpt.CheckpointError(
            f"{regime_path}: the regime reads back with another hash than the one the "
            "checkpoint was written for (it cannot be resumed)"
        )
    if threads is not None:
        _whole("threads", threads, 1, numba.config.NUMBA_NUM_THREADS, "the cores")
    world = loaded if isinstance(loaded, World) else world_of_one(loaded)
    keep = (manifest["keep"]["keep_events"], manifest["keep"]["keep_agents"])
    saver = _Saver(directory, manifest, regime_path.read_text("utf-8"))
    run = _drive(
        world, manifest["population"], manifest["days"], manifest["seed"], threads,
        manifest["chunk_size"], progress, keep, saver, (manifest["day"], arrays),
    )  # fmt: skip
    return run, manifest["options"]


class _Saver:
    """Writes a run's checkpoints: where, when, and what the manifest says."""

    def __init__(self, directory: Path, meta: dict, regime_yaml: str) -> None:
        self.directory, self.meta, self.regime_yaml = directory, meta, regime_yaml
        self.schedule = ckpt.Schedule(meta["every"])

    @classmethod
    def start(
        cls, directory, world, population, days, seed, chunk_size, every, keep, options
    ) -> _Saver:
        from scsim import __version__

        if ckpt.latest(directory) is not None:
            raise OptionError(
                f"--checkpoint {directory}: it already holds a checkpoint (allowed: an "
                f"empty or new directory; `scsim resume {directory}` continues that run)"
            )
        regime = next(iter(world.regimes.values())) if world.single else world
        meta = {
            "version": __version__,
            "regime_hash": regime.content_hash(),
            "regime": regime.name,
            "population": population,
            "days": days,
            "seed": seed,
            "chunk_size": chunk_size or DEFAULT_CHUNK,
            "every": every,
            "keep": keep,
            "options": options,
        }
        return cls(directory, meta, regime.to_yaml())

    def write(self, sim, daily: dict[str, np.ndarray], joint: np.ndarray, day: int) -> None:
        arrays = ckpt.world_arrays(sim)
        for name, rows in daily.items():
            arrays[f"{name}/daily"] = rows[:day]
        arrays["+world/daily"] = joint[:day]
        t = time.perf_counter()
        ckpt.write(self.directory, day, arrays, self.regime_yaml, self.meta)
        self.schedule.written(time.perf_counter() - t)


def _drive(
    world: World,
    population: int | Population,
    days: int,
    seed: int,
    threads: int | None,
    chunk_size: int | None,
    progress: Progress | None,
    keep: tuple[bool, bool],
    saver: _Saver | None = None,
    saved: tuple[int, dict[str, np.ndarray]] | None = None,
    on_day: OnDay | None = None,
) -> Run | WorldRun:
    """The one driver: a world (a regime is a world of one) from day 0, or from a
    checkpoint's ``saved`` (days done, arrays), to ``days``. ``population``: a size,
    or a population built already (its ``indices`` copied: distancing drops ties)."""
    from scsim.engine.world import WorldLoop

    keep_events, keep_agents = keep
    built = population if isinstance(population, Population) else None
    n = built.n if built is not None else population
    check_fits(list(world.regimes.values()), n, days, keep_events)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    with _numba_threads(threads), _compile_timer() as compiling:
        if built is not None:
            pop = dataclasses.replace(built, indices=built.indices.copy())
        else:
            pop = build_population(next(iter(world.regimes.values())), n, seed)
        t1 = time.perf_counter()
        sim = WorldLoop(world, pop, seed, chunk_size or DEFAULT_CHUNK, keep_events)
        rows = len(next(iter(world.regimes.values())).groups) + 1
        daily = {name: np.empty((days, rows, len(sim.loops[name].names))) for name in sim.order}
        joint = np.empty((days, rows, len(sim.world_names)))
        start = 0
        if saved is not None:
            start, arrays = saved
            ckpt.restore_world(sim, arrays)
            for name in sim.order:
                daily[name][:start] = arrays[f"{name}/daily"]
            joint[:start] = arrays["+world/daily"]
        for day in range(start, days):
            ops, world_row = sim.step(day)
            for name, row in ops.items():
                daily[name][day] = row
            if world_row is not None:
                joint[day] = world_row
            if on_day is not None:
                on_day(day, _world_day(sim, ops, world_row, world.single))
            if saver is not None and (saver.schedule.due(day + 1) or day + 1 == days):
                saver.write(sim, daily, joint, day + 1)
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
    _whole("seed", seed, 0, MAX_SEED, "2**63 - 1")
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
