"""Counts the engine packs into fixed bits are bounded by the schema, from the same
constants (issue 13, items 18 and 21): a 257th behaviour or observer would be packed
into the agent's bits and its events pinned on another agent; a 33rd gamed behaviour
has no bit for its bots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import scsim
from scsim.core.events import pack, unpack
from scsim.regime import load_regime
from scsim.regime.schema import EVENT_INDEX_BITS, MAX_BEHAVIOURS, MAX_GAMED, MAX_OBSERVERS
from test_bad_yaml import refused


def regime_text(behaviours: int, observers: int = 1, gamed: int = 0, last_rate: float = 0) -> str:
    """A regime of ``behaviours`` behaviours (all rate 0 but the last), one rule of
    +1 per gamed behaviour, and ``observers`` observers (the first sees everything)."""
    names = [f"b{i:03d}" for i in range(behaviours)]
    lines = ["name: limits", "grades: [{name: A}]", "behaviours:"]
    for i, name in enumerate(names):
        rate = last_rate if i == behaviours - 1 else 0.0
        game = ", gaming: {uptake: 0.01, rate: 1}" if i < gamed else ""
        lines.append(f"  {name}: {{rate: {rate}{game}}}")
    lines.append("observers:")
    for o in range(observers):
        lines.append(f"  - {{name: o{o:03d}, watches: [{', '.join(names)}], coverage: 1}}")
    lines.append("rules:")
    lines += [f"  - {{on: {name}, points: 1}}" for name in names[: max(gamed, 1)]]
    lines.append(f"  - {{on: {names[-1]}, points: -1}}")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "limits.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_limits_are_what_the_packing_holds() -> None:
    assert MAX_BEHAVIOURS == MAX_OBSERVERS == 2**EVENT_INDEX_BITS
    agent = np.int64(2**31 - 1)
    for beh, obs in [(0, 0), (MAX_BEHAVIOURS - 1, MAX_OBSERVERS - 1)]:
        got = unpack(np.array([pack(agent, beh, obs, 65535)], dtype=np.int64))
        assert [int(x[0]) for x in got] == [agent, beh, obs, 65535]
    # One past the limit lands in the agent's bits: the loss the schema prevents.
    got = unpack(np.array([pack(6, MAX_BEHAVIOURS, 0, 0)], dtype=np.int64))
    assert [int(x[0]) for x in got[:2]] == [7, 0]  # agent 6 becomes agent 7


@pytest.mark.parametrize(
    ("behaviours", "observers"), [(MAX_BEHAVIOURS + 1, 1), (2, MAX_OBSERVERS + 1)]
)
def test_one_too_many_is_refused_naming_the_limit(
    tmp_path: Path, behaviours: int, observers: int
) -> None:
    path = write(tmp_path, regime_text(behaviours, observers))
    key, line = ("behaviours", 3) if behaviours > MAX_BEHAVIOURS else ("observers", 6)
    count = max(behaviours, observers)
    assert refused(path) == (
        f"{path}:{line}: {key}: too many items ({count}) (allowed: at most {count - 1})"
    )


def test_too_many_gamed_behaviours_is_refused_at_the_first_one_over(tmp_path: Path) -> None:
    path = write(tmp_path, regime_text(MAX_GAMED + 2, gamed=MAX_GAMED + 1))
    name = f"b{MAX_GAMED:03d}"
    assert refused(path) == (
        f"{path}:{4 + MAX_GAMED}: behaviours.{name}.gaming: {MAX_GAMED + 1} behaviours with "
        f"gaming (got '{name}'; allowed: gaming on at most {MAX_GAMED} behaviours)"
    )


def test_the_limit_itself_runs_and_attributes_the_last_behaviour(tmp_path: Path) -> None:
    regime = load_regime(write(tmp_path, regime_text(MAX_BEHAVIOURS, last_rate=0.5)))
    run = scsim.simulate(regime, population=300, days=3, seed=1)
    events = run.events
    assert events.height > 0
    # Every event is the last behaviour's, recorded on the agent who did it.
    assert set(events.get_column("behaviour").cast(str)) == {f"b{MAX_BEHAVIOURS - 1:03d}"}
    assert (events.get_column("doer") == events.get_column("agent")).all()
    assert events.get_column("agent").max() < 300
    assert run.summary[f"events_recorded.b{MAX_BEHAVIOURS - 1:03d}"] == events.height
