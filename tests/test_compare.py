"""Paired comparison: agent by agent, over common random numbers."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest

import scsim
from conftest import HARSHER, PERMANENT_LIST, simulate_city
from scsim.analysis.compare import Comparison, compare, pairing_problem
from scsim.analysis.stats import summary_intervals, t_interval
from scsim.engine.result import Run
from scsim.errors import ScsimError


@pytest.fixture(scope="module")
def harsher(paired_runs: tuple[Run, Run]) -> Comparison:
    return compare(*paired_runs)


def test_harsher_penalties_sanction_everyone_a_did_and_more(harsher: Comparison) -> None:
    """B differs from A only by larger deductions and nobody leaves the list, so under
    common random numbers each agent's score under B is at most its score under A,
    day by day: nobody is sanctioned under A and not under B, and nobody ends higher."""
    table = harsher.sanctions
    assert set(table["sanction"]) == {"travel_ban", "job_restrictions"}
    assert (table["only_a"] == 0).all(), table
    overall = table.filter(pl.col("group") == "all")
    assert (overall["only_b"] > 0).all(), overall
    assert (table["both"] == table["sanctioned_a"]).all()
    assert harsher.scores.filter(pl.col("group") == "all")["higher_under_b"].item() == 0
    assert (harsher.agents["score_diff"] <= 0).all()
    assert harsher.scores["mean_diff"].max() < 0


def test_groups_add_up_to_all(harsher: Comparison) -> None:
    for sanction in ("travel_ban", "job_restrictions"):
        rows = harsher.sanctions.filter(pl.col("sanction") == sanction)
        assert rows["group"].to_list() == ["all", "majority", "minority"]
        for column in ("population", "sanctioned_a", "sanctioned_b", "only_a", "only_b"):
            values = rows[column].to_list()
            assert values[0] == values[1] + values[2], (sanction, column)


def test_counts_agree_with_each_runs_own_summary(
    harsher: Comparison, paired_runs: tuple[Run, Run]
) -> None:
    a, b = paired_runs
    overall = harsher.sanctions.filter(pl.col("group") == "all")
    for row in overall.iter_rows(named=True):
        assert row["sanctioned_a"] == a.summary[f"sanctioned.{row['sanction']}"]
        assert row["sanctioned_b"] == b.summary[f"sanctioned.{row['sanction']}"]
    means = harsher.scores.filter(pl.col("group") == "all").row(0, named=True)
    assert means["mean_a"] == pytest.approx(a.summary["mean_score"])
    assert means["mean_b"] == pytest.approx(b.summary["mean_score"])


def test_wrongful_sanctions_are_compared_agent_by_agent(
    harsher: Comparison, paired_runs: tuple[Run, Run]
) -> None:
    a, b = paired_runs
    if "wrongfully_sanctioned" not in a.agents.columns:
        pytest.skip("this engine keeps no per-agent wrongful flag")
    rows = harsher.wrongful
    assert rows["group"].to_list() == ["all", "majority", "minority"]
    overall = rows.row(0, named=True)
    assert overall["sanctioned_a"] == a.summary["wrongfully_sanctioned"]
    assert overall["sanctioned_b"] == b.summary["wrongfully_sanctioned"]
    assert overall["only_a"] + overall["both"] == overall["sanctioned_a"]
    assert overall["sanctioned_a"] > 0


def test_metric_differences_are_b_minus_a_and_true_events_do_not_move(
    harsher: Comparison, paired_runs: tuple[Run, Run]
) -> None:
    a, b = paired_runs
    metrics = {r["metric"]: r for r in harsher.metrics.iter_rows(named=True)}
    assert set(metrics) == set(a.summary)
    assert metrics["mean_score"]["diff"] == pytest.approx(
        b.summary["mean_score"] - a.summary["mean_score"]
    )
    for name in metrics:
        if name.startswith(("events_true.", "events_recorded.", "false_attributions")):
            assert metrics[name]["diff"] == 0, name  # the same draws under both rules
    assert math.isnan(metrics["mean_score"]["ci_lo"])  # one pair: no interval
    assert harsher.pairs == 1


def test_a_run_compared_with_itself_differs_in_nothing(city_run: Run) -> None:
    same = compare(city_run, city_run)
    assert (same.sanctions["only_a"] == 0).all() and (same.sanctions["only_b"] == 0).all()
    undefined = same.metrics["a"].is_nan()  # e.g. a ratio with nobody sanctioned
    assert (same.metrics.filter(~undefined)["diff"] == 0).all()
    assert same.metrics.filter(undefined)["diff"].is_nan().all()
    assert (same.agents["score_diff"] == 0).all()


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"seed": 6}, "seed differs (A: 5, B: 6)"),
        ({"days": 60}, "days differs (A: 120, B: 60)"),
        ({"population": 1500}, "population differs (A: 2,000, B: 1,500)"),
    ],
)
def test_unpaired_runs_are_refused_with_what_differs(
    city_run: Run, kw: dict[str, int], words: str
) -> None:
    seed = kw.pop("seed", 5)
    other = simulate_city(seed=seed, **kw)
    with pytest.raises(ScsimError, match=words.replace("(", r"\(").replace(")", r"\)")):
        compare(city_run, other)
    assert words in (pairing_problem(city_run, other) or "")


def test_different_groups_are_refused(city_run: Run) -> None:
    other = simulate_city("groups.0.share=0.7", "groups.1.share=0.3")
    with pytest.raises(ScsimError, match="different groups"):
        compare(city_run, other)


@pytest.fixture(scope="module")
def batches() -> tuple[list[Run], list[Run]]:
    seeds = (11, 12, 13)
    small = {"population": 1000, "days": 50}
    a = [simulate_city(PERMANENT_LIST, seed=s, **small) for s in seeds]
    b = [simulate_city(PERMANENT_LIST, *HARSHER, seed=s, **small) for s in seeds]
    return a, b


def test_replicate_batches_give_a_paired_interval(batches: tuple[list[Run], list[Run]]) -> None:
    a, b = batches
    result = compare(a, b)
    assert result.pairs == 3 and result.a.seed == 11
    row = result.metrics.filter(pl.col("metric") == "mean_score").row(0, named=True)
    diffs = [
        rb.summary["mean_score"] - ra.summary["mean_score"] for ra, rb in zip(a, b, strict=True)
    ]
    mean, lo, hi = t_interval(diffs)
    assert (row["ci_lo"], row["ci_hi"]) == pytest.approx((lo, hi))
    assert lo < mean < hi < 0  # harsher rules lower the mean score in every replicate
    true = result.metrics.filter(pl.col("metric").str.starts_with("events_true."))
    assert (true["ci_lo"] == 0).all() and (true["ci_hi"] == 0).all()


def test_batches_that_do_not_pair_seed_by_seed_get_no_interval(
    batches: tuple[list[Run], list[Run]],
) -> None:
    a, b = batches
    result = compare(a, b[:2])
    assert result.pairs == 1
    assert result.metrics["ci_lo"].is_nan().all()
    assert any("do not pair seed by seed" in note for note in result.notes)


def test_json_form_is_strict_json(harsher: Comparison) -> None:
    text = json.dumps(harsher.to_dict(), allow_nan=False)
    back = json.loads(text)
    assert back["difference"] == "b - a"
    assert back["a"]["seed"] == back["b"]["seed"] == 5
    assert back["metrics"]["mean_score"]["ci"] is None
    assert {r["group"] for r in back["sanctions"]} == {"all", "majority", "minority"}


def test_compare_is_public() -> None:
    assert scsim.compare is compare


def test_t_interval_matches_the_textbook() -> None:
    mean, lo, hi = t_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.302653; sd = 1; half = 4.302653 / sqrt(3)
    assert mean == 2.0
    assert (lo, hi) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    assert t_interval([4.0, 4.0]) == (4.0, 4.0, 4.0)
    assert all(math.isnan(v) for v in t_interval([1.0])[1:])
    assert all(math.isnan(v) for v in t_interval([1.0, math.nan]))
    ci = summary_intervals([{"x": 1.0}, {"x": 2.0}, {"x": 3.0}])
    assert ci["x"][1:] == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)


def test_batch_metrics_are_means_over_pairs_inside_their_interval(
    batches: tuple[list[Run], list[Run]],
) -> None:
    """A, B and B - A are means over the seed pairs, never the first pair's values
    printed next to an interval over all pairs (issue 13, item 1)."""
    a, b = batches
    result = compare(a, b)
    checked = 0
    for row in result.metrics.iter_rows(named=True):
        name = row["metric"]
        values_a = [r.summary[name] for r in a]
        values_b = [r.summary[name] for r in b]
        if not all(math.isfinite(v) for v in values_a + values_b):
            continue
        assert row["a"] == pytest.approx(sum(values_a) / 3)
        assert row["b"] == pytest.approx(sum(values_b) / 3)
        assert row["diff"] == pytest.approx(row["b"] - row["a"], abs=1e-9)
        assert row["ci_lo"] - 1e-9 <= row["diff"] <= row["ci_hi"] + 1e-9
        checked += 1
    assert checked > 20
    first = result.metrics.filter(pl.col("metric") == "mean_score").row(0, named=True)
    assert first["a"] != a[0].summary["mean_score"]  # not the first seed's value
    payload = result.to_dict()
    assert payload["pairs"] == 3 and "means over 3 seed pairs" in payload["metrics_are"]
    assert payload["agents_seed"] == 11


def test_what_differs_is_the_regime_key_by_key(paired_runs: tuple[Run, Run], city_run: Run) -> None:
    """Compare states what differs between A and B, key by key (issue 13, item 5)."""
    a, b = paired_runs
    assert compare(a, b).differs == ["rules.0.points: -5 -> -8", "rules.1.points: -10 -> -15"]
    assert compare(city_run, a).differs == ["blacklist.exit.after_days: 120 -> null"]
    assert compare(city_run, city_run).differs == []
    assert compare(a, b).to_dict()["differs"] == compare(a, b).differs


def test_simulate_replicates_returns_the_batch_the_cli_makes() -> None:
    """Issue 13, item 9: simulate(..., replicates=K) is --replicates K."""
    batch = scsim.simulate(
        scsim.load_regime("jinan-dogs"), population=500, days=10, seed=4, replicates=3
    )
    assert [r.seed for r in batch] == [4, 5, 6]
    again = scsim.simulate(scsim.load_regime("jinan-dogs"), population=500, days=10, seed=5)
    assert again.summary == pytest.approx(batch[1].summary, nan_ok=True)
    with pytest.raises(ScsimError, match="replicates: 0"):
        scsim.simulate("jinan-dogs", population=500, days=10, replicates=0)
