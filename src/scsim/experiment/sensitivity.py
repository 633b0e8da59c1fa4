"""Global sensitivity analysis of a stored sweep: SALib's Sobol indices (first-order,
total, optionally second-order, with bootstrap intervals) or Morris's mu* and sigma.

Why it is done this way:

- Replicates are averaged per point before the indices: an index then measures how
  the expected outcome depends on a parameter. The share of the runs' variance that
  is seed noise (mean within-point variance over total variance) is reported beside
  it, because noise that large inflates every index a little and hides small ones.
- The design carries a dummy parameter that changes nothing: its index is what pure
  estimation noise looks like, so a parameter whose index is not above the dummy's is
  not shown to matter.
- A failed point breaks Saltelli's blocks and Morris's trajectories, so the indices
  are refused while points are failed, naming them; told to drop them, the analysis
  drops each failed point's whole block or trajectory and says how many.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from scsim.errors import ScsimError
from scsim.experiment import design
from scsim.experiment.schema import Experiment

#: Bootstrap resamples for the intervals, and their level.
RESAMPLES = 1000
LEVEL = 0.95


@dataclass
class Indices:
    """One metric's indices: ``table`` has a row per design column (the dummy too).

    Sobol: ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (``conf``: the half-width of the
    95% bootstrap interval); Morris: ``mu_star``, ``mu_star_conf``, ``sigma``, ``mu``.
    """

    metric: str
    method: str
    table: pl.DataFrame
    noise_share: float | None
    floor: float | None
    reading: str
    dropped: int = 0
    s2: pl.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "metric": self.metric,
            "method": self.method,
            "indices": _finite_rows(self.table),
            "noise_share": self.noise_share,
            "noise_floor": self.floor,
            "reading": self.reading,
            "dropped_points": self.dropped,
        }
        if self.s2 is not None:
            out["second_order"] = _finite_rows(self.s2)
        return out


def _finite_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in r.items()}
        for r in frame.iter_rows(named=True)
    ]


def analyse(
    frame: pl.DataFrame,
    spec: Experiment,
    metrics: list[str] | None = None,
    drop_failed: bool = False,
) -> list[Indices]:
    """The indices of each metric (default: every metric of the frame)."""
    kind = spec.design.kind
    if kind not in ("sobol", "morris"):
        raise ScsimError(
            f"design: {kind} has no sensitivity indices (allowed: design kind sobol or morris)"
        )
    runs = len(design.points(spec)) * spec.replicates
    if frame.height < runs:
        raise ScsimError(
            f"the sweep is unfinished ({frame.height} of {runs} runs stored); "
            "run `scsim sweep` on the file to finish it first"
        )
    block = _block(spec)
    keep = _keep(frame, block, drop_failed)
    cols = [c for c in frame.columns if c not in _FIXED and c not in design.names(spec)]
    chosen = metrics or cols
    for m in chosen:
        if m not in cols:
            raise ScsimError(f"metric {m!r} is not in the experiment (allowed: {', '.join(cols)})")
    ok = frame.filter(pl.col("point").is_in(keep))
    dropped = int(frame["point"].n_unique() - len(keep))
    return [_one(ok, spec, m, keep, dropped) for m in chosen]


_FIXED = ("point", "replicate", "seed", "status", "message")


def _block(spec: Experiment) -> int:
    """Rows per Saltelli block (one base sample) or per Morris trajectory."""
    k = len(design.names(spec))
    if spec.design.kind == "morris":
        return k + 1
    return 2 * k + 2 if spec.design.second_order else k + 2


def _keep(frame: pl.DataFrame, block: int, drop: bool) -> list[int]:
    """The points to analyse: all, or without the blocks of failed ones."""
    failed = frame.filter(pl.col("status") == "failed")
    points = sorted(set(frame["point"].to_list()))
    if failed.height == 0:
        return points
    if not drop:
        first = failed.row(0, named=True)
        names = ", ".join(str(p) for p in sorted(set(failed["point"].to_list()))[:10])
        raise ScsimError(
            f"{failed.height} runs failed (points {names}{', ...' if failed.height > 10 else ''};"
            f" point {first['point']}: {first['message']}): the indices need every point "
            "(allowed: --drop-failed, which drops each failed point's block or trajectory)"
        )
    bad = {p // block for p in failed["point"].to_list()}
    return [p for p in points if p // block not in bad]


def _one(frame: pl.DataFrame, spec: Experiment, metric: str, keep: list[int], dropped: int):
    from SALib.analyze import morris, sobol

    means = frame.group_by("point").agg(pl.col(metric).mean()).sort("point")
    y = means[metric].fill_null(float("nan")).to_numpy()
    noise = _noise_share(frame, metric, frame["replicate"].n_unique())
    names = design.names(spec)
    problem = design.problem(spec)
    seed = spec.seed % 2**32
    if not np.isfinite(y).all() or np.ptp(y) == 0:
        table = pl.DataFrame({"parameter": names})
        why = "is undefined at some points" if not np.isfinite(y).all() else "never varies"
        return Indices(metric, spec.design.kind, table, noise, None,
                       f"{metric} {why} in this design: no indices.", dropped)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if spec.design.kind == "sobol":
            res = sobol.analyze(problem, y, calc_second_order=spec.design.second_order,
                                num_resamples=RESAMPLES, conf_level=LEVEL, seed=seed)  # fmt: skip
            table = pl.DataFrame({"parameter": names, **{k: res[k] for k in
                                 ("S1", "S1_conf", "ST", "ST_conf")}})  # fmt: skip
            s2 = _s2(res, names) if spec.design.second_order else None
        else:
            x = design.unit_design(spec)[keep]
            res = morris.analyze(problem, x, y, num_resamples=RESAMPLES, conf_level=LEVEL,
                                 num_levels=spec.design.levels, seed=seed)  # fmt: skip
            table = pl.DataFrame({"parameter": names, **{k: np.asarray(res[k], dtype=float)
                                 for k in ("mu_star", "mu_star_conf", "sigma", "mu")}})  # fmt: skip
            s2 = None
    floor = _floor(table, spec)
    reading = _reading(metric, table, spec, floor, noise)
    return Indices(metric, spec.design.kind, table, noise, floor, reading, dropped, s2)


def _s2(res: dict[str, Any], names: list[str]) -> pl.DataFrame:
    rows = [
        (a, b, float(res["S2"][i, j]), float(res["S2_conf"][i, j]))
        for i, a in enumerate(names)
        for j, b in enumerate(names)
        if j > i
    ]
    return pl.DataFrame(rows, schema=["a", "b", "S2", "S2_conf"], orient="row")


def _noise_share(frame: pl.DataFrame, metric: str, replicates: int) -> float | None:
    """Mean variance across seeds at a point, over the variance of all runs."""
    if replicates < 2:
        return None
    within = frame.group_by("point").agg(pl.col(metric).var())[metric].mean()
    total = frame[metric].var()
    if not total or within is None:
        return None
    return float(min(1.0, within / total))


def _key(spec: Experiment) -> str:
    return "ST" if spec.design.kind == "sobol" else "mu_star"


def _floor(table: pl.DataFrame, spec: Experiment) -> float | None:
    """The dummy's index plus its interval's half-width: what noise alone reaches."""
    if not design.has_dummy(spec):
        return None
    key = _key(spec)
    row = table.filter(pl.col("parameter") == design.DUMMY).row(0, named=True)
    return float(row[key] + row[f"{key}_conf"])


def _reading(metric: str, table: pl.DataFrame, spec: Experiment, floor, noise) -> str:
    """Plain words: which parameters the metric depends on, in order, and which the
    design cannot tell from the dummy."""
    key = _key(spec)
    label = "total index" if key == "ST" else "mu*"
    floor = 0.0 if floor is None else floor
    rows = table.filter(pl.col("parameter") != design.DUMMY).sort(key, descending=True)
    ranked = list(rows.iter_rows(named=True))
    clear = [r for r in ranked if r[key] - r[f"{key}_conf"] > floor]
    unclear = [r["parameter"] for r in ranked if r not in clear and r[key] > floor]
    none = [r["parameter"] for r in ranked if r[key] <= floor]

    def show(r: dict[str, Any]) -> str:
        lo, hi = r[key] - r[f"{key}_conf"], r[key] + r[f"{key}_conf"]
        return f"{r['parameter']} ({label} {r[key]:.3g}, 95% interval {lo:.3g} to {hi:.3g})"

    if not ranked or ranked[0][key] <= floor:
        text = f"No parameter moves {metric} in this design."
    elif ranked[0] in clear:
        text = f"{metric} depends mostly on {show(ranked[0])}"
        text += (", then " + ", ".join(show(r) for r in clear[1:4]) if len(clear) > 1 else "") + "."
    else:
        text = (f"{metric}'s largest estimate is {show(ranked[0])}, but its interval reaches "
                "the noise floor: the design is too small to rank the parameters.")  # fmt: skip
        if clear:
            text += " Clearly above the floor: " + ", ".join(show(r) for r in clear[:4]) + "."
    if unclear:
        text += f" Not distinguishable from the dummy ({label} {floor:.3g}): {', '.join(unclear)}."
    if none:
        text += f" No effect at all here: {', '.join(none)}."
    if noise is not None:
        text += f" Seed noise is {noise:.0%} of the runs' variance."
    return text
