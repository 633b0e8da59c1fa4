"""The calibration driver: waves of simulations on the sweeps' Ray workers, the
emulators and the posterior (:mod:`scsim.calibration.method`), then the posterior
predictive runs.

Each run has its own seed (a hash of the calibration's seed, the wave, the point and
the replicate): replicates are independent, and no two points share a noise draw, so
the posterior is not conditioned on one realisation of the simulator's noise. Every
wave's points are stored before it runs and every run as it lands (the store's
``calibration_*`` tables), so a killed calibration, run again, runs only what is
missing and ends with the same posterior.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scsim.calibration import method, tables
from scsim.calibration.load import Calibration, load_targets
from scsim.calibration.measure import measure_all
from scsim.errors import OptionError, ScsimError
from scsim.experiment import design
from scsim.experiment.runner import MAX_WORKERS, _actors, _execute, _shutdown, _start_ray
from scsim.experiment.worker import Task

#: Particles resampled from the weighted prior draws (pair plot, intervals).
PARTICLES = 4000

Progress = Callable[[str, int, int], None]  # (stage, runs done, runs in the stage)


@dataclass
class Predicted:
    """A figure's reported value and uncertainty, and its posterior predictive
    median and 90% interval over the predictive runs."""

    name: str
    fitted: bool
    value: float
    sigma: float
    median: float
    low: float
    high: float
    run_sd: float  # one run's sampling sd at the design points (nan for validation)

    @property
    def verdict(self) -> str:
        """Within the 90% predictive interval, or off by how much (relative to the
        interval's nearer end)."""
        if self.low <= self.value <= self.high:
            return "within"
        end = self.low if self.value < self.low else self.high
        return f"off by {(self.value - end) / abs(self.value):+.0%} of the reported value"


@dataclass
class CalibrationResult:
    """What a calibration found (see :func:`calibrate`)."""

    id: str
    calibration: Calibration = field(repr=False)
    posterior: method.Posterior = field(repr=False)
    quantiles: np.ndarray  # 5%, 50%, 95% (rows) per parameter (columns)
    predicted: list[Predicted]
    shares: list[float]  # the prior share not ruled out before each wave
    runs: int
    ran: int
    seconds: float

    @property
    def keys(self) -> list[str]:
        return self.calibration.keys

    @property
    def best(self) -> dict[str, float]:
        """The highest-posterior particle: the values a calibrated regime gets."""
        return dict(zip(self.keys, (float(v) for v in self.posterior.best), strict=True))


def calibrate(
    targets: str | Path | Calibration,
    *,
    store: str | Path = "scsim.duckdb",
    output: str | Path | None = None,
    report: str | Path | None = None,
    resume: bool = False,
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | None = None,
) -> CalibrationResult:
    """Calibrate a regime to a targets file (docs/calibration.md): history matching
    with emulators, ABC on the emulators, posterior predictive runs. ``output``
    writes the calibrated regime file; ``report`` a folder with the tables and the
    pair plot. Stored runs are reused; ``resume`` insists there are some."""
    import scsim

    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise OptionError(f"workers: {workers} is out of range (allowed: 1 to {MAX_WORKERS})")
    cal = targets if isinstance(targets, Calibration) else load_targets(targets)
    if output is not None:
        _check_output(Path(output))
    t0 = time.perf_counter()
    with scsim.open_store(store) as s:
        tables.register(s, cal, resume)
        pool = _Pool(cal, s, workers, address, progress)
        try:
            result = _calibrate(cal, s, pool)
        finally:
            pool.close()
    result.seconds = time.perf_counter() - t0
    if output is not None or report is not None:
        from scsim.calibration.output import write_outputs

        write_outputs(result, output, report)
    return result


def _check_output(path: Path) -> None:
    from importlib import resources

    builtin = Path(str(resources.files("scsim.regime").joinpath("builtin")))
    if path.resolve().parent == builtin.resolve():
        raise OptionError(f"-o {path}: a built-in regime (allowed: a new file elsewhere)")
    if path.is_dir():
        raise OptionError(f"-o {path}: a directory (allowed: a YAML file to write)")


def _calibrate(cal: Calibration, s: Any, pool: _Pool) -> CalibrationResult:
    spec, m = cal.spec, cal.spec.method
    priors = list(spec.parameters.values())
    names = list(spec.targets)
    observed = np.array([f.value for f in spec.targets.values()])
    sigma = np.array([f.sigma for f in spec.targets.values()])
    units: list[np.ndarray] = []
    rows: list[list[float]] = []
    point: list[int] = []
    em: method.Emulators | None = None
    shares = []
    for w in range(m.waves):
        stored = tables.wave(s, cal, w)
        if stored is None:
            rng = np.random.default_rng([spec.seed, w])
            pts, share = method.next_points(
                em, len(priors), m.points, observed, sigma, m.cutoff, m.candidates, rng
            )
            if len(pts) == 0:  # everything ruled out: the last emulators stand
                shares.append(0.0)
                break
            tables.add_wave(s, cal, w, pts.tolist(), share)
        else:
            pts, share = np.array(stored[0]), stored[1]
        shares.append(share)
        done = pool.run(w, pts, spec.replicates)
        base = len(units)
        for (p, _r), figs in sorted(done.items()):
            if figs is not None:
                rows.append([figs[n] for n in names])
                point.append(base + p)
        units.extend(pts)
        if not rows:
            raise ScsimError(f"{cal.where}: every run of wave {w + 1} failed (see the store's "
                             "calibration_runs table for why)")  # fmt: skip
        em = method.fit(np.array(units), np.array(rows), np.array(point), spec.seed)
    rng = np.random.default_rng([spec.seed, 9_999])
    post = method.posterior(em, priors, observed, sigma, m.cutoff, m.candidates, PARTICLES, rng)
    predictive = _predictive(cal, s, pool, post, m.waves)
    run_sd = dict(zip(names, np.sqrt(em.noise), strict=True))
    predicted = [
        _predicted(name, f, name in spec.targets, [r[name] for r in predictive], run_sd)
        for name, f in cal.figures.items()
    ]
    return CalibrationResult(
        cal.id, cal, post, post.quantiles(), predicted, shares, pool.total, pool.ran, 0.0
    )


def _predictive(cal: Calibration, s: Any, pool: _Pool, post: method.Posterior, w: int) -> list:
    """One run (own seed) at each of ``predictive`` posterior particles, drawn once and
    stored as the wave after the last."""
    stored = tables.wave(s, cal, w)
    if stored is None:
        rng = np.random.default_rng([cal.spec.seed, 10_000])
        pick = rng.choice(len(post.weights), size=cal.spec.method.predictive, p=post.weights)
        pts = post.unit[pick]
        tables.add_wave(s, cal, w, pts.tolist(), 1.0)
    else:
        pts = np.array(stored[0])
    return [f for f in pool.run(w, pts, 1).values() if f is not None]


def _predicted(name: str, f: Any, fitted: bool, values: list[float], run_sd: dict) -> Predicted:
    lo, med, hi = np.quantile(values, [0.05, 0.5, 0.95]) if values else (np.nan,) * 3
    return Predicted(name, fitted, f.value, f.sigma, float(med), float(lo), float(hi),
                     float(run_sd.get(name, np.nan)))  # fmt: skip


def seed_of(seed: int, wave: int, point: int, replicate: int) -> int:
    """A run's own seed: independent across waves, points and replicates."""
    return int(np.random.SeedSequence([seed, wave, point, replicate]).generate_state(1)[0])


class _Pool:
    """The sweeps' Ray workers, started on the first run that is not stored."""

    def __init__(self, cal: Calibration, s: Any, workers: int | None, address: str | None,
                 progress: Progress | None) -> None:  # fmt: skip
        self.cal, self.s, self.workers, self.address = cal, s, workers, address
        self.progress = progress
        self.actors: list[Any] | None = None
        self.started = False
        self.total = self.ran = 0

    def run(self, w: int, unit: np.ndarray, replicates: int) -> dict[tuple[int, int], Any]:
        """Each (point, replicate)'s figures (None if the run failed), stored or run."""
        cal = self.cal
        done = tables.runs(self.s, cal, w)
        values = method.to_values(list(cal.spec.parameters.values()), unit)
        sets = [design.overrides(cal.keys, tuple(float(v) for v in row)) for row in values]
        missing = [
            (p, r) for r in range(replicates) for p in range(len(unit)) if (p, r) not in done
        ]
        self.total += len(unit) * replicates
        if missing:
            tasks = (
                Task(point=p, replicate=r, seed=seed_of(cal.spec.seed, w, p, r), ref=cal.ref,
                     overrides=tuple(sets[p]), population=cal.spec.population,
                     days=cal.spec.days, metrics=(), keep_daily=True)
                for p, r in missing
            )  # fmt: skip
            stage = f"wave {w + 1}" if w < cal.spec.method.waves else "predictive"
            for result in _execute(self._actors(len(missing)), tasks):
                self._measure(result, sets[result["point"]])
                tables.write(self.s, cal, w, result)
                done[(result["point"], result["replicate"])] = result.get("figures")
                self.ran += 1
                if self.progress is not None:
                    self.progress(stage, len(done), len(unit) * replicates)
        return done

    def _measure(self, result: dict[str, Any], sets: list[str]) -> None:
        import scsim

        daily = result.pop("daily", None)
        if result["status"] == "ok":
            regime = scsim.load(self.cal.ref, sets)
            result["figures"] = measure_all(
                daily, self.cal.figures, regime, self.cal.spec.population
            )
        else:
            result["figures"] = None

    def _actors(self, pending: int) -> list[Any]:
        if self.actors is None:
            self.started = _start_ray(self.address)
            self.actors, _ = _actors(self.cal, self.workers, pending)  # type: ignore[arg-type]
        return self.actors

    def close(self) -> None:
        if self.started:
            _shutdown()
