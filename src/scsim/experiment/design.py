"""Design points: where in parameter space each run goes.

Every design is first a matrix of unit coordinates (one column per parameter, values
in [0, 1]) from scipy.stats.qmc (Latin hypercube) or SALib (Saltelli's scheme for
Sobol indices, Morris trajectories); each column is then mapped through its
parameter's distribution (levels are picked by which of ``k`` equal slices the
coordinate falls in). The same seed gives the same design, so a design is never
stored as the only copy of itself: it can be rebuilt from the file.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np

from scsim.experiment.schema import Experiment, Parameter

#: The column name of the parameter that changes nothing (the noise floor).
DUMMY = "dummy"


def names(exp: Experiment) -> list[str]:
    """The design's columns: the parameters, then the dummy where the design has one."""
    return [*exp.parameters, *([DUMMY] if has_dummy(exp) else [])]


def has_dummy(exp: Experiment) -> bool:
    return exp.design.dummy and exp.design.kind in ("sobol", "morris")


def problem(exp: Experiment) -> dict[str, Any]:
    """SALib's problem over unit coordinates (the values are mapped afterwards)."""
    cols = names(exp)
    return {"num_vars": len(cols), "names": cols, "bounds": [[0.0, 1.0]] * len(cols)}


def unit_design(exp: Experiment) -> np.ndarray:
    """The design in unit coordinates, one row per point (not used by grids)."""
    d = exp.design
    seed = exp.seed % 2**32 if d.seed is None else d.seed
    if d.kind == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=len(names(exp)), seed=seed).random(d.samples)
    if d.kind == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem(exp), d.samples, calc_second_order=d.second_order, seed=seed)
    if d.kind == "morris":
        from SALib.sample import morris

        return morris.sample(problem(exp), d.samples, num_levels=d.levels, seed=seed)
    raise ValueError(f"no unit design for {d.kind}")


def points(exp: Experiment) -> list[tuple[Any, ...]]:
    """Each point's values, in the order of :func:`names`."""
    params = list(exp.parameters.values())
    if exp.design.kind == "grid":
        return list(itertools.product(*(grid_values(p) for p in params)))
    unit = unit_design(exp)
    columns = [values(p, unit[:, j]) for j, p in enumerate(params)]
    if has_dummy(exp):
        columns.append([float(u) for u in unit[:, -1]])
    return list(zip(*columns, strict=True))


def grid_values(p: Parameter) -> list[Any]:
    """A grid's values of one parameter: its levels, or ``steps`` over its range."""
    if p.levels is not None:
        return list(p.levels)
    lo, hi = p.range
    spaced = (
        np.geomspace(lo, hi, p.steps) if p.distribution == "log" else np.linspace(lo, hi, p.steps)
    )
    return _finish(p, spaced)


def values(p: Parameter, u: np.ndarray) -> list[Any]:
    """Unit coordinates mapped to a parameter's values."""
    if p.levels is not None:
        k = len(p.levels)
        return [p.levels[i] for i in np.minimum((u * k).astype(np.int64), k - 1)]
    lo, hi = p.range
    if p.distribution == "log":
        x = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
    elif p.distribution == "normal":
        from scipy.stats import truncnorm

        a, b = (lo - p.mean) / p.sd, (hi - p.mean) / p.sd
        x = truncnorm.ppf(u, a, b, loc=p.mean, scale=p.sd)
    elif p.distribution == "triangular":
        from scipy.stats import triang

        x = triang.ppf(u, (p.mode - lo) / (hi - lo), loc=lo, scale=hi - lo)
    else:
        x = lo + u * (hi - lo)
    return _finish(p, np.clip(x, lo, hi))


def _finish(p: Parameter, x: np.ndarray) -> list[Any]:
    if p.integer:
        return [int(v) for v in np.rint(x)]
    return [float(v) for v in x]


def overrides(keys: list[str], point: tuple[Any, ...]) -> list[str]:
    """A point as ``--set`` strings (JSON is YAML flow, so any value round-trips)."""
    return [f"{k}={json.dumps(v)}" for k, v in zip(keys, point, strict=False) if k != DUMMY]


def finite(value: float) -> float | None:
    """JSON has no NaN: an undefined metric is null."""
    return value if math.isfinite(value) else None
