"""run.by_group: every per-group metric for the run, and who carries the sanctions."""

from __future__ import annotations

import math

import polars as pl
import pytest

import scsim
from conftest import simulate_city
from scsim.analysis.sanctions import any_sanction, sanction_flags
from scsim.engine.result import Run


def test_rows_are_all_then_each_group(city_run: Run) -> None:
    table = city_run.by_group
    assert table["group"].to_list() == ["all", "majority", "minority"]
    assert table.columns[:3] == ["group", "population", "population_share"]
    pop = table["population"].to_list()
    assert pop[0] == city_run.population == pop[1] + pop[2]
    assert table["population_share"].to_list()[1:] == pytest.approx(
        [p / city_run.population for p in pop[1:]]
    )


def test_values_are_the_runs_stocks_and_flows_per_group(city_run: Run) -> None:
    table = city_run.by_group.filter(pl.col("group") == "minority").row(0, named=True)
    rows = city_run.daily.filter(pl.col("group") == "minority")
    last = rows.filter(pl.col("day") == city_run.days - 1).row(0, named=True)
    for stock in ("mean_score", "blacklisted", "sanctioned.job_restrictions", "grade_share.D"):
        assert table[stock] == last[stock], stock
    for flow in ("events_true.critical_post", "false_attributions", "list_entries"):
        assert table[flow] == rows[flow].sum(), flow
    assert "score_gini" not in city_run.by_group.columns  # overall only
    assert not any(c.startswith("disparate_impact.") for c in city_run.by_group.columns)


def test_overall_row_matches_the_summary(city_run: Run) -> None:
    overall = city_run.by_group.row(0, named=True)
    for name, value in city_run.summary.items():
        if name in overall:
            assert overall[name] == pytest.approx(value, nan_ok=True), name


def test_sanction_rates_and_wrongful_shares(city_run: Run) -> None:
    table = city_run.by_group
    for row in table.iter_rows(named=True):
        for s in ("travel_ban", "job_restrictions"):
            assert row[f"sanction_rate.{s}"] == row[f"sanctioned.{s}"] / row["population"]
    groups = table.filter(pl.col("group") != "all")
    assert city_run.summary["wrongfully_sanctioned"] > 0, "the example must show mistakes"
    assert groups["wrongful_share"].sum() == pytest.approx(1.0)
    ratio = groups["wrongful_share"] / groups["population_share"]
    assert groups["wrongful_vs_population"].to_list() == pytest.approx(ratio.to_list())


def test_wrongful_share_is_undefined_when_nobody_is_wrongfully_sanctioned() -> None:
    run = simulate_city("observers.0.false_match_rate=0", days=30)
    assert run.summary["wrongfully_sanctioned"] == 0
    assert all(math.isnan(v) for v in run.by_group["wrongful_share"])


def test_sanction_flags_agree_with_the_engine_counts(city_run: Run) -> None:
    flags = sanction_flags(city_run.regime, city_run.agents)
    for s in flags.columns:
        assert flags[s].sum() == city_run.summary[f"sanctioned.{s}"], s
    assert flags["job_restrictions"].sum() > 0 and flags["travel_ban"].sum() > 0
    under = any_sanction(city_run.regime, city_run.agents)
    assert under.sum() == flags.select(pl.any_horizontal(pl.all())).to_series().sum()
    # the engine's per-agent wrongful flag: a subset of those under a sanction
    if "wrongfully_sanctioned" in city_run.agents.columns:
        wrongful = city_run.agents["wrongfully_sanctioned"]
        assert wrongful.sum() == city_run.summary["wrongfully_sanctioned"]
        assert not (wrongful & ~under).any()


@pytest.mark.parametrize("name", ["court-blacklist", "national"])
def test_sanction_flags_follow_family_and_named_lists(name: str) -> None:
    """Built-ins whose sanctions fall on households or on named lists."""
    if name not in scsim.builtin_regimes():
        pytest.skip(f"the built-in regime {name} is not in this version")
    run = scsim.simulate(name, population=2000, days=120, seed=2)
    flags = sanction_flags(run.regime, run.agents)
    for s in flags.columns:
        assert flags[s].sum() == run.summary[f"sanctioned.{s}"], s


def test_a_stored_run_gives_the_same_table(city_run: Run, tmp_path) -> None:
    from polars.testing import assert_frame_equal

    with scsim.open_store(tmp_path / "s.duckdb") as store:
        back = store.load(store.save(city_run))
    assert_frame_equal(back.by_group, city_run.by_group)
