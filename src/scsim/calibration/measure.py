"""A figure's simulated value from one run's daily frame.

A stock is measured at the end of each day, a flow counted per day
(docs/frames.md): ``at: D`` reads the metric on day D, ``over: [a, b)`` sums it over
those days (for a flow, the events in the window; for a stock, its person-days).
``times`` multiplies by a regime figure read from the run's own regime (so a
purchase rate that is itself free is the particle's value): person-days on the list
times the rate of flight purchases is the expected number of purchases blocked.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from scsim.calibration.schema import Figure


def measure(daily: pl.DataFrame, figure: Figure, regime: Any, population: int) -> float:
    """The figure's simulated value in the units of its reported value."""
    from scsim.calibration.load import lookup

    column = daily.filter(pl.col("group") == "all").sort("day")[figure.metric]
    if figure.at is not None:
        value = float(column[figure.at])
    else:
        a, b = figure.over
        value = float(column[a:b].sum())
    if figure.times is not None:
        value *= float(lookup(regime, figure.times))
    if figure.scale == "per_capita":
        value /= population
    elif figure.scale == "represents":
        value *= regime.represents / population
    return value


def measure_all(
    daily: pl.DataFrame, figures: dict[str, Figure], regime: Any, population: int
) -> dict[str, float]:
    return {name: measure(daily, f, regime, population) for name, f in figures.items()}
