"""Properties of worlds over many drawn ones: built-in regimes as operators, with drawn
flows and joint sanctions that name what the operators have. Every draw loads, reads
back equal from its YAML, and runs with its invariants; a drawn wrong name is refused
at its line."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scsim
from scsim.errors import RegimeError
from scsim.regime import load_regime
from scsim.regime.loader import dump_yaml
from scsim.world import load_world

# Operators whose behaviours do not overlap, so any subset makes a world.
POOL = ["court-blacklist", "sesame", "rongcheng", "jinan-dogs"]
REGIMES = {name: load_regime(name) for name in POOL}
_DIR = Path(tempfile.mkdtemp(prefix="scsim-world-props-"))


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(POOL), min_size=2, max_size=4, unique=True))
    ops = {f"op{i}": name for i, name in enumerate(names)}
    flows = []
    for _ in range(draw(st.integers(0, 4))):
        a, b = draw(st.lists(st.sampled_from(list(ops)), min_size=2, max_size=2, unique=True))
        send, recv = REGIMES[ops[a]], REGIMES[ops[b]]
        flow: dict[str, Any] = {
            "from": a,
            "to": b,
            "delay_days": draw(st.integers(0, 5)),
            "loss": draw(st.sampled_from([0.0, 0.5])),
            "as": draw(st.sampled_from(sorted(recv.behaviours))),
        }
        kinds = ["events", "grade"] + (["list"] if send.all_lists else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "events":
            flow["events"] = draw(
                st.lists(st.sampled_from(sorted(send.behaviours)), min_size=1, unique=True)
            )
        elif kind == "list":
            flow["list"] = draw(st.sampled_from([x.name for x in send.all_lists]))
        else:
            flow["grade"] = draw(st.sampled_from([g.name for g in send.grades]))
        flows.append(flow)
    joints = []
    for j in range(draw(st.integers(0, 2))):
        on = draw(st.sampled_from(list(ops)))
        lists = [x.name for x in REGIMES[ops[on]].all_lists]
        if not lists:
            continue
        joints.append(
            {"name": f"j{j}", "on": on, "list": draw(st.sampled_from(lists)),
             "delay_days": draw(st.integers(0, 3))}
        )  # fmt: skip
    return {"name": "drawn", "operators": ops, "flows": flows, "joint_sanctions": joints}


def _write(data: dict[str, Any], name: str = "drawn.yaml") -> Path:
    path = _DIR / name
    path.write_text(dump_yaml(data), encoding="utf-8")
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_drawn_worlds_load_and_read_back_equal(data):
    world = load_world(_write(data))
    again = load_world(_write_text(world.to_yaml()))
    assert again.regimes == world.regimes
    assert again.content_hash() == world.content_hash()
    for flow in world.flows:
        observers = [o.name for o in world.regimes[flow.to].observers]
        assert flow.from_ in observers


def _write_text(text: str) -> Path:
    path = _DIR / "again.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.integers(0, 2**32))
def test_drawn_worlds_keep_their_invariants(data, seed):
    world = load_world(_write(data))
    run = scsim.simulate(world, population=400, days=12, seed=seed)
    for name, op in run.runs.items():
        score = op.agents["score"].to_numpy()
        r = world.regimes[name].score
        assert (score >= (r.floor if r.floor is not None else -np.inf)).all()
        assert (score <= (r.ceiling if r.ceiling is not None else np.inf)).all()
    for j in world.joint_sanctions:
        days = run.agents[f"{j.on}.days_listed"].to_numpy()
        on = run.agents[f"{j.on}.listed.{j.list_}"].to_numpy()
        got = run.agents[f"sanctioned.{j.name}"].to_numpy()
        np.testing.assert_array_equal(got, on & (days > j.delay_days))
    daily = run.daily.filter(pl.col("group") == "all")
    for flow in world.flows:
        first = min(f.delay_days for f in world.flows if (f.from_, f.to) == (flow.from_, flow.to))
        arrived = daily[f"{flow.to}.recorded_by.{flow.from_}"].to_numpy()
        assert arrived[:first].sum() == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.sampled_from(["from", "to", "as", "events", "list", "grade"]))
def test_a_drawn_wrong_name_is_refused_at_its_line(data, key):
    flows = [f for f in data["flows"] if key in f]
    if not flows:
        return
    flows[0][key] = ["no_such_thing"] if key == "events" else "no_such_thing"
    path = _write(data, "wrong.yaml")
    with pytest.raises(RegimeError) as info:
        load_world(path)
    message = str(info.value)
    index = data["flows"].index(flows[0])
    assert message.startswith(f"{path}:"), message
    assert f"flows.{index}.{key}" in message, message
    assert "no_such_thing" in message, message
