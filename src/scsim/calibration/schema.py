"""The targets file: a regime, the free parameters with their priors, the reported
figures to fit (``targets``) and the reported figures to predict (``validate``).

Checks that need only the file are here; checks that need the regime (a parameter's
key exists and its bounds are allowed, a metric is recorded, a day is within the run)
are in :mod:`scsim.calibration.load`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from scsim.experiment.schema import Parameter
from scsim.regime.loader import _NOTHING
from scsim.regime.schema import MAX_POPULATION, RegimeFieldError, _Aliased, _Model


class Figure(_Model):
    """A reported figure and the simulated expression it is compared with: a metric's
    value on day ``at`` (a stock) or summed over days ``over: [a, b)`` (a flow, or a
    stock's person-days), optionally times a regime figure, per capita or scaled to the
    population the regime ``represents``."""

    metric: str = Field(description="A metric the regime records (see docs/frames.md).")
    at: Annotated[int, Field(ge=0)] | None = Field(None, description="The day (a stock).")
    over: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)] | None = (
        Field(None, description="[first day, last day + 1): the metric summed over them.")
    )
    times: str | None = Field(
        None, description="A regime key (as --set) whose value multiplies the sum."
    )
    scale: Literal["count", "per_capita", "represents"] = Field(
        "count",
        description="count: agents; per_capita: over the population; represents: "
        "per capita times the regime's `represents` (real people).",
    )
    value: float = Field(description="The reported figure, in the expression's units.")
    sd: Annotated[float, Field(gt=0)] | None = Field(
        None, description="The reported figure's uncertainty, one standard deviation."
    )
    tolerance: Annotated[float, Field(gt=0, le=10)] | None = Field(
        None, description="Or: the uncertainty relative to the value (0.1: sd 10%)."
    )
    source: str = Field(min_length=1, description="Where the figure comes from.")

    @model_validator(mode="after")
    def _shape(self) -> Figure:
        if (self.at is None) == (self.over is None):
            raise RegimeFieldError(
                (), "give exactly one of at or over", _NOTHING, "at: DAY or over: [a, b]"
            )
        if self.over is not None and not self.over[0] < self.over[1]:
            raise RegimeFieldError(
                ("over",), "the first day must be before the end", self.over, "[a, b] with a < b"
            )
        if (self.sd is None) == (self.tolerance is None):
            raise RegimeFieldError(
                (), "give exactly one of sd or tolerance", _NOTHING, "sd: X or tolerance: 0.1"
            )
        if self.tolerance is not None and self.value == 0:
            raise RegimeFieldError(
                ("tolerance",), "a relative tolerance of a zero value", self.tolerance, "sd"
            )
        return self

    @property
    def sigma(self) -> float:
        """The reported figure's standard deviation."""
        return self.sd if self.sd is not None else self.tolerance * abs(self.value)

    @property
    def last_day(self) -> int:
        return self.at if self.at is not None else self.over[1] - 1


class Prior(Parameter):
    """A free parameter's prior: a ``range`` with a distribution (uniform, log,
    normal, triangular), as an experiment's parameter; levels are not priors."""

    @model_validator(mode="after")
    def _continuous(self) -> Prior:
        if self.range is None or self.integer or self.steps is not None:
            raise RegimeFieldError(
                (),
                "a prior is a continuous range",
                _NOTHING,
                "range: [low, high] and a distribution",
            )
        return self


class Method(_Model):
    """History matching with Gaussian-process emulators, then ABC on the emulators."""

    points: Annotated[int, Field(ge=4, le=10_000)] = Field(
        40, description="Simulated design points per wave."
    )
    waves: Annotated[int, Field(ge=1, le=20)] = Field(
        3, description="History-matching waves (each refits and narrows)."
    )
    cutoff: Annotated[float, Field(gt=0, le=10)] = Field(
        3.0, description="Implausibility above which a parameter point is ruled out."
    )
    candidates: Annotated[int, Field(ge=1000, le=2_000_000)] = Field(
        50_000, description="Prior draws the emulators score per wave."
    )
    predictive: Annotated[int, Field(ge=2, le=10_000)] = Field(
        20, description="Posterior draws simulated for the predictive intervals."
    )


class Targets(_Aliased):
    """A targets file."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None = Field(
        None, description="A short name (default: the file's stem)."
    )
    description: str = Field("", description="What is calibrated, and why.")
    regime: str = Field(description="A built-in regime, or a path (relative to this file).")
    population: Annotated[int, Field(ge=1, le=MAX_POPULATION)] = Field(
        10_000, description="Synthetic citizens per run."
    )
    days: Annotated[int, Field(ge=1, le=36_500)] = Field(365, description="Days per run.")
    replicates: Annotated[int, Field(ge=1, le=1000)] = Field(
        2, description="Independent runs (own seeds) per design point."
    )
    seed: Annotated[int, Field(ge=0, lt=2**40)] = Field(0, description="The first seed.")
    parameters: Annotated[dict[str, Prior], Field(min_length=1, max_length=20)] = Field(
        description="Free parameters: dotted regime keys (as --set) and their priors."
    )
    targets: Annotated[dict[str, Figure], Field(min_length=1)] = Field(
        description="Reported figures the calibration fits."
    )
    validate_: dict[str, Figure] = Field(
        default_factory=dict,
        alias="validate",
        description="Reported figures it never sees: predicted, then compared.",
    )
    method: Method = Field(default_factory=Method, description="How the posterior is found.")

    @model_validator(mode="after")
    def _checks(self) -> Targets:
        for section, figures in (("targets", self.targets), ("validate", self.validate_)):
            for key, f in figures.items():
                if f.last_day >= self.days:
                    raise RegimeFieldError(
                        (section, key, "at" if f.at is not None else "over"),
                        "beyond the run's days",
                        f.at if f.at is not None else f.over,
                        f"days < {self.days} (the file's `days`)",
                    )
                if f.over is not None and f.over[1] > self.days:
                    raise RegimeFieldError(
                        (section, key, "over"), "beyond the run's days", f.over,
                        f"an end <= {self.days}",
                    )  # fmt: skip
        both = set(self.targets) & set(self.validate_)
        if both:
            name = sorted(both)[0]
            raise RegimeFieldError(
                ("validate", name), "a figure cannot be both fitted and validated", name,
                "a name used in one of targets, validate",
            )  # fmt: skip
        return self
