"""Common random numbers per behaviour (issue 14): a behaviour's true events depend
on its own name, rate and spread and the agent's group, never on the other
behaviours' rates, spreads, order or number; responses stay paired on top."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scsim.core.events import unpack
from scsim.engine.compile import compile_regime
from scsim.engine.run import DayLoop
from scsim.population import build_population
from scsim.regime.loader import validate_mapping
from scsim.testing.strategies import MAX_RATE, regimes

N, DAYS = 2_000, 3
_NEW = st.from_regex(r"new_[a-z0-9_]{0,6}", fullmatch=True)  # never a drawn name


def base_regime(raw: dict) -> dict:
    """The drawn regime's behaviours (rate and spread) and groups, nothing else: what
    the base draws read."""
    out = {
        "name": "pairing",
        "grades": [{"name": "A"}],
        "behaviours": {
            name: {k: v for k, v in beh.items() if k in ("rate", "spread")}
            for name, beh in raw["behaviours"].items()
        },
    }
    if "groups" in raw:
        out["groups"] = raw["groups"]
    return out


def change_another(draw, data: dict, kept: str) -> dict:
    """``data`` with one change to a behaviour other than ``kept``: its rate, its
    spread, the order of the behaviours, one more behaviour, or one fewer."""
    behaviours = dict(data["behaviours"])
    others = [name for name in behaviours if name != kept]
    kinds = ["order", "add"] + (["rate", "spread", "remove"] if others else [])
    kind = draw(st.sampled_from(kinds))
    if kind in ("rate", "spread"):
        name = draw(st.sampled_from(others))
        new = draw(st.floats(0, MAX_RATE) if kind == "rate" else st.floats(0, 1.5))
        behaviours[name] = {**behaviours[name], kind: new}
    elif kind == "order":
        names = draw(st.permutations(list(behaviours)))
        behaviours = {name: behaviours[name] for name in names}
    elif kind == "add":
        name = draw(_NEW)
        spread = {"spread": draw(st.floats(0, 1.5))} if draw(st.booleans()) else {}
        behaviours[name] = {"rate": draw(st.floats(0, MAX_RATE)), **spread}
        names = list(behaviours)
        at = draw(st.integers(0, len(names) - 1))  # anywhere in the file
        names.insert(at, names.pop())
        behaviours = {n: behaviours[n] for n in names}
    else:
        gone = draw(st.sampled_from(others))
        del behaviours[gone]
        if "groups" in data:
            data = {**data, "groups": [_without(g, gone) for g in data["groups"]]}
    return {**data, "behaviours": behaviours}


def _without(group: dict, behaviour: str) -> dict:
    mult = {k: v for k, v in group.get("rate_multiplier", {}).items() if k != behaviour}
    return {**group, "rate_multiplier": mult} if "rate_multiplier" in group else group


def true_events(data: dict, name: str, seed: int, chunk: int, keep: bool) -> list:
    """Per day, the (agent, index) of every true event of behaviour ``name``."""
    regime = validate_mapping(data, "<test>")
    pop = build_population(regime, N, seed, keep_rates=keep)
    loop = DayLoop(regime, compile_regime(regime, N), pop, seed, chunk, keep_events=False)
    b = list(regime.behaviours).index(name)
    out = []
    for day in range(DAYS):
        agent, beh, _, idx = unpack(loop.behave(day))
        out.append(np.stack([agent[beh == b], idx[beh == b]]))
    return out


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_behaviours_events_ignore_every_other_behaviour(data):
    before = base_regime(data.draw(regimes()))
    kept = data.draw(st.sampled_from(list(before["behaviours"])))
    after = change_another(data.draw, before, kept)
    seed = data.draw(st.integers(0, 2**31))
    # chunking and a kept or derived rate table change nothing either
    chunks = data.draw(st.tuples(st.integers(1, 3000), st.integers(1, 3000)))
    keeps = data.draw(st.tuples(st.booleans(), st.booleans()))
    a = true_events(before, kept, seed, chunks[0], keeps[0])
    b = true_events(after, kept, seed, chunks[1], keeps[1])
    for day in range(DAYS):
        assert np.array_equal(a[day], b[day]), f"day {day}"


def _speech(deterred: bool) -> dict:
    beh = {
        "illegal_post": {"rate": 0.02, "spread": 1.0},
        "critical_post": {"rate": 0.02},
        "charity": {"rate": 0.01, "spread": 0.5},
    }
    if deterred:
        beh["illegal_post"]["deterrence"] = {"sensitivity": 50, "seen": "everyone"}
        beh["critical_post"]["chilled_by"] = {"behaviour": "illegal_post", "share": 0.5}
    return {
        "name": "speech",
        "grades": [{"name": "A", "min": 900}, {"name": "D"}],
        "behaviours": beh,
        "observers": [{"name": "cam", "watches": ["illegal_post"], "coverage": 1.0}],
        "rules": [{"on": "illegal_post", "points": -20}],
    }


def test_responses_thin_the_base_draws_and_leave_the_rest_paired():
    """After 30 days of recorded posts, deterrence and chilling keep a subset of the
    base events (thinning); a behaviour no response touches keeps every event."""
    events = []
    for deterred in (False, True):
        regime = validate_mapping(_speech(deterred), "<test>")
        pop = build_population(regime, 20_000, 7)
        loop = DayLoop(regime, compile_regime(regime, pop.n), pop, 7, 4096, keep_events=False)
        for day in range(30):
            loop.step(day)
        agent, beh, _, idx = unpack(loop.behave(30))
        events.append([set(zip(agent[beh == b], idx[beh == b], strict=True)) for b in range(3)])
    (illegal, critical, charity), (illegal_d, critical_d, charity_d) = events
    assert charity_d == charity
    assert illegal_d < illegal and len(illegal_d) < 0.5 * len(illegal)
    assert critical_d < critical and len(critical_d) < 0.9 * len(critical)
