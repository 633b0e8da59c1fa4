"""The experiment file format: a regime (or world), the parameters to vary, a design,
replicates and the metrics to keep.

Checks that need only the file are here; checks that need the regime (a parameter's
key exists and its values are allowed there, a metric is one the regime records) are
in :mod:`scsim.experiment.load`, which reads it.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from scsim.regime.loader import _NOTHING
from scsim.regime.schema import MAX_POPULATION, RegimeFieldError, _Model

#: Largest number of (point, replicate) runs one experiment may ask for.
MAX_RUNS = 10_000_000
#: Smallest Sobol base sample: fewer rows leave the bootstrap intervals meaningless.
MIN_SOBOL = 16
Value = bool | int | float | str | None
Level = Annotated[list[Value], Field(min_length=1)]


class Parameter(_Model):
    """One regime key to vary: discrete ``levels``, or a continuous distribution
    (uniform over ``range`` by default, ``log``-uniform, ``normal`` or ``triangular``)."""

    levels: Level | None = Field(None, description="The values to try, in order.")
    range: Annotated[list[float], Field(min_length=2, max_length=2)] | None = Field(
        None, description="[low, high]: the bounds of a continuous parameter."
    )
    distribution: Literal["uniform", "log", "normal", "triangular"] = Field(
        "uniform",
        description="How values spread over the range: uniform, log (log-uniform), "
        "normal (mean, sd, cut at the range) or triangular (mode).",
    )
    mean: float | None = Field(None, description="normal: the mean.")
    sd: Annotated[float, Field(gt=0)] | None = Field(None, description="normal: the sd.")
    mode: float | None = Field(None, description="triangular: the most likely value.")
    integer: bool = Field(False, description="Round drawn values to whole numbers.")
    steps: Annotated[int, Field(ge=2, le=10_000)] | None = Field(
        None, description="grid design: evenly spaced values over the range, ends included."
    )

    @model_validator(mode="after")
    def _shape(self) -> Parameter:
        if (self.levels is None) == (self.range is None):
            raise RegimeFieldError(
                (),
                "give exactly one of levels or range",
                _NOTHING,
                "levels: [a, b, ...] or range: [low, high]",
            )
        if self.range is not None:
            lo, hi = self.range
            if not lo < hi:
                raise RegimeFieldError(
                    ("range",), "low must be below high", self.range, "[low, high] with low < high"
                )
            if self.distribution == "log" and lo <= 0:
                raise RegimeFieldError(
                    ("range",), "a log range must be positive", self.range, "low > 0"
                )
            self._needs("normal", ("mean", "sd"))
            self._needs("triangular", ("mode",))
            if self.mode is not None and not lo <= self.mode <= hi:
                raise RegimeFieldError(("mode",), "out of the range", self.mode, f"{lo} to {hi}")
        return self

    def _needs(self, kind: str, keys: tuple[str, ...]) -> None:
        for key in keys:
            if self.distribution == kind and getattr(self, key) is None:
                raise RegimeFieldError(
                    (key,), f"a {kind} distribution needs {key}", _NOTHING, "a number"
                )


class Design(_Model):
    """How points are chosen: ``grid`` (every combination of levels), ``lhs`` (Latin
    hypercube), ``sobol`` (Saltelli's scheme for Sobol indices) or ``morris``
    (elementary-effect trajectories)."""

    kind: Literal["grid", "lhs", "sobol", "morris"] = Field("grid", description="The design.")
    samples: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        None,
        description="lhs: points; sobol: base samples N (a power of two, >= 16; the "
        "design has N(D+2) points, N(2D+2) with second_order); morris: trajectories "
        "(>= 2; the design has r(D+1) points).",
    )
    levels: Annotated[int, Field(ge=2, le=100)] = Field(4, description="morris: grid levels.")
    second_order: bool = Field(False, description="sobol: also second-order indices.")
    dummy: bool = Field(
        True,
        description="sobol, morris: add a parameter that changes nothing, whose index "
        "is the noise floor.",
    )
    seed: Annotated[int, Field(ge=0, lt=2**32)] | None = Field(
        None,
        description="The design's own seed (lhs, sobol scrambling, morris); "
        "default: the experiment's seed.",
    )

    @model_validator(mode="after")
    def _size(self) -> Design:
        n = self.samples
        if self.kind == "grid" and n is not None:
            raise RegimeFieldError(
                ("samples",),
                "a grid has no sample size",
                n,
                "leave it out: a grid tries every combination",
            )
        if self.kind != "grid" and n is None:
            raise RegimeFieldError(
                ("samples",), f"a {self.kind} design needs a size", _NOTHING, "an integer"
            )
        if self.kind == "sobol" and (n < MIN_SOBOL or n & (n - 1)):
            raise RegimeFieldError(
                ("samples",),
                "too small or not a power of two for Sobol indices",
                n,
                f"a power of two >= {MIN_SOBOL}",
            )
        if self.kind == "morris" and n < 2:
            raise RegimeFieldError(("samples",), "too few trajectories for Morris sigma", n, ">= 2")
        if self.kind == "lhs" and n < 2:
            raise RegimeFieldError(("samples",), "too few points", n, ">= 2")
        return self


class Experiment(_Model):
    """An experiment file."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None = Field(
        None, description="A short name (default: the file's stem)."
    )
    description: str = Field("", description="What the experiment asks.")
    regime: str = Field(
        description="A built-in regime or world, or a path (relative to this file)."
    )
    parameters: Annotated[dict[str, Parameter], Field(min_length=1)] = Field(
        description="Dotted regime keys (as `scsim run --set`) and how each varies."
    )
    design: Design = Field(default_factory=Design, description="How points are chosen.")
    replicates: Annotated[int, Field(ge=1, le=1000)] = Field(
        1, description="Runs per point; replicate r uses seed + r at every point."
    )
    seed: Annotated[int, Field(ge=0, lt=2**62)] = Field(0, description="The first seed.")
    population: Annotated[int, Field(ge=1, le=MAX_POPULATION)] = Field(
        10_000, description="Synthetic citizens per run."
    )
    days: Annotated[int, Field(ge=1, le=36_500)] = Field(365, description="Days per run.")
    metrics: list[str] | None = Field(
        None, description="Summary metrics to keep (default: all of them)."
    )
    keep_daily: bool = Field(False, description="Also keep each run's daily frame.")

    @model_validator(mode="after")
    def _checks(self) -> Experiment:
        for key, p in self.parameters.items():
            if self.design.kind == "grid" and p.levels is None and p.steps is None:
                raise RegimeFieldError(
                    ("parameters", key),
                    "a grid needs levels or steps",
                    _NOTHING,
                    "levels: [...] or range with steps",
                )
        runs = design_size(self) * self.replicates
        if runs > MAX_RUNS:
            raise RegimeFieldError(("design",), "too many runs", runs, f"<= {MAX_RUNS:,}")
        return self


def design_size(exp: Experiment) -> int:
    """Points the design has (before replicates)."""
    d = exp.design
    k = len(exp.parameters) + (d.dummy and d.kind in ("sobol", "morris"))
    if d.kind == "grid":
        sizes = [
            len(p.levels) if p.levels is not None else p.steps for p in exp.parameters.values()
        ]
        return math.prod(sizes)
    if d.kind == "lhs":
        return d.samples
    if d.kind == "sobol":
        return d.samples * (2 * k + 2 if d.second_order else k + 2)
    return d.samples * (k + 1)
