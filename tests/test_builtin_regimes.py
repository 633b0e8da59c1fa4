"""The built-in regimes: each loads, validates, round-trips, marks its guesses, runs
10,000 agents for a year, and shows its signature behaviour.

Each regime is simulated once (module-scoped fixtures); the signature tests read those
runs. A few mechanisms are too rare at 10,000 agents and one year to be seen (three
dog penalties, a court debtor paying); their tests run the regime with the rates
raised by ``--set`` overrides, and say so.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

import scsim
from scsim.regime import Regime, builtin_names, load_regime

N = 10_000
DAYS = 365
SEED = 1

ISSUE_3 = [
    "rongcheng",
    "rongcheng-2021",
    "rongcheng-neighbourhood",
    "sesame",
    "court-blacklist",
    "jinan-dogs",
    "debtor-ringtone",
    "jaywalking-cameras",
    "national",
]


def text_of(name: str) -> str:
    return resources.files("scsim.regime").joinpath(f"builtin/{name}.yaml").read_text()


_runs: dict[tuple[str, tuple[str, ...]], scsim.Run] = {}


def run_of(name: str, *overrides: str, population: int = N) -> scsim.Run:
    key = (name, (*overrides, f"n={population}"))
    if key not in _runs:
        regime = load_regime(name, overrides)
        _runs[key] = scsim.simulate(regime, population=population, days=DAYS, seed=SEED)
    return _runs[key]


def overall(run: scsim.Run) -> pl.DataFrame:
    return run.daily.filter(pl.col("group") == "all").sort("day")


def events(run: scsim.Run) -> pl.DataFrame:
    assert run.events is not None
    return run.events.with_columns(
        pl.col("behaviour").cast(pl.Utf8), pl.col("observer").cast(pl.Utf8)
    )


# ----------------------------------------------------------------- every regime


def test_every_regime_of_issue_3_is_built_in() -> None:
    assert set(ISSUE_3) <= set(builtin_names())


@pytest.mark.parametrize("name", builtin_names())
def test_loads_validates_and_round_trips(name: str, tmp_path: Path) -> None:
    regime = load_regime(name)
    assert regime.name == name
    assert regime.description and regime.sources
    path = tmp_path / f"{name}.yaml"
    path.write_text(regime.to_yaml(), encoding="utf-8")
    again = load_regime(path)
    assert again == regime and again.content_hash() == regime.content_hash()
    assert Regime.model_validate(regime.model_dump(mode="json")) == regime


@pytest.mark.parametrize("name", builtin_names())
def test_every_rate_says_where_it_comes_from(name: str) -> None:
    # A behaviour's rate is never sourced: every rate line says it is a guess.
    lines = text_of(name).splitlines()
    rate_lines = [ln for ln in lines if re.match(r"\s+[a-z_]+: \{rate:", ln)]
    assert rate_lines
    unmarked = [ln for ln in rate_lines if "# guess" not in ln and "# model" not in ln]
    assert unmarked == []


@pytest.mark.parametrize("name", builtin_names())
def test_no_regime_waits_for_behaviour_change(name: str) -> None:
    # Behaviour change exists: no built-in may still say it is missing.
    assert "issue 5" not in text_of(name)


def test_every_built_in_figure_is_marked_and_the_provenance_doc_is_current() -> None:
    from scsim.regime.provenance import figures

    root = Path(__file__).parents[1]
    files = sorted((root / "src" / "scsim").glob("*/builtin/*.yaml"))
    assert len(files) >= len(builtin_names())
    unmarked = [
        (path.name, f.key)
        for path in files
        for f in figures(path.read_text(encoding="utf-8"))
        if f.kind == "unmarked"
    ]
    assert unmarked == []
    script = root / "scripts" / "provenance.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", builtin_names())
def test_runs_ten_thousand_agents_for_a_year(name: str) -> None:
    run = run_of(name)
    daily = overall(run)
    assert daily.height == DAYS
    assert run.agents.height == N
    regime = load_regime(name)
    scores = run.agents["score"]
    if regime.score.floor is not None:
        assert scores.min() >= regime.score.floor
    if regime.score.ceiling is not None:
        assert scores.max() <= regime.score.ceiling
    true_events = sum(run.summary[f"events_true.{b}"] for b in regime.behaviours)
    assert true_events > 0


# ------------------------------------------------------------------- signatures


def test_rongcheng_drunk_driving_sends_to_grade_c() -> None:
    run = run_of("rongcheng", "behaviours.drunk_driving.rate=0.001")
    ev = events(run)  # false matches too: their points land on the agent all the same
    drunk = ev.filter(pl.col("behaviour") == "drunk_driving")
    assert drunk.height > 0
    first = drunk.group_by("agent").agg(pl.col("day_recorded").min().alias("day"))
    later_gains = (
        ev.filter(pl.col("points") > 0)
        .join(first, on="agent")
        .filter(pl.col("day_recorded") > pl.col("day"))
        .group_by("agent")
        .agg(pl.col("points").sum().alias("gain"))
    )
    check = (
        first.join(later_gains, on="agent", how="left")
        .with_columns(pl.col("gain").fill_null(0.0))
        .join(run.agents.select("agent", "score"), on="agent")
    )
    # After a drunk-driving record the score is at most 849 (grade C), and only later
    # recorded good deeds can lift it.
    over = check.filter(pl.col("score") > 849 + pl.col("gain"))
    assert over.height == 0, over


def test_rongcheng_2021_scores_nobody_who_did_not_opt_in() -> None:
    run = run_of("rongcheng-2021")
    a = run.agents
    out = a.filter(~pl.col("enrolled"))
    assert 0 < out.height < a.height
    assert (out["score"] == 1000).all()
    # The enrolled are scored (else the check above would be empty of meaning).
    assert (a.filter(pl.col("enrolled"))["score"] != 1000).any()


def test_rongcheng_2021_sanctions_come_only_from_the_courts() -> None:
    regime = load_regime("rongcheng-2021")
    assert all(not s.applies_to.grades for s in regime.sanctions)
    daily = overall(run_of("rongcheng-2021"))
    assert (daily["sanctioned.loan_restrictions"] == daily["listed.blacklist"]).all()
    assert daily["listed.blacklist"].max() > 0


def test_neighbourhood_scores_households() -> None:
    run = run_of("rongcheng-neighbourhood")
    per_household = run.agents.group_by("household").agg(pl.col("score").n_unique())
    assert (per_household["score"] == 1).all()
    assert run.agents["household"].n_unique() < run.agents.height  # households exist
    assert (run.agents["score"] != 100).any()


def test_neighbourhood_false_accusations_fall_on_believers() -> None:
    run = run_of("rongcheng-neighbourhood", "observers.1.false_accusations.rate=1.0e-4")
    ev = events(run).filter(pl.col("false") & (pl.col("observer") == "neighbours"))
    groups = run.agents.select("agent", pl.col("group").cast(pl.Utf8))
    sizes = dict(groups.group_by("group").len().iter_rows())
    hits = dict(ev.join(groups, on="agent").group_by("group").len().iter_rows())
    per_capita = {g: hits.get(g, 0) / sizes[g] for g in sizes}
    # accusation_multiplier 5: five times the false reports per person.
    assert per_capita["believers"] > 2.5 * per_capita["majority"] > 0


def test_sesame_most_users_score_500_to_600() -> None:
    run = run_of("sesame")
    users = run.agents.filter(pl.col("enrolled"))
    share = users.filter(pl.col("score").is_between(500, 600)).height / users.height
    assert 0.5 < share < 0.9
    assert users.filter(pl.col("score") >= 600).height > 0  # perks are reachable


def test_sesame_scores_nobody_who_did_not_opt_in() -> None:
    run = run_of("sesame")
    out = run.agents.filter(~pl.col("enrolled"))
    assert out.height > 0
    assert (out["score"] == 550).all()


def test_court_blacklist_payers_leave_but_not_always_and_not_at_once() -> None:
    # Listing and paying are raised so that 10,000 agents show them in a year.
    run = run_of(
        "court-blacklist",
        "behaviours.able_to_pay_refuses.rate=1.0e-4",
        "blacklist.exit.cure.rate=0.02",
    )
    daily = overall(run)
    regime = load_regime("court-blacklist")
    cure = regime.blacklist.exit.cure  # type: ignore[union-attr]
    assert cure is not None and cure.removal_probability < 1 and cure.delay_days > 0
    exits = daily["list_exits"].sum()
    assert exits > 0  # payers leave (no term ends within a year: every exit is a cure)
    assert daily["cured_still_listed"][-1] > 0  # some paid and are still listed
    first_entry = daily.filter(pl.col("list_entries") > 0)["day"].min()
    first_exit = daily.filter(pl.col("list_exits") > 0)["day"].min()
    assert first_exit >= first_entry + cure.delay_days  # not at once
    # Not always: of everyone who paid, about a fifth stay listed.
    still = daily["cured_still_listed"][-1]
    assert 0.05 < still / (still + exits) < 0.5


def test_court_blacklist_restrictions_and_childrens_schools() -> None:
    run = run_of("court-blacklist", "behaviours.able_to_pay_refuses.rate=1.0e-4")
    daily = overall(run)
    listed = daily["listed.blacklist"]
    assert listed[-1] > 0
    for name in ("flight_ban", "fast_train_ban", "star_hotel_ban"):
        assert (daily[f"sanctioned.{name}"] == listed).all()
    assert family_count(run, "blacklist") == daily["sanctioned.children_private_school_refused"][-1]


def family_count(run: scsim.Run, list_name: str) -> int:
    """Agents with another member of their household on the list."""
    a = run.agents.with_columns(pl.col(f"listed.{list_name}").cast(pl.Int64).alias("on"))
    per = a.group_by("household").agg(pl.col("on").sum().alias("listed_here"))
    a = a.join(per, on="household")
    return a.filter(pl.col("listed_here") - pl.col("on") > 0).height


def test_jinan_dogs_confiscated_only_after_three_penalties_in_two_years() -> None:
    # Offences raised so that a year of 10,000 owners has confiscations to check.
    run = run_of("jinan-dogs", "behaviours.unleashed_or_nuisance.rate=0.004")
    penalties = events(run).filter(pl.col("points") < 0)
    # Within one year any three penalties fall within 730 days, and a five-year ban
    # has not ended: the confiscated are exactly the owners with three penalties.
    three = set(penalties.group_by("agent").len().filter(pl.col("len") >= 3)["agent"])
    confiscated = set(run.agents.filter(pl.col("listed.confiscated"))["agent"])
    assert confiscated and confiscated == three


def test_jinan_dogs_escalation_and_held_dogs() -> None:
    run = run_of("jinan-dogs", "behaviours.unleashed_or_nuisance.rate=0.004")
    offences = (
        events(run).filter(pl.col("behaviour") == "unleashed_or_nuisance").sort("day_recorded")
    )
    firsts = offences.group_by("agent", maintain_order=True).agg(pl.col("points").first())
    assert (firsts["points"] == -3).all()
    later = offences.filter(pl.col("points") == -6)
    assert later.height > 0
    daily = overall(run)
    assert daily["listed.held"].max() > 0
    moves = run.transitions
    assert moves is not None
    back = moves.filter(pl.col("from_grade").cast(pl.Utf8) == "zero")
    assert back.height > 0  # held dogs come back with 12 points (reset_score)


def test_debtor_ringtone_rings_for_every_listed_debtor() -> None:
    run = run_of("debtor-ringtone", "behaviours.unpaid_judgment.rate=1.0e-4")
    daily = overall(run)
    assert daily["listed.blacklist"][-1] > 0
    assert (daily["sanctioned.ringtone"] == daily["listed.blacklist"]).all()


def test_debtor_ringtone_callers_drop_ties_to_listed_debtors() -> None:
    run = run_of("debtor-ringtone", "behaviours.unpaid_judgment.rate=1.0e-4")
    daily = overall(run)
    dropped = int(daily["ties_dropped"].sum())
    assert dropped > 0
    nobody_listed = run_of("debtor-ringtone", "behaviours.unpaid_judgment.rate=0")
    assert int(overall(nobody_listed)["ties_dropped"].sum()) == 0
    # Only ties to the listed drop: at most degree x listed-days x rate, in expectation.
    listed_days = int(daily["listed.blacklist"].sum())
    assert dropped < 3 * 20 * listed_days * 0.005 + 10


def test_jaywalking_cameras_fall_from_200_to_about_20_a_day() -> None:
    # The one reported response figure (Jinan), to which the deterrence is tuned.
    run = run_of("jaywalking-cameras", population=200_000)
    rec = overall(run)["recorded_by.crossing_cameras"].to_list()
    first_week = sum(rec[6:13]) / 7  # events of days 0-6: nobody has seen the screen yet
    last = sum(rec[-30:]) / 30
    assert 160 < first_week < 240
    assert 12 < last < 30
    chill = overall(run)["chilling.jaywalking"].to_list()
    assert chill[0] == 1.0 and chill[-1] < 0.2
    # Displacement: every deterred crossing happens at an unwatched one instead.
    assert run.summary["events_true.jaywalking_elsewhere"] > 0


def test_jaywalking_cameras_match_late_and_only_at_the_crossing() -> None:
    run = run_of("jaywalking-cameras")
    regime = load_regime("jaywalking-cameras")
    cams = regime.observers[0]
    ev = events(run).filter(pl.col("observer") == "crossing_cameras")
    assert ev.height > 0
    assert ev["day_recorded"].min() >= cams.latency_days  # six days late
    per_day = ev.group_by("day_recorded").len()
    assert per_day["len"].max() <= cams.capacity_per_day  # type: ignore[operator]
    places = run.agents.select("agent", pl.col("place").cast(pl.Utf8))
    true = ev.filter(~pl.col("false")).join(places, on="agent")
    assert (true["place"] == "camera_crossing").all()  # no cameras elsewhere
    daily = overall(run)
    assert (daily["sanctioned.public_display"] == daily["listed.displayed"]).all()


def test_national_family_members_of_listed_agents_carry_the_family_sanction() -> None:
    run = run_of("national", "behaviours.unpaid_judgment.rate=1.0e-4")
    daily = overall(run)
    assert daily["listed.blacklist"][-1] > 0
    expected = family_count(run, "blacklist")
    assert expected > 0
    assert daily["sanctioned.family_jobs_refused"][-1] == expected


def test_national_chills_speech_games_the_paper_and_drops_ties() -> None:
    daily = overall(run_of("national"))
    for b in ("political_speech", "petitioning", "critical_comment", "true_news_disliked"):
        assert daily[f"chilling.{b}"][-1] < 0.95, b
    # Lawful posts shrink half as much as the critical comments they sit next to.
    crit, lawful = daily["chilling.critical_comment"][-1], daily["chilling.lawful_post"][-1]
    assert lawful == pytest.approx(1 - 0.5 * (1 - crit), abs=0.02)
    assert daily["gaming_share"][-1] > 0
    assert daily["ties_dropped"].sum() > 0


def test_sesame_friends_pull_scores_down_only() -> None:
    down = run_of("sesame", "network.liability=0.05")
    both = run_of("sesame", "network.liability=0.05", "network.liability_direction=both")
    users = down.agents.filter(pl.col("enrolled"))
    users_both = both.agents.filter(pl.col("enrolled"))
    assert users["score"].mean() < users_both["score"].mean()


def test_national_speech_costs_and_reading_earns_with_a_cap() -> None:
    run = run_of("national")
    ev = events(run)
    speech = ev.filter(pl.col("behaviour").is_in(["political_speech", "critical_comment"]))
    assert speech.height > 0 and (speech["points"] < 0).all()
    reading = ev.filter((pl.col("behaviour") == "reads_party_paper") & (pl.col("points") > 0))
    per_agent = reading.group_by("agent").len()
    assert per_agent["len"].max() <= 100  # max_per_year
