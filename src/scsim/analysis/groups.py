"""Per-group impact: who carries a regime's sanctions, and who its mistakes.

``daily`` already has a row per group for every metric but ``score_gini`` and
``disparate_impact.*``; this module folds those rows into one row per group for the
run (a stock's last day, a flow's total, as ``run.summary`` does for everyone) and
adds the ratios an audit reads first: sanction rates and each group's share of the
wrongfully sanctioned against its share of the population.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from scsim.metrics.names import OVERALL_ONLY  # metrics on the "all" rows only

if TYPE_CHECKING:
    from scsim.engine.result import Run


def per_group_metrics(run: Run) -> list[str]:
    """The metric columns of ``daily`` that have a value per group."""
    return [
        c for c in run.daily.columns if c not in ("day", "group") and not c.startswith(OVERALL_ONLY)
    ]


def group_names(run: Run) -> list[str]:
    """``"all"`` then the regime's groups, in the order of ``daily``."""
    if "group" not in run.daily.columns:
        return ["all"]
    return run.daily.get_column("group").cast(pl.String).unique(maintain_order=True).to_list()


def by_group(run: Run) -> pl.DataFrame:
    """One row per group (``"all"`` first) with the run's value of every per-group
    metric, the group's size, and the derived impact columns.

    Columns: ``group``, ``population``, ``population_share``, then each per-group
    metric (stocks on the last day, flows summed over the run), then per sanction
    ``sanction_rate.<s>`` (sanctioned / population), then ``wrongful_share`` (the
    group's share of the wrongfully sanctioned; NaN when nobody is) and
    ``wrongful_vs_population`` (``wrongful_share / population_share``: above 1, the
    group carries more than its share of the regime's mistakes).
    """
    metrics = per_group_metrics(run)
    groups = group_names(run)
    daily = run.daily.with_columns(pl.col("group").cast(pl.String))
    last = daily.filter(pl.col("day") == pl.col("day").max())
    stocks = [m for m in metrics if m in run.stocks]
    flows = [m for m in metrics if m not in run.stocks]
    values = (
        last.select("group", *stocks)
        .join(daily.group_by("group").agg(pl.col(flows).sum()), on="group", how="left")
        .select("group", *metrics)
    )
    sizes = _group_sizes(run, groups)
    frame = (
        pl.DataFrame({"group": groups})
        .join(sizes, on="group", how="left")
        .join(values, on="group", how="left", maintain_order="left")
    )
    total = float(run.population)
    sanctions = [m.removeprefix("sanctioned.") for m in metrics if m.startswith("sanctioned.")]
    wrongful_all = frame.filter(pl.col("group") == "all").get_column("wrongfully_sanctioned")
    wrongful_total = float(wrongful_all[0]) if "wrongfully_sanctioned" in metrics else 0.0
    extra = [(pl.col("population") / total).alias("population_share")]
    extra += [
        (pl.col(f"sanctioned.{s}") / pl.col("population")).alias(f"sanction_rate.{s}")
        for s in sanctions
    ]
    frame = frame.with_columns(extra)
    if "wrongfully_sanctioned" in metrics:
        share = (
            pl.col("wrongfully_sanctioned") / wrongful_total
            if wrongful_total > 0
            else pl.lit(float("nan"))
        )
        frame = frame.with_columns(share.alias("wrongful_share")).with_columns(
            (pl.col("wrongful_share") / pl.col("population_share")).alias("wrongful_vs_population")
        )
    head = ["group", "population", "population_share"]
    return frame.select(*head, *[c for c in frame.columns if c not in head])


def _group_sizes(run: Run, groups: list[str]) -> pl.DataFrame:
    """Agents per group from the final state (the population does not change)."""
    if "group" in run.agents.columns:
        counts = run.agents.group_by(pl.col("group").cast(pl.String)).len("population")
    else:
        counts = pl.DataFrame(schema={"group": pl.String, "population": pl.UInt32})
    sizes = (
        pl.DataFrame({"group": groups})
        .join(counts, on="group", how="left")
        .with_columns(pl.col("population").cast(pl.Int64).fill_null(0))
    )
    return sizes.with_columns(
        pl.when(pl.col("group") == "all")
        .then(pl.lit(run.population, dtype=pl.Int64))
        .otherwise(pl.col("population"))
        .alias("population")
    )
