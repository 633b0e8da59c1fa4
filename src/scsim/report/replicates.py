"""What a replicate batch says: means over the replicates, with 95% interval bands.

One run is one draw of the regime's randomness; a batch (``--replicates K``: seeds
S..S+K-1) says how much of a number is chance. Wherever a report is given a batch, its
figures are the means over the replicates, each with its 95% t-interval (a band on a
chart), and the sections on one run after them say they describe the first replicate.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from scsim.analysis.stats import LEVEL, t_interval
from scsim.report.plain import Table, num
from scsim.report.run_charts import DAY, PEOPLE
from scsim.report.spec import Chart, Section, Series

if TYPE_CHECKING:
    from scsim.engine.result import Run

#: Daily metrics drawn with bands, when the runs have them: (metric, title, unit).
BANDED = (
    ("mean_score", "Mean score per day", "mean score (points)"),
    ("blacklisted", "People on the blacklist per day", PEOPLE),
    ("wrongfully_sanctioned", "Wrongfully sanctioned people per day", PEOPLE),
)


def seeds_text(batch: list[Run]) -> str:
    seeds = [r.seed for r in batch]
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"seeds {seeds[0]} to {seeds[-1]}"
    return "seeds " + ", ".join(map(str, seeds))


def daily_band(batch: list[Run], metric: str) -> tuple[list[int], list[float], list, list]:
    """Per day, over the replicates (group "all"): days, mean, and the 95% t-interval
    (NaN where a replicate's value is undefined; the mean itself with one replicate)."""
    rows = [
        r.daily.filter(pl.col("group").cast(pl.String) == "all").sort("day").get_column(metric)
        for r in batch
    ]
    x = np.stack([row.cast(pl.Float64).to_numpy() for row in rows])  # [K, days]
    days = batch[0].daily.get_column("day").unique().sort().to_list()
    mean = x.mean(0)
    k = x.shape[0]
    if k < 2:
        return days, mean.tolist(), mean.tolist(), mean.tolist()
    from scipy.stats import t

    half = t.ppf(0.5 + LEVEL / 2, k - 1) * x.std(0, ddof=1) / math.sqrt(k)
    return days, mean.tolist(), (mean - half).tolist(), (mean + half).tolist()


def band_series(batch: list[Run], metric: str, name: str) -> Series:
    days, mean, lo, hi = daily_band(batch, metric)
    return Series(name, days, mean, lo, hi)


def replicate_section(batch: list[Run], label: str, key: str) -> Section:
    """Means over the batch's replicates, with 95% intervals: a table of the key
    metrics and banded charts of the daily ones."""
    k = len(batch)
    section = Section(
        "replicates", f"{k} replicates ({seeds_text(batch)}): means and 95% intervals"
    )
    section.paragraphs.append(
        f"This run is one of {k} replicates of the same regime, population and days "
        f"({seeds_text(batch)}). Each figure here is the mean over the {k} replicates "
        "with its 95% t-interval (Student's t, "
        f"{k - 1} degrees of freedom), drawn as a band: the interval says how much of a "
        f"number is chance. The sections after this one describe the first replicate, "
        f"seed {batch[0].seed}, alone."
    )
    section.tables.append(summary_table(batch))
    for metric, title, unit in BANDED:
        if all(metric in r.daily.columns for r in batch):
            section.charts.append(_band_chart(batch, metric, title, unit, label, key))
    sanctions = [c for c in batch[0].daily.columns if c.startswith("sanctioned.")]
    if sanctions:
        series = tuple(band_series(batch, m, m.removeprefix("sanctioned.")) for m in sanctions)
        section.charts.append(
            Chart(
                f"{key}-replicates-sanctioned",
                f"People under each sanction per day, mean of {k} replicates — {label}",
                _reading(series, "people under", k),
                "line",
                DAY,
                PEOPLE,
                series,
            )
        )
    return section


def summary_table(batch: list[Run]) -> Table:
    """Every metric of the first replicate: the mean over the replicates and its 95%
    interval (stocks on the last day, flows summed)."""
    rows = []
    for name in batch[0].summary:
        mean, lo, hi = t_interval([r.summary.get(name, math.nan) for r in batch])
        share = name.startswith("grade_share.")
        interval = f"{_fmt(lo, share)} to {_fmt(hi, share)}" if math.isfinite(lo) else "n/a"
        rows.append((name, _fmt(mean, share), interval))
    return Table(
        f"Every metric over {len(batch)} replicates (stocks on the last day, flows summed)",
        ("metric", "mean over the replicates", "95% interval"),
        tuple(rows),
    )


def _fmt(value: float, share: bool) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value * 100:.3g}%" if share else num(round(value, 4))


def _band_chart(batch: list[Run], metric: str, title: str, unit: str, label: str, key: str):
    k = len(batch)
    series = (band_series(batch, metric, "mean of the replicates"),)
    return Chart(
        f"{key}-replicates-{metric.replace('_', '-')}",
        f"{title}, mean of {k} replicates with its 95% interval — {label}",
        _reading(series, "", k),
        "line",
        DAY,
        unit,
        series,
    )


def _reading(series: tuple[Series, ...], what: str, k: int) -> str:
    parts = []
    for s in series:
        end, lo, hi = s.y[-1], s.lo[-1], s.hi[-1]
        name = f"{what} {s.name}".strip() if what else "the mean"
        span = f"{num(round(lo, 2))} to {num(round(hi, 2))}" if math.isfinite(lo) else "n/a"
        parts.append(f"{name}: {num(round(end, 2))} (95% interval {span})")
    return f"On the last day, over {k} replicates, " + "; ".join(parts) + "."
