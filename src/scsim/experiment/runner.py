"""The sweep driver: runs an experiment's missing (point, replicate) pairs on Ray and
writes each result to the store as it lands.

Why it is built this way:

- Ray, local by default (``ray.init()`` starts one on demand, nothing to install), a
  cluster with ``address`` or ``RAY_ADDRESS``. Workers are long-lived actors, each on
  one numba thread; each asks for at most one CPU, and less (down to none) when the
  cluster has fewer free CPUs than workers, so a sweep never waits for resources it
  cannot get (two sweeps on a 2-core machine share the cores).
- The first worker warms numba's on-disk cache with a one-day run before the others
  start, so the kernels are compiled once on a machine, not once per worker.
- The driver alone writes the store (DuckDB has one writer); each run is its own
  transaction, so a killed driver leaves whole rows, and a resume runs exactly the
  missing pairs. A run's numbers depend on its point and replicate only (replicate r
  uses seed ``seed + r`` everywhere), never on the worker or the order, so a resumed
  sweep equals an uninterrupted one.
- Tasks are queued replicate by replicate, so a worker meets one seed at a time and
  its population cache hits; each worker holds two tasks, so it never idles while
  the driver writes.
- Actors started in a Ray the caller had already started are kept for the next sweep
  of the same process (a notebook pays the start-up once); a Ray the sweep started
  is shut down when it ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scsim.errors import OptionError, ScsimError
from scsim.experiment import design
from scsim.experiment.load import Plan, load_experiment
from scsim.experiment.worker import Task, Worker

#: Tasks each worker holds (one running, one waiting).
DEPTH = 2
#: Most workers a sweep may ask for.
MAX_WORKERS = 4096

Progress = Callable[[int, int, int], None]  # (runs done, runs in all, failed)

_pool: dict[str, Any] = {"session": None, "actors": []}


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: the experiment's id, its runs in all, the runs this call ran
    (the others were stored before), how many failed, and the seconds it took."""

    id: str
    runs: int
    ran: int
    failed: int
    seconds: float
    warm_seconds: tuple[float, ...] = ()


def sweep(
    experiment: str | Path | Plan,
    *,
    store: str | Path = "scsim.duckdb",
    resume: bool = False,
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run an experiment file's design on Ray and store every run (see the module
    docstring). Runs already in the store are skipped; ``resume`` insists there are
    some, started by this version of scsim. Read the result with
    ``scsim.open_store(store).experiment(result.id)``."""
    import scsim
    from scsim.store import experiments as tables

    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise OptionError(f"workers: {workers} is out of range (allowed: 1 to {MAX_WORKERS})")
    plan = experiment if isinstance(experiment, Plan) else load_experiment(experiment)
    t0 = time.perf_counter()
    with scsim.open_store(store) as s:
        tables.register(s, plan, resume)
        pending = _pending(plan, tables.done(s, plan.id))
        total, already = plan.runs(), plan.runs() - len(pending)
        ran = failed = 0
        warm: tuple[float, ...] = ()
        if pending:
            started = _start_ray(address)
            try:
                actors, warm = _actors(plan, workers, len(pending))
                for result in _execute(actors, _tasks(plan, pending)):
                    tables.write(s, plan.id, result)
                    ran += 1
                    failed += result["status"] == "failed"
                    if progress is not None:
                        progress(already + ran, total, failed)
            finally:
                if started:
                    _shutdown()
    return SweepResult(plan.id, total, ran, failed, time.perf_counter() - t0, warm)


def _pending(plan: Plan, done: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """The missing (point, replicate) pairs, replicate by replicate."""
    return [
        (p, r)
        for r in range(plan.spec.replicates)
        for p in range(len(plan.points))
        if (p, r) not in done
    ]


def _tasks(plan: Plan, pending: list[tuple[int, int]]) -> Iterator[Task]:
    spec = plan.spec
    metrics = tuple(spec.metrics) if spec.metrics is not None else None
    for p, r in pending:
        yield Task(
            point=p, replicate=r, seed=spec.seed + r, ref=plan.ref,
            overrides=tuple(design.overrides(plan.columns, plan.points[p])),
            population=spec.population, days=spec.days, metrics=metrics,
            keep_daily=spec.keep_daily,
        )  # fmt: skip


def _start_ray(address: str | None) -> bool:
    """Connect to Ray (``address``, else ``RAY_ADDRESS``, else a new local one);
    whether this call started it."""
    import logging

    import ray

    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address, include_dashboard=False, log_to_driver=False,
            logging_level=logging.WARNING, configure_logging=True,
        )  # fmt: skip
    except (ConnectionError, ValueError, RuntimeError) as e:
        where = address or "RAY_ADDRESS"
        raise ScsimError(f"--address {where}: cannot connect to Ray ({e})") from None
    return True


def _shutdown() -> None:
    import ray

    ray.shutdown()
    _pool.update(session=None, actors=[])


def _actors(plan: Plan, workers: int | None, pending: int) -> tuple[list[Any], tuple[float, ...]]:
    """The pool of warm workers: reused from an earlier sweep of this Ray session,
    grown to ``workers`` (default: the cluster's CPUs, at most one per pending run);
    and the seconds each new worker took to warm up."""
    import ray

    context = ray.get_runtime_context()  # a new Ray has new node ids, job ids restart
    session = (context.get_node_id(), context.get_job_id())
    if _pool["session"] != session:
        _pool.update(session=session, actors=[])
    want = workers or max(1, min(int(ray.cluster_resources().get("CPU", 1)), pending))
    pool: list[Any] = _pool["actors"]
    missing = want - len(pool)
    if missing <= 0:
        return pool[:want], ()
    free = ray.available_resources().get("CPU", 0.0)
    # At most one CPU each, and no more than is free (rounded down), possibly none:
    # an actor that asks for more than the cluster has free waits for it forever.
    share = math.floor(min(1.0, free / missing) * 100) / 100
    remote = ray.remote(Worker).options(num_cpus=share)
    new = [remote.remote() for _ in range(missing)]
    warm = []
    if not pool:  # the first one fills numba's cache; the others then load it
        warm.append(ray.get(new[0].warm.remote(plan.ref, plan.spec.population)))
    rest = new[1:] if not pool else new
    warm += ray.get([a.warm.remote(plan.ref, plan.spec.population) for a in rest])
    _pool["actors"] = pool + new
    for w in warm:
        if w["engine"] != plan.engine:
            raise ScsimError(
                f"a Ray worker runs another scsim engine ({w['engine']}; the driver has "
                f"{plan.engine}): install the same scsim on every node"
            )
    return _pool["actors"], tuple(w["seconds"] for w in warm)


def _execute(actors: list[Any], tasks: Iterator[Task]) -> Iterator[dict[str, Any]]:
    """Results as they land, keeping ``DEPTH`` tasks on every worker."""
    import ray

    inflight: dict[Any, tuple[Any, Task]] = {}
    for actor in actors:
        for task in _take(tasks, DEPTH):
            inflight[actor.run.remote(task)] = (actor, task)
    while inflight:
        ready, _ = ray.wait(list(inflight), num_returns=1)
        actor, done = inflight.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayError as e:  # the worker died (out of memory, a node lost)
            raise ScsimError(
                f"a Ray worker was lost running point {done.point}, replicate "
                f"{done.replicate} ({type(e).__name__}); the runs that finished are "
                "stored: run the sweep again to resume"
            ) from None
        for task in _take(tasks, 1):
            inflight[actor.run.remote(task)] = (actor, task)
        yield result


def _take(tasks: Iterator[Task], n: int) -> list[Task]:
    return [t for _, t in zip(range(n), tasks, strict=False)]
