"""The keys added for issues 3 and 4: each loads with its meaning, old files keep
theirs, and each bad value is refused with file:line, the dotted key and what is
allowed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from refusal import assert_refused_at
from scsim.regime import (
    Blacklist,
    EnterOnEvent,
    EnterOnGrade,
    ListSpec,
    Regime,
    load_regime,
)
from scsim.regime.schema import MATCHERS

FULL = """\
name: full
score: {initial: 12, floor: 0, unit: household}
grades:
  - {name: licensed, min: 1}
  - {name: zero}
behaviours:
  unleashed: {rate: 0.001}
  missed_check: {rate: 0.0001}
  abuse: {rate: 0.0001}
places:
  - {name: north, share: 0.25}
  - {name: south, share: 0.75}
observers:
  - name: cameras
    kind: camera
    watches: [unleashed]
    matcher: nist-frte-2026-median
    coverage: {north: 0.5}
    capacity_per_day: 100
    queue: wait
    adaptive: true
  - name: neighbours
    kind: informant
    watches: [abuse]
    matcher: nistir-8238-2014
    detection: 0.5
    attribute_error: 0.1
    false_accusations: {rate: 1.0e-5, behaviour: abuse}
  - name: vets
    watches: [missed_check]
rules:
  - {on: unleashed, points: [-3, -6]}
  - {on: missed_check, points: -12}
  - {on: abuse, points: -1, at_most: 5}
blacklist:
  enter: [{on: abuse}]
lists:
  - name: held
    enter: [{grade: zero, for_days: 1}]
    exit: {after_days: 30, reset_score: true}
  - name: confiscated
    enter:
      - on: [unleashed, missed_check]
        count: 3
        within_days: 730
        term_days: 1825
        serious_share: 0.1
        serious_extra_days: [365, 1095]
    exit: {cure: {rate: 0.01, delay_days: 3, removal_probability: 0.8}}
sanctions:
  - {name: no_dog, applies_to: {lists: [confiscated]}, by: police}
  - {name: school, applies_to: {lists: [held], family: true}, by: schools}
  - {name: fly, applies_to: blacklisted, by: airlines}
groups:
  - {name: a, share: 0.5, accusation_multiplier: 3, appeal_multiplier: 0.5}
  - {name: b, share: 0.5}
enrolment: {share: 0.3}
population: 100000
appeals: {rate: 0.1, delay_days: 10, success_if_false: 0.9, undoes: [points]}
"""

MINIMAL = "name: tiny\ngrades: [{name: A}]\nbehaviours: {x: {rate: 0.1}}\n"


def write(tmp_path: Path, text: str, name: str = "regime.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def replace(old: str, new: str) -> str:
    assert FULL.count(old) == 1, old
    return FULL.replace(old, new)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Regime:
    return load_regime(write(tmp_path_factory.mktemp("full"), FULL))


# ----------------------------------------------------------------- meanings


def test_defaults_keep_old_files_meaning(tmp_path: Path) -> None:
    r = load_regime(write(tmp_path, MINIMAL))
    assert r.score.unit == "person"
    assert r.enrolment.share == 1.0
    assert r.population is None
    assert [(p.name, p.share) for p in r.places] == [("everywhere", 1.0)]
    assert r.lists == [] and r.all_lists == [] and r.appeals is None
    assert r.groups[0].accusation_multiplier == 1.0 and r.groups[0].appeal_multiplier == 1.0


def test_old_keys_keep_their_shapes(tmp_path: Path) -> None:
    text = MINIMAL + (
        "observers: [{name: o, watches: [x], coverage: 0.5}]\n"
        "rules: [{on: x, points: -5}]\n"
        "blacklist: {enter: [{on: x}], exit: {after_days: 30}}\n"
        "sanctions: [{name: s, applies_to: blacklisted}]\n"
    )
    r = load_regime(write(tmp_path, text))
    obs = r.observers[0]
    assert obs.coverage == 0.5 and isinstance(obs.coverage, float)
    assert (obs.kind, obs.matcher, obs.queue, obs.adaptive) == ("generic", None, "expire", False)
    assert (obs.detection, obs.false_match_rate, obs.attribute_error) == (1.0, 0.0, 0.0)
    assert obs.false_accusations is None
    assert r.rules[0].points == -5 and r.rules[0].at_most is None
    assert r.blacklist is not None and r.blacklist.name == "blacklist"
    cond = r.blacklist.enter[0]
    assert cond == EnterOnEvent(on=["x"])
    assert (cond.count, cond.within_days, cond.term_days) == (1, None, None)
    assert (cond.serious_share, cond.serious_extra_days) == (0.0, [0, 0])
    assert r.blacklist.exit.cure is None and r.blacklist.exit.reset_score is False
    applies = r.sanctions[0].applies_to
    assert applies.blacklisted and applies.lists == [] and applies.family is False
    assert r.sanctions[0].by == ""


def test_household_unit_and_enrolment_and_population(full: Regime) -> None:
    assert full.score.unit == "household"
    assert full.enrolment.share == 0.3
    assert full.population == 100_000


def test_places_and_per_place_coverage(full: Regime) -> None:
    assert [(p.name, p.share) for p in full.places] == [("north", 0.25), ("south", 0.75)]
    assert full.observers[0].coverage == {"north": 0.5}  # south missing: 0


def test_matcher_presets_fill_what_the_file_leaves_out(full: Regime) -> None:
    cams, neighbours = full.observers[0], full.observers[1]
    assert cams.matcher == "nist-frte-2026-median"
    assert cams.detection == pytest.approx(1 - 0.011)
    assert cams.false_match_rate == pytest.approx(1 - (1 - 0.003) ** (1 / 12e6), rel=1e-6)
    # Explicit detection wins over the preset; the false-match rate still comes from it.
    assert neighbours.detection == 0.5
    assert neighbours.false_match_rate == MATCHERS["nistir-8238-2014"][1]


def test_matcher_table() -> None:
    fnir = {
        "nist-frte-2026-best": 0.0007,
        "nist-frte-2026-median": 0.011,
        "nist-frte-2026-p90": 0.068,
        "nistir-8238-2018": 0.002,
        "nistir-8238-2014": 0.04,
    }
    assert set(MATCHERS) == set(fnir)
    for name, (detection, fmr) in MATCHERS.items():
        assert detection == pytest.approx(1 - fnir[name])
        # 12M comparisons at this rate give an FPIR of 0.003.
        assert -math.expm1(12e6 * math.log1p(-fmr)) == pytest.approx(0.003, rel=1e-9)
        assert 2.5e-10 < fmr < 2.51e-10


def test_observer_channels(full: Regime) -> None:
    cams, neighbours = full.observers[0], full.observers[1]
    assert (cams.kind, cams.queue, cams.adaptive) == ("camera", "wait", True)
    assert neighbours.kind == "informant" and neighbours.attribute_error == 0.1
    fa = neighbours.false_accusations
    assert fa is not None and (fa.rate, fa.behaviour) == (1e-5, "abuse")


def test_escalation_and_at_most(full: Regime) -> None:
    assert full.rules[0].points == [-3, -6]
    assert full.rules[1].points == -12
    assert full.rules[2].at_most == 5


def test_lists(full: Regime) -> None:
    assert [spec.name for spec in full.all_lists] == ["blacklist", "held", "confiscated"]
    assert all(isinstance(spec, ListSpec) for spec in full.all_lists)
    assert isinstance(full.all_lists[0], Blacklist)
    held, confiscated = full.lists
    assert held.enter == [EnterOnGrade(grade="zero", for_days=1)]
    assert held.exit.after_days == 30 and held.exit.reset_score is True
    cond = confiscated.enter[0]
    assert isinstance(cond, EnterOnEvent)
    assert cond.on == ["unleashed", "missed_check"]
    assert (cond.count, cond.within_days, cond.term_days) == (3, 730, 1825)
    assert (cond.serious_share, cond.serious_extra_days) == (0.1, [365, 1095])
    cure = confiscated.exit.cure
    assert cure is not None
    assert (cure.rate, cure.delay_days, cure.removal_probability) == (0.01, 3, 0.8)
    assert full.blacklist is not None and full.blacklist.enter[0].on == ["abuse"]


def test_a_list_named_blacklist_under_lists_serves_blacklisted(tmp_path: Path) -> None:
    text = MINIMAL + (
        "lists: [{name: blacklist, enter: [{on: x}]}]\n"
        "sanctions: [{name: s, applies_to: blacklisted}]\n"
    )
    r = load_regime(write(tmp_path, text))
    assert r.blacklist is None and [s.name for s in r.all_lists] == ["blacklist"]


def test_sanctions_by_lists_and_family(full: Regime) -> None:
    no_dog, school, fly = full.sanctions
    assert no_dog.applies_to.lists == ["confiscated"] and no_dog.by == "police"
    assert school.applies_to.family is True and school.by == "schools"
    assert fly.applies_to.blacklisted is True and fly.by == "airlines"


def test_groups_and_appeals(full: Regime) -> None:
    a, b = full.groups
    assert (a.accusation_multiplier, a.appeal_multiplier) == (3, 0.5)
    assert (b.accusation_multiplier, b.appeal_multiplier) == (1, 1)
    ap = full.appeals
    assert ap is not None
    assert (ap.rate, ap.delay_days, ap.success_if_false, ap.success_if_true) == (0.1, 10, 0.9, 0.05)
    assert ap.undoes == ["points"]


def test_defaults_of_appeals(tmp_path: Path) -> None:
    r = load_regime(write(tmp_path, MINIMAL + "appeals: {rate: 0.2}\n"))
    assert r.appeals is not None
    assert (r.appeals.delay_days, r.appeals.success_if_false, r.appeals.success_if_true) == (
        30,
        0.5,
        0.05,
    )
    assert r.appeals.undoes == ["points", "listing"]


def test_full_round_trips(full: Regime, tmp_path: Path) -> None:
    text = full.to_yaml()
    again = load_regime(write(tmp_path, text, "again.yaml"))
    assert again == full and again.to_yaml() == text
    assert again.content_hash() == full.content_hash()


def test_overrides_reach_new_keys(tmp_path: Path) -> None:
    r = load_regime(
        write(tmp_path, FULL),
        ["lists.1.exit.cure.removal_probability=0.5", "observers.0.coverage.south=0.2"],
    )
    assert r.lists[1].exit.cure is not None and r.lists[1].exit.cure.removal_probability == 0.5
    assert r.observers[0].coverage == {"north": 0.5, "south": 0.2}


# ------------------------------------------------------------------ refusals

# (id, file text, line, dotted key, problem needle, allowed needle)
BAD = [
    (
        "unknown unit",
        replace("unit: household", "unit: family"),
        2,
        "score.unit",
        "not allowed (got 'family'",
        "'person' or 'household'",
    ),
    (
        "enrolment share above 1",
        replace("enrolment: {share: 0.3}", "enrolment: {share: 1.3}"),
        57,
        "enrolment.share",
        "out of range",
        "<= 1",
    ),
    (
        "population zero",
        replace("population: 100000", "population: 0"),
        58,
        "population",
        "out of range (got 0",
        "an integer >= 1",
    ),
    (
        "population a float",
        replace("population: 100000", "population: 1.4e9"),
        58,
        "population",
        "wrong type",
        "an integer",
    ),
    (
        "place shares not summing to 1",
        replace("{name: south, share: 0.75}", "{name: south, share: 0.7}"),
        10,
        "places",
        "place shares do not sum to 1",
        "within 1e-06",
    ),
    (
        "duplicate place",
        replace("{name: south, share", "{name: north, share"),
        12,
        "places.1.name",
        "duplicate place name",
        "not used before",
    ),
    (
        "coverage of an unknown place",
        replace("coverage: {north: 0.5}", "coverage: {west: 0.5}"),
        18,
        "observers.0.coverage.west",
        "unknown place",
        "north, south",
    ),
    (
        "coverage per place above 1",
        replace("coverage: {north: 0.5}", "coverage: {north: 1.5}"),
        18,
        "observers.0.coverage.north",
        "out of range",
        "<= 1",
    ),
    (
        "coverage a list",
        replace("coverage: {north: 0.5}", "coverage: [0.5]"),
        18,
        "observers.0.coverage",
        "wrong type",
        "a mapping of",
    ),
    (
        "unknown matcher",
        replace("matcher: nist-frte-2026-median", "matcher: nist-2026"),
        17,
        "observers.0.matcher",
        "not allowed (got 'nist-2026'",
        "'nist-frte-2026-best'",
    ),
    (
        "unknown kind",
        replace("kind: camera", "kind: drone"),
        15,
        "observers.0.kind",
        "not allowed",
        "'gait'",
    ),
    (
        "unknown queue",
        replace("queue: wait", "queue: drop"),
        20,
        "observers.0.queue",
        "not allowed",
        "'expire' or 'wait'",
    ),
    (
        "attribute error above 1",
        replace("attribute_error: 0.1", "attribute_error: 2"),
        27,
        "observers.1.attribute_error",
        "out of range",
        "<= 1",
    ),
    (
        "false accusations of a behaviour not watched",
        replace("behaviour: abuse}", "behaviour: unleashed}"),
        28,
        "observers.1.false_accusations.behaviour",
        "not a behaviour this observer watches",
        "abuse",
    ),
    (
        "false accusation rate negative",
        replace("{rate: 1.0e-5, behaviour", "{rate: -1.0e-5, behaviour"),
        28,
        "observers.1.false_accusations.rate",
        "out of range",
        ">= 0",
    ),
    (
        "adaptive not a boolean",
        replace("adaptive: true", "adaptive: 1"),
        21,
        "observers.0.adaptive",
        "wrong type",
        "true or false",
    ),
    (
        "escalation step out of range",
        replace("points: [-3, -6]", "points: [-3, -6000000]"),
        32,
        "rules.0.points.1",
        "out of range (got -6000000",
        ">= -1000000",
    ),
    (
        "empty escalation",
        replace("points: [-3, -6]", "points: []"),
        32,
        "rules.0.points",
        "too few items",
        "at least 1",
    ),
    (
        "points a string",
        replace("points: [-3, -6]", "points: lots"),
        32,
        "rules.0.points",
        "wrong type (got 'lots'",
        "a number >= -1000000 and <= 1000000 or a list of",
    ),
    (
        "at_most out of range",
        replace("at_most: 5", "at_most: 5.0e6"),
        34,
        "rules.2.at_most",
        "out of range",
        "<= 1000000",
    ),
    (
        "count without a window",
        replace("        within_days: 730\n", ""),
        43,
        "lists.1.enter.0.within_days",
        "count > 1 needs a window",
        "an integer >= 1",
    ),
    (
        "count zero",
        replace("count: 3", "count: 0"),
        44,
        "lists.1.enter.0.count",
        "out of range (got 0",
        ">= 1",
    ),
    (
        "serious extra days reversed",
        replace("[365, 1095]", "[1095, 365]"),
        48,
        "lists.1.enter.0.serious_extra_days",
        "lo above hi",
        "lo <= hi",
    ),
    (
        "serious extra days of three numbers",
        replace("[365, 1095]", "[365, 730, 1095]"),
        48,
        "lists.1.enter.0.serious_extra_days",
        "too many items",
        "at most 2",
    ),
    (
        "serious extra days negative",
        replace("[365, 1095]", "[-1, 1095]"),
        48,
        "lists.1.enter.0.serious_extra_days.0",
        "out of range",
        ">= 0",
    ),
    (
        "serious share above 1",
        replace("serious_share: 0.1", "serious_share: 1.1"),
        47,
        "lists.1.enter.0.serious_share",
        "out of range",
        "<= 1",
    ),
    (
        "listing on an unknown behaviour among several",
        replace("on: [unleashed, missed_check]", "on: [unleashed, barking]"),
        43,
        "lists.1.enter.0.on.1",
        "unknown behaviour (got 'barking'",
        "abuse, missed_check, unleashed",
    ),
    (
        "listing on one unknown behaviour",
        replace("enter: [{on: abuse}]", "enter: [{on: barking}]"),
        36,
        "blacklist.enter.0.on",
        "unknown behaviour",
        "abuse, missed_check",
    ),
    (
        "cure rate above 1",
        replace("cure: {rate: 0.01,", "cure: {rate: 1.01,"),
        49,
        "lists.1.exit.cure.rate",
        "out of range",
        "<= 1",
    ),
    (
        "cure without a rate",
        replace("cure: {rate: 0.01, delay_days", "cure: {delay_days"),
        49,
        "lists.1.exit.cure.rate",
        "missing required key",
        "a number",
    ),
    (
        "cure delay negative",
        replace("delay_days: 3,", "delay_days: -3,"),
        49,
        "lists.1.exit.cure.delay_days",
        "out of range",
        ">= 0",
    ),
    (
        "reset_score not a boolean",
        replace("reset_score: true", "reset_score: yes"),
        40,
        "lists.0.exit.reset_score",
        "wrong type (got 'yes'",
        "true or false",
    ),
    (
        "list without a name",
        replace("  - name: held\n    enter", "  - enter"),
        38,
        "lists.0.name",
        "missing required key",
        "a string",
    ),
    (
        "list named like another",
        replace("name: held", "name: confiscated"),
        41,
        "lists.1.name",
        "duplicate list name",
        "not used before",
    ),
    (
        "blacklist named otherwise",
        replace("enter: [{on: abuse}]", "name: other\n  enter: [{on: abuse}]"),
        36,
        "blacklist.name",
        "not allowed (got 'other'",
        "'blacklist'",
    ),
    (
        "list named blacklist next to blacklist",
        replace("name: held", "name: blacklist"),
        38,
        "lists.0.name",
        "duplicate list name",
        "not used before",
    ),
    (
        "five lists",
        replace(
            "sanctions:\n",
            "".join(f"  - {{name: l{i}, enter: [{{on: abuse}}]}}\n" for i in range(2))
            + "sanctions:\n",
        ),
        37,
        "lists",
        "too many lists",
        "at most 4 lists",
    ),
    (
        "sanction on an unknown list",
        replace("lists: [confiscated]", "lists: [impounded]"),
        51,
        "sanctions.0.applies_to.lists.0",
        "unknown list (got 'impounded'",
        "blacklist, held, confiscated",
    ),
    (
        "family not a boolean",
        replace("family: true", "family: 'yes'"),
        52,
        "sanctions.1.applies_to.family",
        "wrong type",
        "true or false",
    ),
    (
        "by not a string",
        replace("by: airlines", "by: 3"),
        53,
        "sanctions.2.by",
        "wrong type",
        "a string",
    ),
    (
        "accusation multiplier negative",
        replace("accusation_multiplier: 3", "accusation_multiplier: -3"),
        55,
        "groups.0.accusation_multiplier",
        "out of range",
        ">= 0",
    ),
    (
        "appeal multiplier too large",
        replace("appeal_multiplier: 0.5", "appeal_multiplier: 2.0e6"),
        55,
        "groups.0.appeal_multiplier",
        "out of range",
        "<= 1000000",
    ),
    (
        "appeals undo something else",
        replace("undoes: [points]", "undoes: [sanction]"),
        59,
        "appeals.undoes.0",
        "not allowed (got 'sanction'",
        "'points' or 'listing'",
    ),
    (
        "appeals undo points twice",
        replace("undoes: [points]", "undoes: [points, points]"),
        59,
        "appeals.undoes",
        "at most once",
        "'points' or 'listing'",
    ),
    (
        "appeals without a rate",
        replace("appeals: {rate: 0.1, delay_days", "appeals: {delay_days"),
        59,
        "appeals.rate",
        "missing required key",
        "a number",
    ),
    (
        "appeal success above 1",
        replace("success_if_false: 0.9", "success_if_false: 9"),
        59,
        "appeals.success_if_false",
        "out of range",
        "<= 1",
    ),
    (
        "unknown key in a list entry condition",
        replace("count: 3", "count: 3\n        within: 30"),
        45,
        "lists.1.enter.0.within",
        "unknown key",
        "count, within_days, term_days",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "problem", "allowed"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_bad_new_key_is_refused_with_location(
    tmp_path: Path, text: str, line: int, key: str, problem: str, allowed: str
) -> None:
    assert_refused_at(write(tmp_path, text, "bad.yaml"), line, key, problem, allowed)


def test_bad_cases_are_distinct_and_many() -> None:
    assert len({case[1] for case in BAD}) == len(BAD) >= 10
