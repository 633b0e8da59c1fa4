"""Behaviour change in the respond stage (issue 5): deterrence, chilling,
displacement and gaming; their keys, their signature results, and determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from scsim.engine.run import simulate
from scsim.errors import RegimeError
from scsim.regime import load_regime
from scsim.regime.loader import validate_mapping


def regime(behaviours, rules, watches, **changes):
    data = {
        "name": "respond",
        "grades": [{"name": "A", "min": 900}, {"name": "D"}],
        "behaviours": behaviours,
        "observers": [{"name": "cam", "watches": watches, "coverage": 0.9}] if watches else [],
        "rules": rules,
    }
    data.update(changes)
    return validate_mapping(data, "<test>")


def overall(run) -> pl.DataFrame:
    return run.daily.filter(pl.col("group") == "all")


# A crossing of 20,000 passers-by, 1% of whom jaywalk on a day: about 200 offences a
# day. Cameras record 90% of them at -20 points, and the records are displayed to all
# (seen: everyone); sensitivity 15 with a 30-day memory brings the crossing to ~20 a day.
CROSSING = {
    "jaywalk": {
        "rate": 0.01,
        "deterrence": {"sensitivity": 15, "memory_days": 30, "seen": "everyone"},
        "displaced_to": "unwatched_crossing",
    },
    "unwatched_crossing": {"rate": 0.0005},
}


def test_displayed_offences_deter_from_200_to_about_20_a_day():
    reg = regime(CROSSING, [{"on": "jaywalk", "points": -20}], ["jaywalk"])
    day = overall(simulate(reg, population=20_000, days=90, seed=1))
    jay = day["events_true.jaywalk"].to_numpy()
    assert 150 < jay[0] < 250
    assert 10 < jay[-30:].mean() < 35
    chill = day["chilling.jaywalk"].to_numpy()
    assert chill[0] == 1.0 and 0.05 < chill[-1] < 0.2
    # the deterred offences moved to the unwatched crossing
    moved = day["events_true.unwatched_crossing"].to_numpy()[-30:].mean()
    assert moved > 150


def test_without_display_the_crossing_stays_busy():
    plain = {"jaywalk": {"rate": 0.01}, "unwatched_crossing": {"rate": 0.0005}}
    reg = regime(plain, [{"on": "jaywalk", "points": -20}], ["jaywalk"])
    day = overall(simulate(reg, population=20_000, days=30, seed=1))
    assert 170 < day["events_true.jaywalk"].to_numpy()[-10:].mean() < 230
    assert "chilling.jaywalk" not in day.columns  # measured only under responses


def _speech(penalised: bool, observed: bool):
    beh = {
        "illegal_post": {"rate": 0.02},
        "critical_post": {"rate": 0.02},
    }
    if penalised:
        beh["illegal_post"]["deterrence"] = {"sensitivity": 5, "memory_days": 30}
        beh["critical_post"]["chilled_by"] = {"behaviour": "illegal_post", "share": 0.5}
    rules = [{"on": "illegal_post", "points": -20 if penalised else 0}]
    return regime(beh, rules, ["illegal_post"] if observed else [])


@pytest.mark.parametrize(("penalised", "observed"), [(False, True), (True, False), (True, True)])
def test_chilling_lowers_a_legal_behaviour_only_when_its_neighbour_is_penalised_and_observed(
    penalised, observed
):
    day = overall(simulate(_speech(penalised, observed), population=10_000, days=60, seed=2))
    if "chilling.critical_post" not in day.columns:  # nothing responds: rates stay
        day = day.with_columns(pl.lit(1.0).alias("chilling.critical_post"))
    legal = day["chilling.critical_post"].to_numpy()
    events = day["events_true.critical_post"].to_numpy()
    if penalised and observed:
        assert legal[-1] < 0.7 and events[-10:].mean() < 0.8 * events[:3].mean()
    else:  # rate x multiplier summed over agents: 1 up to rounding
        assert np.allclose(legal, 1.0, rtol=0, atol=1e-9)


def test_gaming_raises_scores_and_leaves_penalised_behaviours_as_they_were():
    beh = {
        "offence": {"rate": 0.01},
        "read_paper": {"rate": 0.001},
    }
    rules = [{"on": "offence", "points": -5}, {"on": "read_paper", "points": 1}]
    plain = regime(beh, rules, ["offence", "read_paper"])
    gamed = {**beh, "read_paper": {"rate": 0.001, "gaming": {"uptake": 0.002, "rate": 1}}}
    bots = regime(gamed, rules, ["offence", "read_paper"])
    a = overall(simulate(plain, population=10_000, days=60, seed=3))
    b = overall(simulate(bots, population=10_000, days=60, seed=3))
    assert (a["events_true.offence"] == b["events_true.offence"]).all()
    assert (a["events_recorded.offence"] == b["events_recorded.offence"]).all()
    assert b["mean_score"][-1] > a["mean_score"][-1] + 1
    assert 0 < b["gaming_share"][-1] < 0.2 and "gaming_share" not in a.columns
    assert b["chilling.read_paper"][-1] > 10


def test_detected_bots_score_nothing():
    beh = {"read_paper": {"rate": 0.0, "gaming": {"uptake": 0.01, "rate": 1, "detected": 1}}}
    reg = regime(beh, [{"on": "read_paper", "points": 1}], ["read_paper"])
    day = overall(simulate(reg, population=5_000, days=20, seed=4))
    assert day["events_true.read_paper"].sum() > 0
    assert day["events_recorded.read_paper"].sum() == 0 and day["mean_score"][-1] == 1000


def test_friends_deterrence_spreads_along_ties():
    beh = {
        "post": {"rate": 0.02, "deterrence": {"sensitivity": 2, "memory_days": 20}},
        "chat": {"rate": 0.02, "chilled_by": {"behaviour": "post", "share": 1.0}},
    }
    reg = regime(beh, [{"on": "post", "points": -10}], ["post"])
    day = overall(simulate(reg, population=10_000, days=40, seed=5))
    post = day["chilling.post"].to_numpy()
    assert post[0] == pytest.approx(1.0, abs=1e-9) and post[-1] < 0.8
    # a full spill: the chat's multiplier is the post's
    assert day["chilling.chat"][-1] == pytest.approx(post[-1], abs=0.02)


def _busy():
    beh = {
        "post": {"rate": 0.03, "spread": 0.5, "deterrence": {"sensitivity": 2}},
        "chat": {"rate": 0.02, "chilled_by": {"behaviour": "post", "share": 0.5}},
        "jaywalk": {
            "rate": 0.01,
            "deterrence": {"sensitivity": 10, "seen": "everyone"},
            "displaced_to": "chat",
        },
        "read_paper": {"rate": 0.001, "gaming": {"uptake": 0.002, "rate": 1, "detected": 0.3}},
    }
    rules = [
        {"on": "post", "points": -10},
        {"on": "jaywalk", "points": -5},
        {"on": "read_paper", "points": 1},
    ]
    return regime(
        beh,
        rules,
        ["post", "jaywalk", "read_paper"],
        groups=[{"name": "x", "share": 0.7}, {"name": "y", "share": 0.3}],
        network={"degree": 6, "distancing": {"rate": 0.1, "from": {"low_grade": "D"}}},
    )


@pytest.mark.parametrize(("threads", "chunk"), [(1, 1 << 14), (2, 333), (1, 1)])
def test_responses_do_not_depend_on_threads_or_chunk_size(threads, chunk):
    ref = simulate(_busy(), population=4_000, days=25, seed=18, threads=2, chunk_size=997)
    assert overall(ref)["gaming_share"][-1] > 0
    run = simulate(_busy(), population=4_000, days=25, seed=18, threads=threads, chunk_size=chunk)
    assert_frame_equal(run.daily, ref.daily)
    assert_frame_equal(run.agents, ref.agents)


def test_without_responses_no_response_metrics():
    base = load_regime("rongcheng")
    assert not any(b.deterrence or b.chilled_by or b.gaming for b in base.behaviours.values())
    day = overall(simulate(base, population=3_000, days=10, seed=1))
    assert not any(c.startswith("chilling.") for c in day.columns)
    assert "gaming_share" not in day.columns


BASE = """\
name: resp
grades:
  - {name: A, min: 900}
  - {name: D}
behaviours:
  post:
    rate: 0.01
    deterrence: {sensitivity: 2, memory_days: 30, seen: friends}
    displaced_to: chat
  chat:
    rate: 0.01
    chilled_by: {behaviour: post, share: 0.5}
  read_paper:
    rate: 0.001
    gaming: {uptake: 0.01, rate: 1, detected: 0.1}
observers:
  - {name: cam, watches: [post, read_paper]}
rules:
  - {on: post, points: -10}
  - {on: read_paper, points: 1}
"""

BAD = [
    ("sensitivity: 2,", "sensitivity: 0,", 8, "behaviours.post.deterrence.sensitivity",
     "out of range", "> 0"),
    ("memory_days: 30,", "memory_days: 0,", 8, "behaviours.post.deterrence.memory_days",
     "out of range", "> 0"),
    ("seen: friends", "seen: family", 8, "behaviours.post.deterrence.seen", "not allowed",
     "'friends' or 'everyone'"),
    ("share: 0.5", "share: 1.5", 12, "behaviours.chat.chilled_by.share", "out of range", "<= 1"),
    ("{behaviour: post,", "{behaviour: chat,", 12, "behaviours.chat.chilled_by.behaviour",
     "without deterrence", "a behaviour with deterrence"),
    ("displaced_to: chat", "displaced_to: bus", 9, "behaviours.post.displaced_to",
     "unknown or same behaviour", "chat, post, read_paper"),
    ("uptake: 0.01,", "uptake: 2,", 15, "behaviours.read_paper.gaming.uptake", "out of range",
     "<= 1"),
    ("detected: 0.1", "detected: -0.1", 15, "behaviours.read_paper.gaming.detected",
     "out of range", ">= 0"),
    ("{on: post, points: -10}", "{on: post, points: 10}", 8, "behaviours.post.deterrence",
     "costs no points", "negative points"),
    ("{on: read_paper, points: 1}", "{on: read_paper, points: -1}", 15,
     "behaviours.read_paper.gaming", "earns no points", "positive points"),
]  # fmt: skip


def test_response_keys_load_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(BASE, encoding="utf-8")
    reg = load_regime(path)
    post = reg.behaviours["post"]
    assert post.deterrence is not None and post.deterrence.seen == "friends"
    assert post.displaced_to == "chat"
    assert reg.behaviours["chat"].chilled_by is not None
    assert reg.behaviours["read_paper"].gaming is not None
    path.write_text(reg.to_yaml(), encoding="utf-8")
    assert load_regime(path) == reg


@pytest.mark.parametrize(("old", "new", "line", "key", "problem", "allowed"), BAD)
def test_bad_response_values_are_refused_with_location(
    tmp_path: Path, old: str, new: str, line: int, key: str, problem: str, allowed: str
) -> None:
    assert BASE.count(old) == 1, old
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace(old, new), encoding="utf-8")
    with pytest.raises(RegimeError) as info:
        load_regime(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert problem in message and "allowed: " in message and allowed in message, message
