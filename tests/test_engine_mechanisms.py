"""The regime mechanisms beyond the core keys: lists, households, enrolment, observer
kinds, appeals. Each test checks a closed form or an exact consequence."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from scsim.engine.run import simulate
from scsim.regime.loader import validate_mapping

Z = 4.5


def regime(**changes):
    data = {
        "name": "mechanisms",
        "score": {"initial": 100, "floor": 0, "ceiling": None},
        "grades": [{"name": "ok", "min": 1}, {"name": "zero"}],
        "behaviours": {"offence": {"rate": 0.02}},
        "observers": [{"name": "cam", "watches": ["offence"]}],
        "rules": [{"on": "offence", "points": -5}],
        "network": {"degree": 4},
    }
    data.update(changes)
    return validate_mapping(data, "<test>")


def overall(run) -> pl.DataFrame:
    return run.daily.filter(pl.col("group") == "all")


def test_escalating_points_and_at_most():
    reg = regime(
        behaviours={"offence": {"rate": 0.3}},
        rules=[{"on": "offence", "points": [-3, -6, -10], "at_most": 90}],
        score={"initial": 100, "floor": None, "ceiling": None},
    )
    run = simulate(reg, population=500, days=30, seed=1)
    ev = run.events.sort("agent", "day_recorded", maintain_order=True)
    nth = ev.with_columns(nth=pl.int_range(pl.len()).over("agent"))
    expected = nth.select(
        pl.when(pl.col("nth") == 0)
        .then(-3)
        .when(pl.col("nth") == 1)
        .then(-6)
        .otherwise(-10)
        .alias("pts")
    )["pts"]
    # at_most: the first event takes the score from 100 to at most 90 (a -10 move).
    first = nth.filter(pl.col("nth") == 0)
    assert (first["points"] == -10).all()
    later = nth.filter(pl.col("nth") > 0)
    assert (later["points"].to_numpy() == expected.to_numpy()[nth["nth"].to_numpy() > 0]).all()


def test_count_within_window_lists_only_on_the_third_event():
    reg = regime(
        behaviours={"offence": {"rate": 0.05}},
        lists=[
            {"name": "confiscated", "enter": [{"on": "offence", "count": 3, "within_days": 60}]}
        ],
    )
    run = simulate(reg, population=3_000, days=120, seed=2)
    ev = run.events.sort("agent", "day_recorded")
    days = ev.group_by("agent").agg(pl.col("day_recorded"))
    should = set()
    for agent, recorded in days.iter_rows():
        for j in range(2, len(recorded)):
            if recorded[j] - recorded[j - 2] < 60:
                should.add(agent)
                break
    listed = set(run.agents.filter(pl.col("listed.confiscated"))["agent"].to_list())
    assert listed == should
    assert len(should) > 50


def test_cure_removes_some_payers_after_a_delay():
    rate, p_remove, delay = 0.05, 0.6, 4
    reg = regime(
        behaviours={"offence": {"rate": 0.003}},
        blacklist={
            "enter": [{"on": "offence"}],
            "exit": {"cure": {"rate": rate, "delay_days": delay, "removal_probability": p_remove}},
        },
    )
    n, days = 20_000, 200
    run = simulate(reg, population=n, days=days, seed=3)
    day = overall(run)
    exits, entries = day["list_exits"].sum(), day["list_entries"].sum()
    # No exit can come sooner than delay days after entry (cure takes a day at least).
    assert day["list_exits"][: delay + 1].sum() == 0
    # Among listings, the share that ends by cure is at most p_remove; cured but kept
    # agents stay listed for good.
    assert 0 < exits < p_remove * entries
    assert run.summary["cured_still_listed"] > 0
    mean_days = run.summary["days_to_rehabilitation"]
    # Days on the list of those who left: geometric cure time (mean 1/rate) + delay,
    # seen only for those who left within the run, so below the unconditional mean.
    assert delay < mean_days < 1 / rate + delay + 1


def test_term_days_and_serious_extras():
    reg = regime(
        behaviours={"offence": {"rate": 0.01}},
        blacklist={
            "enter": [
                {
                    "on": "offence",
                    "term_days": 10,
                    "serious_share": 0.5,
                    "serious_extra_days": [5, 5],
                }
            ]
        },
    )
    run = simulate(reg, population=5_000, days=120, seed=4)
    day = overall(run)
    entries, exits = day["list_entries"].to_numpy(), day["list_exits"].to_numpy()
    # Every listing lasts 10 days, or 15 for the serious half (listed at the end of
    # days d .. d + 9): exits on day t are at most the entries of days t - 10 and t - 15.
    assert exits[:10].sum() == 0
    normal = np.concatenate([np.zeros(10), entries[:-10]])
    serious = np.concatenate([np.zeros(15), entries[:-15]])
    assert np.all(exits <= normal + serious)
    left = day["list_exits"].sum()
    assert abs(run.summary["days_to_rehabilitation"] - 12.5) < Z * 2.5 / math.sqrt(left)


def test_reset_score_on_leaving_restores_the_licence():
    reg = regime(
        score={"initial": 12, "floor": 0, "ceiling": 12},
        behaviours={"offence": {"rate": 0.2}},
        rules=[{"on": "offence", "points": -6}],
        lists=[
            {
                "name": "held",
                "enter": [{"grade": "zero", "for_days": 1}],
                "exit": {"after_days": 5, "reset_score": True},
            }
        ],
    )
    run = simulate(reg, population=2_000, days=60, seed=5)
    assert run.summary["list_exits"] > 0
    held = run.agents.filter(pl.col("listed.held"))
    assert (held["score"] >= 0).all()
    # Nobody sits at zero off the list for long: reset returns them to 12.
    free_zero = run.agents.filter(~pl.col("listed.held") & (pl.col("score") == 0))
    assert free_zero.height < 0.2 * 2_000


def test_household_is_the_scored_unit():
    reg = regime(
        score={"initial": 100, "floor": None, "ceiling": None, "unit": "household"},
        households={"mean_size": 3.0},
    )
    run = simulate(reg, population=3_000, days=40, seed=6)
    per_house = run.agents.group_by("household").agg(pl.col("score").n_unique())
    assert (per_house["score"] == 1).all()
    # Each recorded event moves every member: the total drop is points x members.
    size = run.agents.group_by("household").len()
    ev = run.events.join(run.agents.select("agent", "household"), on="agent").join(
        size, on="household"
    )
    drop = (ev["points"] * ev["len"]).sum()
    assert math.isclose(run.agents["score"].sum() - 100 * 3_000, drop)


def test_unenrolled_agents_are_never_scored():
    reg = regime(enrolment={"share": 0.3})
    run = simulate(reg, population=5_000, days=60, seed=7)
    out = run.agents.filter(~pl.col("enrolled"))
    assert (out["score"] == 100).all()
    share = run.summary["enrolled"] / 5_000
    assert abs(share - 0.3) < Z * math.sqrt(0.3 * 0.7 / 5_000)
    assert (run.agents.filter(pl.col("enrolled"))["score"] < 100).any()


def test_false_matches_land_on_groups_by_share_times_multiplier():
    reg = regime(
        behaviours={"offence": {"rate": 0.2}},
        observers=[
            {
                "name": "cam",
                "watches": ["offence"],
                "detection": 0.5,
                "false_match_rate": 1e-4,
                "gallery": 1_000,
            }
        ],
        groups=[
            {"name": "men", "share": 0.5},
            {"name": "women", "share": 0.5, "false_match_multiplier": 3.0},
        ],
    )
    run = simulate(reg, population=20_000, days=20, seed=8)
    ev = run.events.filter(pl.col("false")).join(run.agents.select("agent", "group"), on="agent")
    got = ev["group"].cast(str).value_counts()
    counts = dict(zip(got["group"], got["count"], strict=True))
    total = counts["men"] + counts["women"]
    # Targets: share x multiplier -> 1/4 men, 3/4 women.
    assert abs(counts["women"] / total - 0.75) < Z * math.sqrt(0.75 * 0.25 / total)
    # Half the searches miss the doer; of those, an impostor comes back with the FPIR
    # of the doer's group, from the per-comparison rate times its multiplier.
    fpir = [1 - (1 - 1e-4 * m) ** 1_000 for m in (1, 3)]
    expected = 20_000 * 20 * 0.2 * 0.5 * (0.5 * fpir[0] + 0.5 * fpir[1])
    assert abs(total - expected) < Z * math.sqrt(expected)


def test_attribute_errors_stay_in_the_household():
    reg = regime(
        behaviours={"offence": {"rate": 0.1}},
        observers=[{"name": "platform", "watches": ["offence"], "attribute_error": 0.3}],
        households={"mean_size": 3.0},
    )
    run = simulate(reg, population=5_000, days=20, seed=9)
    ev = run.events.join(run.agents.select("agent", "household"), on="agent").join(
        run.agents.select(pl.col("agent").alias("doer"), pl.col("household").alias("dh")),
        on="doer",
    )
    wrong = ev.filter(pl.col("false"))
    assert (wrong["household"] == wrong["dh"]).all()
    # 30% of events of doers with company (mean size 3: most of them) are misattributed.
    assert 0.15 < wrong.height / ev.height < 0.3


def test_false_accusations_follow_rate_and_bias():
    reg = regime(
        behaviours={"religion": {"rate": 0.0}},
        observers=[
            {
                "name": "neighbours",
                "watches": ["religion"],
                "false_accusations": {"rate": 0.001, "behaviour": "religion"},
            }
        ],
        rules=[{"on": "religion", "points": -10}],
        groups=[
            {"name": "a", "share": 0.8},
            {"name": "b", "share": 0.2, "accusation_multiplier": 4.0},
        ],
    )
    n, days = 20_000, 30
    run = simulate(reg, population=n, days=days, seed=10)
    assert run.summary["events_true.religion"] == 0
    accused = run.events
    assert (accused["doer"] == -1).all() and accused["false"].all()
    expected = n * days * 0.001 * (0.8 * 1 + 0.2 * 4)
    assert abs(accused.height - expected) < Z * math.sqrt(expected)
    groups = accused.join(run.agents.select("agent", "group"), on="agent")
    share_b = (groups["group"] == "b").mean()
    assert abs(share_b - 0.5) < 0.05  # 0.2 x 4 against 0.8 x 1
    assert run.summary["wrongful_penalties"] == accused.height


def test_capacity_queue_waits_instead_of_expiring():
    base = {"behaviours": {"offence": {"rate": 0.05}}}
    obs = {"name": "cam", "watches": ["offence"], "capacity_per_day": 40}
    expire = simulate(regime(**base, observers=[obs]), population=1_000, days=30, seed=11)
    wait = simulate(
        regime(**base, observers=[{**obs, "queue": "wait"}]), population=1_000, days=30, seed=11
    )
    for run in (expire, wait):
        assert (overall(run)["events_recorded.offence"] <= 40).all()
    # 50 events a day against 40 searches: the queue grows, so every day is full, and
    # waiting events are recorded late.
    assert (overall(wait)["events_recorded.offence"][1:] == 40).all()
    late = wait.events.filter(pl.col("day_recorded") > pl.col("day_happened"))
    assert late.height > 0
    assert expire.events.filter(pl.col("day_recorded") > pl.col("day_happened")).height == 0


def test_matcher_presets_set_detection_and_false_match_rate():
    reg = regime(
        observers=[{"name": "cam", "watches": ["offence"], "matcher": "nist-frte-2026-median"}]
    )
    obs = reg.observers[0]
    assert obs.detection == pytest.approx(1 - 0.011)
    assert obs.false_match_rate == pytest.approx(1 - (1 - 0.003) ** (1 / 12e6))


def test_adaptive_coverage_runs_away_to_one_place():
    reg = regime(
        behaviours={"offence": {"rate": 0.05}},
        places=[{"name": "north", "share": 0.5}, {"name": "south", "share": 0.5}],
        observers=[{"name": "cam", "watches": ["offence"], "coverage": 0.3, "adaptive": True}],
        rules=[],
    )
    tops = []
    for seed in range(8):
        run = simulate(reg, population=2_000, days=150, seed=seed)
        ev = run.events.join(run.agents.select("agent", "place"), on="agent")
        late = ev.filter(pl.col("day_recorded") >= 120)
        tops.append((late["place"] == "north").mean())
    tops = np.array(tops)
    # True events are split evenly; the records (and coverage) are not.
    lopsided = np.maximum(tops, 1 - tops)
    assert np.median(lopsided) > 0.75


def test_appeals_undo_points_of_won_appeals_only():
    reg = regime(
        behaviours={"offence": {"rate": 0.05}},
        observers=[
            {
                "name": "cam",
                "watches": ["offence"],
                "detection": 0.5,
                "false_match_rate": 1e-4,
                "gallery": 5_000,
            }
        ],
        appeals={
            "rate": 1.0,
            "delay_days": 5,
            "success_if_false": 1.0,
            "success_if_true": 0.0,
            "undoes": ["points"],
        },
        score={"initial": 100, "floor": None, "ceiling": None},
    )
    run = simulate(reg, population=3_000, days=40, seed=12)
    ev = run.events
    # Every deduction is appealed; only the false ones are won, 5 days later.
    assert run.summary["appeals_filed"] == ev.height
    won_by = ev.filter(pl.col("false") & (pl.col("day_recorded") < 35))
    assert run.summary["appeals_won"] == won_by.height
    true_loss = ev.filter(~pl.col("false")).group_by("agent").agg(pl.col("points").sum())
    pending = (
        ev.filter(pl.col("false") & (pl.col("day_recorded") >= 35))
        .group_by("agent")
        .agg(pl.col("points").sum().alias("pending"))
    )
    final = (
        run.agents.join(true_loss, on="agent", how="left")
        .join(pending, on="agent", how="left")
        .fill_null(0)
    )
    assert np.allclose(final["score"], 100 + final["points"] + final["pending"])


def test_family_sanction_falls_on_the_other_members():
    reg = regime(
        behaviours={"offence": {"rate": 0.01}},
        blacklist={"enter": [{"on": "offence"}]},
        sanctions=[{"name": "school", "applies_to": {"blacklisted": True, "family": True}}],
        households={"mean_size": 3.0},
    )
    run = simulate(reg, population=3_000, days=40, seed=13)
    a = run.agents
    listed_houses = a.filter(pl.col("listed")).select("household").unique()
    members = a.join(listed_houses, on="household")
    # Members of a household with a listed member, except those who carry it only
    # through themselves (a listed agent alone in its listed set).
    others = members.join(
        members.group_by("household").agg(pl.col("listed").sum().alias("n_listed")),
        on="household",
    ).filter(~pl.col("listed") | (pl.col("n_listed") > 1))
    assert run.summary["sanctioned.school"] == others.height > 0


def test_agents_frame_marks_exactly_the_wrongfully_sanctioned():
    reg = regime(
        behaviours={"offence": {"rate": 0.01}},
        observers=[
            {
                "name": "cam",
                "watches": ["offence"],
                "detection": 0.5,
                "false_match_rate": 2e-5,
                "gallery": 5_000,
            }
        ],
        blacklist={"enter": [{"on": "offence"}], "exit": {"after_days": 20}},
        sanctions=[
            {"name": "ban", "applies_to": "blacklisted"},
            {"name": "school", "applies_to": {"blacklisted": True, "family": True}},
        ],
        households={"mean_size": 3.0},
    )
    run = simulate(reg, population=5_000, days=40, seed=14)
    assert run.agents["wrongfully_sanctioned"].sum() == run.summary["wrongfully_sanctioned"] > 0
    assert run.agents["wrongfully_listed"].sum() == run.summary["wrongfully_listed"] > 0


def test_explain_names_every_cause_of_a_listing_and_nothing_else():
    reg = regime(
        behaviours={"offence": {"rate": 0.02}, "litter": {"rate": 0.05}},
        observers=[
            {
                "name": "cam",
                "watches": ["offence", "litter"],
                "detection": 0.5,
                "false_match_rate": 2e-5,
                "gallery": 3_000,
            }
        ],
        rules=[{"on": "offence", "points": -5}, {"on": "litter", "points": -1}],
        blacklist={"enter": [{"on": "offence"}]},
        sanctions=[{"name": "ban", "applies_to": "blacklisted"}],
    )
    run = simulate(reg, population=3_000, days=30, seed=15)
    listed = run.agents.filter(pl.col("listed"))["agent"].to_list()
    assert listed
    for agent in listed[:50]:
        why = run.explain(agent)
        (cause,) = why.causes
        entry_day = why.list_moves.filter(pl.col("move") == "entered_by_event")["day"].max()
        expected = run.events.filter(
            (pl.col("agent") == agent)
            & (pl.col("day_recorded") == entry_day)
            & (pl.col("behaviour") == "offence")
        )
        assert cause.events.height == expected.height > 0
        assert (cause.events["behaviour"] == "offence").all()
        assert (cause.events["true"] == ~expected["false"]).all()
        assert "FALSE" in why.text() or why.events["true"].all()
    unsanctioned = run.agents.filter(~pl.col("listed"))["agent"][0]
    assert run.explain(unsanctioned).causes == []
