"""Invariants of the engine over regimes drawn by hypothesis (scsim.testing.strategies)."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scsim.engine.run import simulate
from scsim.testing.strategies import regime_objects

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(regime=regime_objects(), seed=st.integers(0, 2**32))
def test_any_valid_regime_runs_within_its_bounds(regime, seed):
    run = simulate(regime, population=300, days=12, seed=seed)
    score = run.agents["score"]
    if regime.score.floor is not None:
        assert score.min() >= regime.score.floor - 1 / 256
    if regime.score.ceiling is not None:
        assert score.max() <= regime.score.ceiling + 1 / 256
    shares = run.daily.select(pl.sum_horizontal(pl.col("^grade_share\\..*$"))).to_numpy()
    assert np.allclose(shares, 1.0)
    overall = run.daily.filter(pl.col("group") == "all")
    per_group = (
        run.daily.filter(pl.col("group") != "all")
        .group_by("day")
        .agg(pl.col("^events_.*$").sum(), pl.col("blacklisted").sum())
        .sort("day")
    )
    assert_frame_equal(
        overall.select("^events_.*$", "blacklisted"),
        per_group.select("^events_.*$", "blacklisted"),
        check_dtypes=False,
    )
    # Recorded events that someone did are a subset of the true ones; the rest are
    # false accusations (nobody did them).
    done = run.events.filter(pl.col("doer") >= 0)["behaviour"].cast(str).value_counts()
    for b, count in done.iter_rows():
        assert count <= run.summary[f"events_true.{b}"]
    assert run.events.height == sum(run.summary[f"events_recorded.{b}"] for b in regime.behaviours)
    assert run.summary["false_attributions"] <= sum(
        run.summary[f"events_recorded.{b}"] for b in regime.behaviours
    )
    assert 0 <= run.summary["wrongfully_sanctioned"] <= 300
    assert run.summary["blacklisted"] == run.agents["listed"].sum()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regime=regime_objects(), chunk=st.integers(1, 400))
def test_any_valid_regime_is_deterministic_across_chunk_sizes(regime, chunk):
    a = simulate(regime, population=250, days=8, seed=1, chunk_size=chunk, threads=1)
    b = simulate(regime, population=250, days=8, seed=1, chunk_size=97, threads=2)
    assert_frame_equal(a.daily, b.daily)
    assert_frame_equal(a.agents, b.agents)
