"""What a Ray worker does: run one (point, replicate) and hand back its numbers.

A worker is a long-lived actor: it compiles (or loads from numba's on-disk cache) the
kernels once, and keeps the last populations it built, so points that share the
regime's population keys and the replicate's seed reuse one population. It never
opens the store: results go back to the driver, the store's only writer.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

#: The regime sections ``build_population`` reads: two regimes equal on these (at
#: the same size and seed) have the same population.
POPULATION_KEYS = {"groups", "places", "behaviours", "households", "network"}
#: Populations kept per worker: tasks come replicate by replicate, so one seed at a
#: time; two cover the turn from one replicate to the next.
KEEP_POPULATIONS = 2


@dataclass(frozen=True)
class Task:
    """One run of a sweep."""

    point: int
    replicate: int
    seed: int
    ref: str
    overrides: tuple[str, ...]
    population: int
    days: int
    metrics: tuple[str, ...] | None
    keep_daily: bool


class Worker:
    """Runs tasks one at a time on one numba thread (Ray runs one per actor)."""

    def __init__(self) -> None:
        self._pops: OrderedDict[str, Any] = OrderedDict()
        self.built = 0  # populations built, for the benchmarks

    def warm(self, ref: str, population: int) -> dict[str, Any]:
        """Compile (or load) the kernels with a one-day run; report the time it took
        and this worker's engine fingerprint."""
        import scsim
        from scsim.experiment.load import engine_fingerprint

        t0 = time.perf_counter()
        scsim.simulate(
            scsim.load(ref), population=min(population, 1000), days=1, threads=1,
            keep_events=False, keep_agents=False,
        )  # fmt: skip
        return {
            "pid": os.getpid(),
            "seconds": time.perf_counter() - t0,
            "engine": engine_fingerprint(),
        }

    def run(self, task: Task) -> dict[str, Any]:
        """The run's record: status ``ok`` with its metrics, or ``failed`` with why."""
        from scsim.errors import ScsimError

        t0 = time.perf_counter()
        out: dict[str, Any] = {"point": task.point, "replicate": task.replicate,
                               "seed": task.seed, "worker": os.getpid(), "daily": None}  # fmt: skip
        try:
            run = self._simulate(task)
            metrics = _kept(run.summary, task.metrics)
        except ScsimError as e:
            out.update(status="failed", message=str(e), metrics={}, engine_seconds=None)
        except Exception as e:  # a bug, but one point's bug must not end the sweep
            out.update(status="failed", message=f"internal error: {type(e).__name__}: {e}",
                       metrics={}, engine_seconds=None)  # fmt: skip
        else:
            out.update(status="ok", message=None, engine_seconds=run.seconds, metrics=metrics)
            if task.keep_daily:
                out["daily"] = run.daily
        out["seconds"] = time.perf_counter() - t0
        return out

    def _simulate(self, task: Task) -> Any:
        import scsim
        from scsim.regime import Regime

        regime = scsim.load(task.ref, list(task.overrides))
        population: Any = task.population
        if isinstance(regime, Regime):
            population = self._population(regime, task.population, task.seed)
        return scsim.simulate(
            regime, population=population, days=task.days, seed=task.seed, threads=1,
            keep_events=False, keep_agents=False,
        )  # fmt: skip

    def _population(self, regime: Any, n: int, seed: int) -> Any:
        from scsim.population import build_population

        shape = regime.model_dump(mode="json", include=POPULATION_KEYS)
        key = hashlib.sha256(json.dumps([shape, n, seed], sort_keys=True).encode()).hexdigest()
        if key in self._pops:
            self._pops.move_to_end(key)
            return self._pops[key]
        pop = build_population(regime, n, seed)
        self.built += 1
        self._pops[key] = pop
        while len(self._pops) > KEEP_POPULATIONS:
            self._pops.popitem(last=False)
        return pop

    def stats(self) -> dict[str, int]:
        return {"pid": os.getpid(), "built": self.built}


def _kept(summary: dict[str, float], metrics: tuple[str, ...] | None) -> dict[str, float]:
    """The metrics to keep; a name the run does not record is an error (a world's
    names are known only once it has run, so they are checked here)."""
    from scsim.errors import ScsimError

    keep = metrics if metrics is not None else tuple(summary)
    unknown = [m for m in keep if m not in summary]
    if unknown:
        raise ScsimError(f"metrics: unknown {', '.join(unknown)} (allowed: {', '.join(summary)})")
    return {m: float(summary[m]) for m in keep}
