"""The network keys of issue 5 (homophily, degree_spread, distancing, friend_deductions,
low_friend_penalty): they load with their meaning, round-trip, and bad values are
refused with file:line, the dotted key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from scsim.errors import RegimeError
from scsim.regime import load_regime
from scsim.regime.schema import LowGrade

BASE = """\
name: net
grades:
  - {name: A, min: 1000}
  - {name: C, min: 900}
  - {name: D}
behaviours:
  post: {rate: 0.01}
blacklist:
  enter: [{on: post}]
sanctions:
  - {name: ringtone, applies_to: blacklisted}
network:
  degree: 8
  homophily: 0.8
  degree_spread: 1.0
  distancing: {rate: 0.05, from: [ringtone]}
  friend_deductions: 0.1
  low_friend_penalty: {grade: D, points: 2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_network_keys_load_and_round_trip(tmp_path: Path) -> None:
    regime = load_regime(write(tmp_path, BASE))
    net = regime.network
    assert (net.homophily, net.degree_spread, net.friend_deductions) == (0.8, 1.0, 0.1)
    assert net.distancing is not None and net.distancing.rate == 0.05
    assert net.distancing.from_ == ["ringtone"]
    assert net.low_friend_penalty is not None and net.low_friend_penalty.points == 2
    assert "from:" in regime.to_yaml()
    again = load_regime(write(tmp_path, regime.to_yaml()))
    assert again == regime and again.content_hash() == regime.content_hash()


@pytest.mark.parametrize("shun", ["listed", "{low_grade: C}"])
def test_distancing_other_forms(tmp_path: Path, shun: str) -> None:
    text = BASE.replace("from: [ringtone]", f"from: {shun}")
    regime = load_regime(write(tmp_path, text))
    assert regime.network.distancing is not None
    got = regime.network.distancing.from_
    assert got == "listed" if shun == "listed" else got == LowGrade(low_grade="C")
    assert load_regime(write(tmp_path, regime.to_yaml())) == regime


def test_defaults_are_off() -> None:
    net = load_regime("rongcheng").network
    assert net.homophily == 0 and net.degree_spread == 0 and net.friend_deductions == 0
    assert net.distancing is None and net.low_friend_penalty is None


BAD = [
    ("homophily: 0.8", "homophily: 1.5", 14, "network.homophily", "out of range", "<= 1"),
    (
        "degree_spread: 1.0",
        "degree_spread: -1",
        15,
        "network.degree_spread",
        "out of range",
        ">= 0",
    ),
    ("rate: 0.05,", "rate: 2,", 16, "network.distancing.rate", "out of range", "<= 1"),
    ("[ringtone]", "[curfew]", 16, "network.distancing.from.0", "unknown sanction", "ringtone"),
    (
        "[ringtone]",
        "{low_grade: E}",
        16,
        "network.distancing.from.low_grade",
        "unknown grade",
        "A, C, D",
    ),
    ("[ringtone]", "shunned", 16, "network.distancing.from", "bad format", "listed"),
    ("[ringtone]", "7", 16, "network.distancing.from", "wrong type", "low_grade"),
    (
        "from: [ringtone]",
        "form: [ringtone]",
        16,
        "network.distancing.form",
        "unknown key",
        "rate, from",
    ),
    (
        "friend_deductions: 0.1",
        "friend_deductions: 1.1",
        17,
        "network.friend_deductions",
        "out of range",
        "<= 1",
    ),
    (
        "grade: D, points: 2",
        "grade: E, points: 2",
        18,
        "network.low_friend_penalty.grade",
        "unknown grade",
        "A, C, D",
    ),
    (
        "grade: D, points: 2",
        "grade: D, points: 0",
        18,
        "network.low_friend_penalty.points",
        "out of range",
        "> 0",
    ),
]


@pytest.mark.parametrize(("old", "new", "line", "key", "problem", "allowed"), BAD)
def test_bad_network_values_are_refused_with_location(
    tmp_path: Path, old: str, new: str, line: int, key: str, problem: str, allowed: str
) -> None:
    assert BASE.count(old) == 1
    path = write(tmp_path, BASE.replace(old, new))
    with pytest.raises(RegimeError) as info:
        load_regime(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert problem in message and "allowed: " in message and allowed in message, message


def test_listed_needs_a_list(tmp_path: Path) -> None:
    text = BASE.replace("blacklist:\n  enter: [{on: post}]\n", "").replace(
        "applies_to: blacklisted", "applies_to: {grades: [D]}"
    )
    with pytest.raises(RegimeError, match="no lists"):
        load_regime(write(tmp_path, text.replace("from: [ringtone]", "from: listed")))
