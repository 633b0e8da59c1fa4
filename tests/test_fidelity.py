"""Mechanisms the built-in regimes needed to do what the record says (issue 18), each
checked exactly at small size."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from scsim.engine.run import simulate
from scsim.engine.settle import _pull
from scsim.errors import RegimeError
from scsim.population.ages import ages
from scsim.regime.loader import validate_mapping


def regime(behaviours, rules, **changes):
    data = {
        "name": "fidelity",
        "grades": [{"name": "A", "min": 900}, {"name": "D"}],
        "behaviours": behaviours,
        "observers": [{"name": "cam", "watches": ["jaywalk"], "coverage": 0.9}],
        "rules": rules,
    }
    data.update(changes)
    return validate_mapping(data, "<test>")


def _chilling(run):
    return run.daily.filter(run.daily["group"] == "all")["chilling.jaywalk"].to_numpy()


def test_a_felt_cost_deters_exactly_as_the_same_points_do():
    # A screen and a fine (no points) felt as 20 points deter as a rule of -20 does:
    # the multiplier reads only the records and |points|, so the series are identical.
    det = {"sensitivity": 15, "memory_days": 30, "seen": "everyone"}
    points = regime(
        {"jaywalk": {"rate": 0.01, "deterrence": det}}, [{"on": "jaywalk", "points": -20}]
    )
    felt = regime({"jaywalk": {"rate": 0.01, "deterrence": {**det, "cost": 20}}}, [])
    a = _chilling(simulate(points, population=5_000, days=40, seed=3))
    b = _chilling(simulate(felt, population=5_000, days=40, seed=3))
    assert a[-1] < 0.9
    np.testing.assert_array_equal(a, b)


def test_deterrence_without_points_needs_a_cost():
    with pytest.raises(RegimeError, match=r"deterrence\.cost"):
        regime({"jaywalk": {"rate": 0.01, "deterrence": {"sensitivity": 1}}}, [])


@pytest.mark.parametrize(
    ("friends_mean", "down", "expected"),
    [(300, False, 120), (300, True, 100), (0, False, 90), (0, True, 90)],
)
def test_one_way_liability_pulls_down_only(friends_mean, down, expected):
    # s' = s + round(liability x (mean - s)), and with `down` only when it is lower:
    # 100 + 0.1 x (300 - 100) = 120 (both) or 100 (down); 100 + 0.1 x (0 - 100) = 90.
    score = np.zeros((2, 1), dtype=np.int32)
    old = np.array([[100, 100]], dtype=np.int32)
    _pull(score, old, 0, False, np.int64(2 * friends_mean), np.int64(0), 2, -1000, 1000, 0.1, down)
    assert score[0, 0] == expected


def _listed_for(cure, days, n=5_000):
    """Days from each agent's first listing to its first exit (``days`` if it never
    leaves), for the agents first listed in the first five days; listed on an event of
    rate 3 a day, always recorded, with no term."""
    reg = validate_mapping(
        {
            "name": "late",
            "grades": [{"name": "all"}],
            "behaviours": {"judgment": {"rate": 3.0}},
            "observers": [{"name": "court", "kind": "records", "watches": ["judgment"]}],
            "lists": [{"name": "debtors", "enter": [{"on": "judgment"}], "exit": {"cure": cure}}],
        },
        "<test>",
    )
    run = simulate(reg, population=n, days=days, seed=2)
    moves = run.list_moves.with_columns(pl.col("move").cast(pl.Utf8))
    first = moves.group_by("agent").agg(
        pl.col("day").filter(pl.col("move").str.starts_with("entered")).min().alias("on"),
        pl.col("day").filter(pl.col("move").str.starts_with("left")).min().alias("off"),
    )
    first = first.filter(pl.col("on") < 5).with_columns(pl.col("off").fill_null(10 * days))
    return (first["off"] - first["on"]).to_numpy()


def test_late_removal_is_a_hazard_over_time_after_paying():
    # Everyone pays the day after listing (rate 1) and none is removed at once
    # (removal_probability 0): with late_removal_rate r the time listed T is geometric,
    # P(T > t) = (1 - r)^t (the first chance is the payment day), where without it
    # nobody ever leaves (the one-shot coin flip).
    r = 0.05
    cure = {"rate": 1.0, "removal_probability": 0.0, "late_removal_rate": r}
    listed = _listed_for(cure, 100)
    assert listed.size > 4_900
    t = np.arange(60)
    still = np.array([(listed > x).mean() for x in t])
    assert np.all(np.abs(still - (1 - r) ** t) <= 5 * np.sqrt(0.25 / listed.size))
    never = _listed_for({"rate": 1.0, "removal_probability": 0.0}, 40)
    assert (never > 40).all()  # no exit within the run


def test_a_reward_that_needs_a_grade_held_starts_after_the_holding_period():
    # Everyone starts in AAA and stays: the perk list is entered on day 29 (the 30th
    # consecutive day in AAA), and the perk applies from then on, to everyone, for the
    # list's term (10 days), then again after another 30 days held.
    reg = validate_mapping(
        {
            "name": "holding",
            "score": {"initial": 1300},
            "grades": [{"name": "AAA", "min": 1300}, {"name": "rest"}],
            "behaviours": {"nothing": {"rate": 0.0}},
            "lists": [
                {
                    "name": "kept",
                    "enter": [{"grade": "AAA", "for_days": 30}],
                    "exit": {"after_days": 10},
                }
            ],
            "rewards": [{"name": "loan", "applies_to": {"lists": ["kept"]}}],
        },
        "<test>",
    )
    run = simulate(reg, population=500, days=90, seed=1)
    day = run.daily.filter(run.daily["group"] == "all").sort("day")
    loans = day["rewarded.loan"].to_numpy()
    held = np.zeros(90)
    held[29:39] = 500  # entered on the 30th day held, 10 days on the list
    held[69:79] = 500  # the count restarts on leaving: another 30 days, 10 more
    np.testing.assert_array_equal(loans, held)


def test_ages_are_a_hash_of_the_id_uniform_over_80_years():
    a = ages(200_000)
    assert a.min() == 0 and a.max() == 79
    assert np.array_equal(a, ages(200_000))  # the same in every run
    share = np.bincount(a, minlength=80) / a.size
    assert np.all(np.abs(share - 1 / 80) < 5 * np.sqrt(1 / 80 / a.size))


def test_a_family_sanction_with_ages_falls_only_on_members_of_those_ages():
    # Everyone is listed at once; a family sanction on the 18-year-olds falls on every
    # 18-year-old with another member in the household, and on nobody else.
    reg = validate_mapping(
        {
            "name": "ages",
            "grades": [{"name": "all"}],
            "behaviours": {"judgment": {"rate": 100.0}},
            "observers": [{"name": "court", "kind": "records", "watches": ["judgment"]}],
            "lists": [{"name": "debtors", "enter": [{"on": "judgment"}]}],
            "sanctions": [
                {
                    "name": "university_refused",
                    "applies_to": {"lists": ["debtors"], "family": True, "ages": [18, 18]},
                },
                {"name": "family_jobs", "applies_to": {"lists": ["debtors"], "family": True}},
            ],
            "households": {"mean_size": 3.0},
        },
        "<test>",
    )
    run = simulate(reg, population=20_000, days=2, seed=1, keep_events=False)
    last = run.daily.filter(run.daily["group"] == "all").sort("day")[-1]
    a = run.agents
    size = a.group_by("household").len().rename({"len": "size"})
    with_others = a.join(size, on="household").filter(pl.col("size") > 1)["agent"].to_numpy()
    expected = int((ages(20_000)[with_others] == 18).sum())
    assert expected > 100
    assert last["sanctioned.university_refused"][0] == expected
    assert last["sanctioned.family_jobs"][0] == with_others.size
