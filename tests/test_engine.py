"""The engine against closed forms, invariants and determinism.

Tolerances are in standard errors of the quantity's sampling distribution, so a
failure means the engine's law is wrong, not that the dice were unkind (z = 4.5:
a false alarm about once in 150,000 runs).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from scsim.engine.run import simulate
from scsim.regime.loader import validate_mapping

Z = 4.5


def regime(**changes):
    """A one-behaviour regime with closed-form outcomes; keys replace the defaults."""
    data = {
        "name": "closed-form",
        "score": {"initial": 1000, "floor": None, "ceiling": None},
        "grades": [{"name": "A", "min": 990}, {"name": "B", "min": 900}, {"name": "C"}],
        "behaviours": {"offence": {"rate": 0.02}},
        "observers": [{"name": "cam", "watches": ["offence"]}],
        "rules": [{"on": "offence", "points": -5}],
        "network": {"degree": 4, "liability": 0.0},
    }
    data.update(changes)
    return validate_mapping(data, "<test>")


def overall(run) -> pl.DataFrame:
    return run.daily.filter(pl.col("group") == "all")


def test_mean_drift_is_rate_times_recorded_share_times_points():
    rate, coverage, detection, points, days, n = 0.02, 0.6, 0.9, -5, 50, 20_000
    reg = regime(
        behaviours={"offence": {"rate": rate, "spread": 0.8}},
        observers=[
            {"name": "cam", "watches": ["offence"], "coverage": coverage, "detection": detection}
        ],
    )
    run = simulate(reg, population=n, days=days, seed=3)
    drift = run.summary["mean_score"] - 1000
    expected = rate * coverage * detection * points * days
    # Per agent the drift is points * Poisson(mean m) mixed over the lognormal rates:
    # its variance is at least points^2 * m, and the spread adds m^2 (e^(sigma^2) - 1).
    m = rate * coverage * detection * days
    sd = abs(points) * math.sqrt((m + m * m * (math.exp(0.8**2) - 1)) / n)
    assert abs(drift - expected) < Z * sd


def test_spread_keeps_the_mean_rate():
    n, days, rate = 20_000, 20, 0.05
    reg = regime(behaviours={"offence": {"rate": rate, "spread": 1.5}})
    run = simulate(reg, population=n, days=days, seed=4)
    events = run.summary["events_true.offence"]
    # Var of the total: n * days * rate + n * (days * rate)^2 * (e^(s^2) - 1).
    sd = math.sqrt(n * days * rate + n * (days * rate) ** 2 * (math.exp(1.5**2) - 1))
    assert abs(events - n * days * rate) < Z * sd


def test_false_attributions_match_events_in_view_times_match_probability():
    n, days, rate, coverage, fmr, gallery = 20_000, 30, 0.05, 0.5, 2e-6, 50_000
    enrolled, detection = 0.5, 0.8
    reg = regime(
        behaviours={"offence": {"rate": rate}},
        observers=[
            {
                "name": "cam",
                "watches": ["offence"],
                "coverage": coverage,
                "detection": detection,
                "false_match_rate": fmr,
                "gallery": gallery,
                "enrolled": enrolled,
            }
        ],
    )
    run = simulate(reg, population=n, days=days, seed=5)
    # A search that does not return the doer (not enrolled, or missed) returns an
    # impostor with the FPIR q; a simulated one with chance n x enrolled / gallery.
    q = 1 - (1 - fmr) ** gallery
    in_view = n * days * rate * coverage
    impostors = in_view * (1 - enrolled * detection) * q
    inside = n * enrolled / gallery
    for name, expected in (
        ("false_attributions", impostors * inside),
        ("false_matches_outside", impostors * (1 - inside)),
    ):
        assert abs(run.summary[name] - expected) < Z * math.sqrt(expected)
    # Every false attribution that costs points is a wrongful penalty.
    assert run.summary["wrongful_penalties"] == run.summary["false_attributions"]
    # The doer is recorded when enrolled and found; one agent's events share its
    # enrolment, hence the sd times sqrt(1 + events in view per agent).
    correct = run.summary["events_recorded.offence"] - run.summary["false_attributions"]
    p = enrolled * detection
    sd = math.sqrt(in_view * p * (1 - p) * (1 + in_view / n))
    assert abs(correct - in_view * p) < Z * sd


def test_blacklist_stock_under_an_exit_rule():
    n, rate, term = 10_000, 0.01, 50
    reg = regime(
        behaviours={"offence": {"rate": rate}},
        blacklist={"enter": [{"on": "offence"}], "exit": {"after_days": term}},
        sanctions=[{"name": "flight_ban", "applies_to": "blacklisted"}],
    )
    run = simulate(reg, population=n, days=900, seed=6)
    # Renewal: `term` days on the list, then on average 1/p days off (p = P(event)).
    p = 1 - math.exp(-rate)
    share = term / (term + 1 / p)
    tail = overall(run).filter(pl.col("day") >= 700)
    observed = tail["blacklisted"].mean() / n
    assert abs(observed - share) < 0.02
    assert (tail["sanctioned.flight_ban"] == tail["blacklisted"]).all()


def test_grade_rule_needs_consecutive_days():
    # Everyone starts in C (below B's 900) and nothing happens: all are listed on the
    # 10th day in C, none before, and all leave after 5 days on the list.
    reg = regime(
        score={"initial": 0, "floor": None, "ceiling": None},
        behaviours={"offence": {"rate": 0.0}},
        blacklist={"enter": [{"grade": "C", "for_days": 10}], "exit": {"after_days": 5}},
    )
    run = simulate(reg, population=100, days=30, seed=0)
    listed = overall(run)["blacklisted"].to_list()
    assert listed[:9] == [0] * 9
    assert listed[9:14] == [100] * 5
    # The count restarts when they leave: 10 more days in C, then listed again.
    assert listed[14:24] == [0] * 10
    assert listed[24:29] == [100] * 5


def test_scores_stay_within_floor_and_ceiling_and_shares_sum_to_one():
    reg = regime(
        score={"initial": 50, "floor": 0, "ceiling": 100},
        grades=[{"name": "A", "min": 60}, {"name": "B"}],
        behaviours={"offence": {"rate": 0.2}, "good": {"rate": 0.2}},
        observers=[{"name": "cam", "watches": ["offence", "good"]}],
        rules=[{"on": "offence", "points": -30}, {"on": "good", "points": 25}],
    )
    run = simulate(reg, population=5_000, days=40, seed=7)
    assert run.agents["score"].min() >= 0
    assert run.agents["score"].max() <= 100
    assert run.agents["score"].min() == 0 and run.agents["score"].max() == 100
    shares = run.daily.select(pl.sum_horizontal(pl.col("^grade_share\\..*$")))
    assert np.allclose(shares.to_numpy(), 1.0)


def test_max_per_year_caps_points_and_resets_each_year():
    reg = regime(
        behaviours={"good": {"rate": 1.0}},
        observers=[{"name": "cam", "watches": ["good"]}],
        rules=[{"on": "good", "points": 5, "max_per_year": 3}],
    )
    run = simulate(reg, population=200, days=400, seed=8)
    scores = overall(run)["mean_score"].to_list()
    assert scores[364] == 1015  # at most 3 x 5 points in the first year
    assert scores[399] == 1030  # and again in the second


def test_capacity_limits_searches_per_day():
    reg = regime(
        behaviours={"offence": {"rate": 0.5}},
        observers=[{"name": "cam", "watches": ["offence"], "capacity_per_day": 37}],
    )
    run = simulate(reg, population=1_000, days=10, seed=9)
    assert (overall(run)["events_recorded.offence"] == 37).all()


def test_latency_delays_recording():
    reg = regime(
        behaviours={"offence": {"rate": 0.1}},
        observers=[{"name": "court", "watches": ["offence"], "latency_days": 6}],
    )
    run = simulate(reg, population=2_000, days=20, seed=10)
    rec = overall(run)["events_recorded.offence"].to_list()
    true = overall(run)["events_true.offence"].to_list()
    assert rec[:6] == [0] * 6
    assert rec[6:] == true[:14]


def test_observers_are_tried_in_order_and_an_event_is_recorded_once():
    reg = regime(
        behaviours={"offence": {"rate": 0.1}},
        observers=[
            {"name": "first", "watches": ["offence"], "coverage": 0.5},
            {"name": "second", "watches": ["offence"], "coverage": 0.5},
        ],
    )
    run = simulate(reg, population=5_000, days=20, seed=11)
    true, rec = run.summary["events_true.offence"], run.summary["events_recorded.offence"]
    # In view of the first, or else of the second: 1 - 0.5 * 0.5 of the events.
    assert abs(rec - 0.75 * true) < Z * math.sqrt(true * 0.75 * 0.25)


def test_group_multipliers_shift_rates_and_keep_the_mean():
    reg = regime(
        behaviours={"offence": {"rate": 0.04}},
        groups=[
            {"name": "majority", "share": 0.8},
            {"name": "minority", "share": 0.2, "rate_multiplier": {"offence": 3.0}},
        ],
    )
    run = simulate(reg, population=50_000, days=10, seed=12)
    per = run.daily.group_by("group").agg(pl.col("events_true.offence").sum())
    got = dict(zip(per["group"], per["events_true.offence"], strict=True))
    total = 50_000 * 10 * 0.04
    assert abs(got["all"] - total) < Z * math.sqrt(total)
    sizes = run.agents["group"].value_counts()
    size = dict(zip(sizes["group"].cast(str), sizes["count"], strict=True))
    per_head = {g: got[g] / size[g] for g in ("majority", "minority")}
    assert 2.7 < per_head["minority"] / per_head["majority"] < 3.3


def test_wrongfully_sanctioned_counts_only_those_a_false_match_put_there():
    base = {
        "behaviours": {"offence": {"rate": 0.01}},
        "blacklist": {"enter": [{"on": "offence"}]},
        "sanctions": [{"name": "ban", "applies_to": "blacklisted"}],
    }
    honest = regime(**base, observers=[{"name": "cam", "watches": ["offence"]}])
    faulty = regime(
        **base,
        observers=[
            {
                "name": "cam",
                "watches": ["offence"],
                "detection": 0.5,
                "false_match_rate": 1e-5,
                "gallery": 5_000,
            }
        ],
    )
    a = simulate(honest, population=5_000, days=30, seed=13)
    b = simulate(faulty, population=5_000, days=30, seed=13)
    assert a.summary["wrongfully_sanctioned"] == 0
    assert b.summary["wrongfully_sanctioned"] > 0
    # The list never expires, so every agent listed only through false matches counts.
    assert b.summary["wrongfully_sanctioned"] <= b.summary["false_attributions"]
    assert (
        b.summary["sanctioned.ban"] - b.summary["wrongfully_sanctioned"]
        <= a.summary["sanctioned.ban"]
    )


def test_common_random_numbers_across_rule_changes():
    a = simulate(regime(), population=3_000, days=15, seed=14)
    b = simulate(
        regime(rules=[{"on": "offence", "points": -50}]), population=3_000, days=15, seed=14
    )
    assert_frame_equal(a.daily.select("^events_.*$"), b.daily.select("^events_.*$"))
    assert a.summary["mean_score"] != b.summary["mean_score"]


def test_liability_pulls_scores_towards_friends():
    spread = {"offence": {"rate": 0.05, "spread": 1.0}}
    alone = simulate(regime(behaviours=spread), population=5_000, days=30, seed=15)
    tied = simulate(
        regime(behaviours=spread, network={"degree": 8, "liability": 0.3}),
        population=5_000,
        days=30,
        seed=15,
    )
    assert tied.agents["score"].std() < 0.8 * alone.agents["score"].std()
    # A convex pull moves no mass: the mean stays within rounding of the uncoupled one.
    assert abs(tied.summary["mean_score"] - alone.summary["mean_score"]) < 0.5


def _busy_regime():
    return regime(
        behaviours={"offence": {"rate": 0.05, "spread": 0.7}, "good": {"rate": 0.03}},
        observers=[
            {
                "name": "cam",
                "watches": ["offence"],
                "coverage": 0.7,
                "detection": 0.9,
                "false_match_rate": 1e-5,
                "gallery": 1_000,
                "capacity_per_day": 150,
            },
            {"name": "court", "watches": ["offence", "good"], "latency_days": 3},
        ],
        rules=[{"on": "offence", "points": -40}, {"on": "good", "points": 10, "max_per_year": 2}],
        blacklist={"enter": [{"grade": "C", "for_days": 3}], "exit": {"after_days": 7}},
        sanctions=[{"name": "ban", "applies_to": {"grades": ["C"], "blacklisted": True}}],
        rewards=[{"name": "perk", "applies_to": {"grades": ["A"]}}],
        network={"degree": 6, "liability": 0.1},
        groups=[
            {"name": "x", "share": 0.6},
            {"name": "y", "share": 0.4, "false_match_multiplier": 3.0},
        ],
    )


def test_same_seed_same_run_and_other_seed_other_run():
    a = simulate(_busy_regime(), population=4_000, days=25, seed=16)
    b = simulate(_busy_regime(), population=4_000, days=25, seed=16)
    c = simulate(_busy_regime(), population=4_000, days=25, seed=17)
    assert_frame_equal(a.daily, b.daily)
    assert_frame_equal(a.agents, b.agents)
    assert not a.daily.equals(c.daily)


@pytest.mark.parametrize(("threads", "chunk"), [(1, 1 << 14), (2, 1 << 14), (2, 333), (1, 1)])
def test_results_do_not_depend_on_threads_or_chunk_size(threads, chunk):
    ref = simulate(_busy_regime(), population=4_000, days=25, seed=18, threads=2, chunk_size=997)
    run = simulate(
        _busy_regime(), population=4_000, days=25, seed=18, threads=threads, chunk_size=chunk
    )
    assert_frame_equal(run.daily, ref.daily)
    assert_frame_equal(run.agents, ref.agents)


def test_gini_of_equal_scores_is_zero_and_grows_with_inequality():
    quiet = simulate(regime(behaviours={"offence": {"rate": 0.0}}), population=1_000, days=3)
    assert quiet.summary["score_gini"] == 0
    loud = simulate(
        regime(
            score={"initial": 100, "floor": 0, "ceiling": None},
            behaviours={"offence": {"rate": 0.5, "spread": 1.0}},
        ),
        population=5_000,
        days=30,
        seed=19,
    )
    s = np.sort(loud.agents["score"].to_numpy())
    exact = 2 * np.sum(np.arange(1, s.size + 1) * s) / (s.size * s.sum()) - (s.size + 1) / s.size
    assert loud.summary["score_gini"] == pytest.approx(exact, abs=1e-9)


def test_flows_of_the_list_balance_its_stock():
    reg = regime(
        behaviours={"offence": {"rate": 0.02}},
        blacklist={"enter": [{"on": "offence"}], "exit": {"after_days": 9}},
    )
    day = overall(simulate(reg, population=3_000, days=60, seed=20))
    stock = day["blacklisted"].to_numpy()
    change = np.diff(stock, prepend=0)
    assert np.array_equal(change, (day["list_entries"] - day["list_exits"]).to_numpy())
    assert day["list_exits"].sum() > 0


def test_grade_transitions_account_for_every_change_of_grade_share():
    reg = regime(
        behaviours={"offence": {"rate": 0.05}, "good": {"rate": 0.05}},
        observers=[{"name": "cam", "watches": ["offence", "good"]}],
        rules=[{"on": "offence", "points": -20}, {"on": "good", "points": 15}],
    )
    n = 2_000
    run = simulate(reg, population=n, days=40, seed=21)
    counts = overall(run).select("^grade_share\\..*$").to_numpy() * n
    grades = [g.name for g in reg.grades]
    net = np.zeros_like(counts)
    for day, src, dst, agents in run.transitions.iter_rows():
        net[day, grades.index(dst)] += agents
        net[day, grades.index(src)] -= agents
    start = np.zeros(len(grades))
    start[0] = n  # everyone starts at 1000, grade A
    assert np.allclose(np.diff(counts, axis=0, prepend=start[None]), net)


def test_event_log_is_the_recorded_flows_and_moves_every_point():
    reg = regime(
        behaviours={"offence": {"rate": 0.05}},
        observers=[
            {
                "name": "cam",
                "watches": ["offence"],
                "coverage": 0.8,
                "detection": 0.5,
                "false_match_rate": 1e-5,
                "gallery": 5_000,
                "latency_days": 2,
            }
        ],
    )
    run = simulate(reg, population=3_000, days=30, seed=22)
    ev = run.events
    assert ev.height == run.summary["events_recorded.offence"] == run.summary["recorded_by.cam"]
    assert ev["false"].sum() == run.summary["false_attributions"] == run.summary["false_by.cam"]
    assert (ev["day_recorded"] - ev["day_happened"] == 2).all()
    lost = ev.group_by("agent").agg(pl.col("points").sum())
    scores = run.agents.join(lost, on="agent", how="left").fill_null(0)
    assert np.allclose(scores["score"], 1000 + scores["points"])
    assert simulate(reg, population=300, days=3, seed=22, keep_events=False).events is None


def test_disparate_impact_is_the_ratio_of_group_sanction_rates():
    reg = regime(
        behaviours={"offence": {"rate": 0.01}},
        blacklist={"enter": [{"on": "offence"}]},
        sanctions=[{"name": "ban", "applies_to": "blacklisted"}],
        groups=[
            {"name": "a", "share": 0.5},
            {"name": "b", "share": 0.5, "rate_multiplier": {"offence": 4.0}},
        ],
    )
    run = simulate(reg, population=20_000, days=20, seed=23)
    last = run.daily.filter(pl.col("day") == 19)
    rate = {row["group"]: row["sanctioned.ban"] for row in last.iter_rows(named=True)}
    size = dict(zip(*run.agents["group"].cast(str).value_counts().to_dict().values(), strict=True))
    expected = (rate["b"] / size["b"]) / (rate["a"] / size["a"])
    assert run.summary["disparate_impact.ban"] == pytest.approx(expected)
    # Listing within 20 days: 1 - exp(-20 r); with r_b = 4 r_a the ratio is near 3.4.
    assert 3.0 < expected < 3.9


def test_disparate_impact_edge_cases():
    from scsim.metrics.reduce import disparate_impact

    assert math.isnan(disparate_impact(np.array([0, 0]), np.array([5, 5])))
    assert disparate_impact(np.array([0, 3]), np.array([5, 5])) == math.inf
    assert disparate_impact(np.array([1, 3]), np.array([5, 0])) == 1.0
