"""The regime loader: built-ins, YAML 1.2, round trips, overrides, and one clear
message (file:line: key: problem, allowed) for every kind of mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from refusal import assert_refused_at
from scsim.errors import RegimeError
from scsim.regime import EnterOnGrade, Regime, builtin_names, load_regime

BASE = """\
name: example
score: {initial: 1000, floor: 0}
grades:
  - {name: A, min: 1000}
  - {name: B, min: 900}
  - {name: D}
behaviours:
  jaywalking: {rate: 0.01}
  charity: {rate: 0.002, spread: 0.5}
observers:
  - name: cameras
    watches: [jaywalking]
    coverage: 0.6
rules:
  - {on: jaywalking, points: -5}
  - {on: charity, points: 5, max_per_year: 4}
blacklist:
  enter: [{grade: D, for_days: 90}]
sanctions:
  - {name: flight_ban, applies_to: blacklisted}
rewards:
  - {name: heating_discount, applies_to: {grades: [A]}}
groups:
  - {name: a, share: 0.5}
  - {name: b, share: 0.5, rate_multiplier: {charity: 2}}
"""


def write(tmp_path: Path, text: str, name: str = "regime.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def replace(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


# ------------------------------------------------------------------------ good files


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_loads_and_round_trips(name: str, tmp_path: Path) -> None:
    regime = load_regime(name)
    assert regime.source == f"builtin:{name}"
    again = load_regime(write(tmp_path, regime.to_yaml()))
    assert again == regime
    assert again.content_hash() == regime.content_hash()
    assert again.source != regime.source


def test_builtin_names_are_sorted_and_include_rongcheng() -> None:
    names = builtin_names()
    assert names == sorted(names)
    assert "rongcheng" in names


def test_rongcheng_figures() -> None:
    r = load_regime("rongcheng")
    assert r.score.initial == 1000
    assert [(g.name, g.min) for g in r.grades] == [
        ("AAA", 1050),
        ("AA", 1030),
        ("A", 960),
        ("B", 850),
        ("C", 600),
        ("D", None),
    ]
    points = {rule.on: rule.points for rule in r.rules}
    assert points["damaging_utility_equipment"] == -100
    assert points["traffic_ticket"] == -5
    assert points["heroic_act"] == 30
    assert r.blacklist is not None
    assert r.blacklist.enter == [EnterOnGrade(grade="D", for_days=90)]
    assert r.households.mean_size == 2.8
    assert r.sources


def test_rongcheng_marks_every_unsourced_figure() -> None:
    # Each behaviour rate is a guess and must say so on its line.
    text = (
        Path(load_regime.__code__.co_filename).parent / "builtin" / "rongcheng.yaml"
    ).read_text()
    rate_lines = [ln for ln in text.splitlines() if "rate:" in ln and "{" in ln]
    assert rate_lines
    assert all("# guess" in ln for ln in rate_lines)


def test_on_is_a_string_key_in_yaml_1_2(tmp_path: Path) -> None:
    regime = load_regime(write(tmp_path, BASE))
    assert regime.rules[0].on == "jaywalking"
    text = regime.to_yaml()
    assert "\n  on: jaywalking" in text or "- on: jaywalking" in text


def test_defaults_filled_in_by_to_yaml(tmp_path: Path) -> None:
    minimal = "name: tiny\ngrades: [{name: A}]\nbehaviours: {x: {rate: 0.1}}\n"
    regime = load_regime(write(tmp_path, minimal))
    assert regime.groups[0].name == "everyone" and regime.groups[0].share == 1.0
    text = regime.to_yaml()
    for key in ("network:", "liability:", "households:", "mean_size:", "score:", "floor:"):
        assert key in text
    assert "source" not in text.replace("sources", "")
    assert load_regime(write(tmp_path, text, "again.yaml")) == regime


def test_hash_ignores_source_but_not_content(tmp_path: Path) -> None:
    a = load_regime(write(tmp_path, BASE, "a.yaml"))
    b = load_regime(write(tmp_path, BASE, "b.yaml"))
    c = load_regime(write(tmp_path, BASE, "c.yaml"), ["rules.0.points=-6"])
    assert a == b and a.content_hash() == b.content_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", a.content_hash())
    assert c != a and c.content_hash() != a.content_hash()


def test_applies_to_shorthand_is_normalised(tmp_path: Path) -> None:
    regime = load_regime(write(tmp_path, BASE))
    assert regime.sanctions[0].applies_to.blacklisted is True
    assert regime.sanctions[0].applies_to.grades == []


def test_models_are_frozen(tmp_path: Path) -> None:
    regime = load_regime(write(tmp_path, BASE))
    with pytest.raises(Exception, match="frozen"):
        regime.network.liability = 0.5  # type: ignore[misc]


# ------------------------------------------------------------------------- overrides


def test_overrides_change_values(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    regime = load_regime(
        path,
        [
            "rules.0.points=-10",
            "network.liability=0.2",
            "behaviours.jaywalking.rate=0.02",
            "observers.0.gallery=1000",
            "sanctions.0.applies_to={grades: [B]}",
            "blacklist=null",
        ],
    )
    assert regime.rules[0].points == -10
    assert regime.network.liability == 0.2  # absent from the file: section created
    assert regime.behaviours["jaywalking"].rate == 0.02
    assert regime.observers[0].gallery == 1000
    assert regime.sanctions[0].applies_to.grades == ["B"]
    assert regime.blacklist is None
    assert load_regime(path).rules[0].points == -5


def test_override_of_a_builtin() -> None:
    regime = load_regime("rongcheng", ["network.liability=0.1"])
    assert regime.network.liability == 0.1
    assert regime.content_hash() != load_regime("rongcheng").content_hash()


def test_later_override_wins(tmp_path: Path) -> None:
    regime = load_regime(write(tmp_path, BASE), ["rules.0.points=-1", "rules.0.points=-2"])
    assert regime.rules[0].points == -2


def test_override_creates_missing_sections(tmp_path: Path) -> None:
    path = write(tmp_path, "name: tiny\ngrades: [{name: A}]\nbehaviours: {x: {rate: 0.1}}\n")
    regime = load_regime(path, ["network.liability=0.3", "households.mean_size=2"])
    assert regime.network.liability == 0.3 and regime.network.degree == 10
    assert regime.households.mean_size == 2
    with pytest.raises(RegimeError) as info:
        load_regime(path, ["blacklist.exit.after_days=5"])
    message = str(info.value)
    assert message.startswith("--set blacklist.exit.after_days=5: blacklist.enter: missing")
    with pytest.raises(RegimeError, match=r"no key 'groups' in \(top level\)"):
        load_regime(path, ["groups.0.share=1"])


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("rules.0.points", ["--set rules.0.points", "dotted.key=value"]),
        ("=3", ["--set =3", "dotted.key=value"]),
        ("nope.x=1", ["--set nope.x=1", "nope.x", "no key 'nope'", "behaviours", "grades"]),
        ("rules.9.points=1", ["--set rules.9.points=1", "no item 9", "0 to 1"]),
        ("rules.x.points=1", ["--set rules.x.points=1", "integer", "0 to 1"]),
        ("name.x=1", ["--set name.x=1", "single value"]),
        (
            "rules.0.points=-x",
            ["--set rules.0.points=-x", "rules.0.points", "wrong type", "a number"],
        ),
        ("rules.0.points=[1,", ["--set rules.0.points=[1,", "bad value", "YAML"]),
        ("network.liability=2", ["--set network.liability=2", "network.liability", "<= 1"]),
        ("rules.0.pointz=3", ["--set rules.0.pointz=3", "unknown key", "on, points, max_per_year"]),
        ("groups.0.share=0.3", ["--set groups.0.share=0.3", "groups", "sum to 1"]),
        ("households.mean_size=30", ["--set households.mean_size=30", "<= 20"]),
        ("network.degree=1.5", ["--set network.degree=1.5", "wrong type", "an integer"]),
        ("behaviours.newb={}", ["--set behaviours.newb={}", "behaviours.newb.rate", "missing"]),
        ("behaviours.x.ratez=1", ["--set behaviours.x.ratez=1", "unknown key", "rate, spread"]),
        ("rules.0={on: x}", ["--set rules.0={on: x}", "rules.0.points", "missing"]),
    ],
)
def test_bad_overrides(tmp_path: Path, override: str, needles: list[str]) -> None:
    with pytest.raises(RegimeError) as info:
        load_regime(write(tmp_path, BASE), [override])
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)


# ------------------------------------------------------------------------ bad files

# (id, file text, line, dotted key, problem needle, allowed needle)
BAD = [
    (
        "unknown top key",
        BASE + "colour: red\n",
        26,
        "colour",
        "unknown key",
        "behaviours, observers",
    ),
    (
        "unknown nested key",
        replace("{on: jaywalking, points: -5}", "{on: jaywalking, pointz: -5}"),
        15,
        "rules.0.pointz",
        "unknown key",
        "allowed: on, points, max_per_year",
    ),
    (
        "negative rate",
        replace("rate: 0.01", "rate: -0.01"),
        8,
        "behaviours.jaywalking.rate",
        "out of range (got -0.01",
        ">= 0 and <= 100",
    ),
    (
        "coverage above 1",
        replace("coverage: 0.6", "coverage: 1.5"),
        13,
        "observers.0.coverage",
        "got 1.5",
        ">= 0 and <= 1",
    ),
    (
        "grade mins not decreasing",
        replace("min: 900", "min: 1000"),
        5,
        "grades.1.min",
        "decrease",
        "< 1000",
    ),
    (
        "last grade with min",
        replace("{name: D}", "{name: D, min: 10}"),
        6,
        "grades.2.min",
        "last grade",
        "no min",
    ),
    (
        "middle grade without min",
        replace("{name: B, min: 900}", "{name: B}"),
        5,
        "grades.1.min",
        "missing min",
        "< 1000",
    ),
    (
        "rule on unknown behaviour",
        replace("{on: jaywalking, points", "{on: spitting, points"),
        15,
        "rules.0.on",
        "unknown behaviour (got 'spitting'",
        "charity, jaywalking",
    ),
    (
        "observer watching unknown behaviour",
        replace("watches: [jaywalking]", "watches: [jaywalking, spitting]"),
        12,
        "observers.0.watches.1",
        "unknown behaviour",
        "charity, jaywalking",
    ),
    (
        "duplicate grade names",
        replace("{name: B, min", "{name: A, min"),
        5,
        "grades.1.name",
        "duplicate",
        "not used before",
    ),
    (
        "group shares not summing to 1",
        replace("{name: a, share: 0.5}", "{name: a, share: 0.4}"),
        23,
        "groups",
        "sum to 1 (got 0.9",
        "within 1e-06",
    ),
    (
        "sanction on unknown grade",
        replace("grades: [A]", "grades: [A, Z]"),
        22,
        "rewards.0.applies_to.grades.1",
        "unknown grade (got 'Z'",
        "A, B, D",
    ),
    (
        "blacklist enter on unknown grade",
        replace("{grade: D, for_days", "{grade: E, for_days"),
        18,
        "blacklist.enter.0.grade",
        "unknown grade",
        "A, B, D",
    ),
    (
        "string for rate",
        replace("rate: 0.01", "rate: '0.01'"),
        8,
        "behaviours.jaywalking.rate",
        "wrong type (got '0.01'",
        "a number",
    ),
    (
        "float for an integer",
        replace("coverage: 0.6", "gallery: 1.0e6"),
        13,
        "observers.0.gallery",
        "wrong type",
        "an integer >= 1 or null",
    ),
    (
        "empty behaviours",
        replace(
            "behaviours:\n  jaywalking: {rate: 0.01}\n  charity: {rate: 0.002, spread: 0.5}",
            "behaviours: {}",
        ),
        7,
        "behaviours",
        "must not be empty",
        "at least 1",
    ),
    (
        "bad regime name",
        replace("name: example", "name: Bad Name"),
        1,
        "name",
        "bad name",
        "[a-z0-9]",
    ),
    (
        "bad behaviour name",
        replace("  jaywalking: {rate", "  Jay Walking: {rate"),
        8,
        "behaviours.Jay Walking",
        "bad name",
        "[a-z_][a-z0-9_]*",
    ),
    (
        "floor above initial",
        replace("floor: 0", "floor: 2000"),
        2,
        "score.floor",
        "got 2000",
        "<= initial (1000)",
    ),
    (
        "missing name",
        BASE.replace("name: example\n", ""),
        1,
        "name",
        "missing required",
        "a string",
    ),
    (
        "sanction on blacklisted without a blacklist",
        replace("blacklist:\n  enter: [{grade: D, for_days: 90}]\n", ""),
        18,
        "sanctions.0.applies_to",
        "no blacklist",
        "grades or lists only",
    ),
    (
        "unrecognised blacklist condition",
        replace("{grade: D, for_days: 90}", "{when: x}"),
        18,
        "blacklist.enter.0",
        "unrecognised",
        "{grade, for_days}",
    ),
    (
        "applies_to a word other than blacklisted",
        replace("applies_to: blacklisted", "applies_to: listed"),
        20,
        "sanctions.0.applies_to",
        "got 'listed'",
        "'blacklisted'",
    ),
    (
        "multiplier for unknown behaviour",
        replace("charity: 2", "spitting: 2"),
        25,
        "groups.1.rate_multiplier.spitting",
        "unknown behaviour",
        "charity, jaywalking",
    ),
    (
        "duplicate sanction and reward name",
        replace("name: heating_discount", "name: flight_ban"),
        22,
        "rewards.0.name",
        "duplicate",
        "not used by another",
    ),
    (
        "group named all",
        replace("{name: a, share: 0.5}", "{name: all, share: 0.5}"),
        24,
        "groups.0.name",
        "whole population",
        "any other name",
    ),
    (
        "zero share",
        replace("{name: a, share: 0.5}", "{name: a, share: 0}"),
        24,
        "groups.0.share",
        "out of range",
        "> 0 and <= 1",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "problem", "allowed"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_bad_file_is_refused_with_location(
    tmp_path: Path, text: str, line: int, key: str, problem: str, allowed: str
) -> None:
    assert_refused_at(write(tmp_path, text, "bad-regime.yaml"), line, key, problem, allowed)


def test_bad_cases_are_distinct() -> None:
    assert len({case[1] for case in BAD}) == len(BAD) >= 15


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (replace("coverage: 0.6", "coverage: [0.6"), 14, "started at line 13"),
        (replace("coverage: 0.6", "\tcoverage: 0.6"), 13, "\\t"),
        (
            replace("  charity:", "  jaywalking: {rate: 1}\n  charity:"),
            9,
            'duplicate key "jaywalking"',
        ),
        (replace("name: example", "name: example\nname: other"), 2, 'duplicate key "name"'),
    ],
    ids=["unclosed flow", "tab", "duplicate nested key", "duplicate top key"],
)
def test_yaml_errors_have_file_and_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RegimeError) as info:
        load_regime(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: YAML error"), message
    assert needle in message, message


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RegimeError, match=re.escape(f"{path}:1: ")):
        load_regime(path)


def test_unknown_name_lists_builtins() -> None:
    with pytest.raises(RegimeError) as info:
        load_regime("no-such-regime")
    message = str(info.value)
    assert "no-such-regime" in message
    for name in builtin_names():
        assert name in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(RegimeError, match="UTF-8"):
        load_regime(path)


def test_regime_class_is_exported() -> None:
    assert isinstance(load_regime("rongcheng"), Regime)
