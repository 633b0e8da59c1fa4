"""Hypothesis strategies for regimes.

``regimes()`` draws plain mappings (what a YAML file holds) that are always valid, so
property tests elsewhere (the engine's, the store's) can run on many small regimes.
Draws are kept small and rates moderate so that simulating one stays fast:
at most 4 behaviours, 3 observers and 5 grades, rates at most 0.05 per person-day.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["MAX_BEHAVIOURS", "MAX_GRADES", "MAX_OBSERVERS", "MAX_RATE", "regime_objects", "regimes"]

MAX_BEHAVIOURS = 4
MAX_OBSERVERS = 3
MAX_GRADES = 5
MAX_RATE = 0.05

_TEXT = st.text(
    alphabet=st.sampled_from(
        list("abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789:#-'\"{}[],.!?&*%@|>éü中文")
    ),
    max_size=30,
)
_BEHAVIOUR = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
_LABEL = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,8}", fullmatch=True)
_REGIME_NAME = st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True)


def _unit() -> st.SearchStrategy[float]:
    return st.floats(0, 1, allow_nan=False, allow_infinity=False)


def _maybe(draw: st.DrawFn, key: str, value: Any, out: dict[str, Any]) -> None:
    # Omit about a third of the optional keys, so that defaults are exercised too.
    if draw(st.integers(0, 2)):
        out[key] = value


@st.composite
def _score(draw: st.DrawFn) -> dict[str, Any]:
    initial = draw(st.floats(-2000, 5000, allow_nan=False))
    out: dict[str, Any] = {}
    _maybe(draw, "initial", initial, out)
    initial = out.get("initial", 1000.0)
    floor = draw(st.none() | st.floats(-1e4, 0, allow_nan=False).map(lambda d: initial + d))
    ceiling = draw(st.none() | st.floats(0, 1e4, allow_nan=False).map(lambda d: initial + d))
    if floor is not None and floor > initial:  # rounding in initial + d
        floor = initial
    if ceiling is not None and ceiling < initial:
        ceiling = initial
    if "initial" not in out and floor is not None and floor > 1000.0:
        floor = 1000.0
    _maybe(draw, "floor", floor, out)
    if "floor" not in out and initial < 0:
        out["floor"] = None  # the default floor 0 would sit above a negative initial
    _maybe(draw, "ceiling", ceiling, out)
    return out


@st.composite
def _grades(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(_LABEL, min_size=1, max_size=MAX_GRADES, unique=True))
    mins = draw(
        st.lists(
            st.floats(-1e5, 1e5, allow_nan=False),
            min_size=len(names) - 1,
            max_size=len(names) - 1,
            unique=True,
        )
    )
    mins.sort(reverse=True)
    grades: list[dict[str, Any]] = [
        {"name": n, "min": m} for n, m in zip(names, mins, strict=False)
    ]
    grades.append({"name": names[-1]})
    return grades


@st.composite
def _behaviours(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(_BEHAVIOUR, min_size=1, max_size=MAX_BEHAVIOURS, unique=True))
    out: dict[str, Any] = {}
    for name in names:
        b: dict[str, Any] = {"rate": draw(st.floats(0, MAX_RATE, allow_nan=False))}
        _maybe(draw, "spread", draw(st.floats(0, 1.5, allow_nan=False)), b)
        out[name] = b
    return out


@st.composite
def _observer(draw: st.DrawFn, name: str, behaviours: list[str]) -> dict[str, Any]:
    watches = draw(st.lists(st.sampled_from(behaviours), min_size=1, unique=True))
    obs: dict[str, Any] = {"name": name, "watches": watches}
    _maybe(draw, "coverage", draw(_unit()), obs)
    _maybe(draw, "detection", draw(_unit()), obs)
    _maybe(draw, "false_match_rate", draw(st.floats(0, 1e-3, allow_nan=False)), obs)
    _maybe(draw, "gallery", draw(st.none() | st.integers(1, 10**7)), obs)
    _maybe(draw, "latency_days", draw(st.integers(0, 60)), obs)
    _maybe(draw, "capacity_per_day", draw(st.none() | st.integers(0, 10**4)), obs)
    return obs


@st.composite
def _rule(draw: st.DrawFn, behaviours: list[str]) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "on": draw(st.sampled_from(behaviours)),
        "points": draw(st.floats(-100, 100, allow_nan=False)),
    }
    _maybe(draw, "max_per_year", draw(st.none() | st.integers(1, 50)), rule)
    return rule


@st.composite
def _blacklist(draw: st.DrawFn, behaviours: list[str], grades: list[str]) -> dict[str, Any]:
    on_event = st.fixed_dictionaries({"on": st.sampled_from(behaviours)})
    on_grade = st.fixed_dictionaries(
        {"grade": st.sampled_from(grades), "for_days": st.integers(1, 400)}
    )
    out: dict[str, Any] = {"enter": draw(st.lists(on_event | on_grade, min_size=1, max_size=3))}
    _maybe(draw, "exit", {"after_days": draw(st.none() | st.integers(1, 2000))}, out)
    return out


@st.composite
def _applies_to(draw: st.DrawFn, grades: list[str], listed: bool) -> Any:
    if listed and draw(st.booleans()):
        return "blacklisted"
    chosen = draw(st.lists(st.sampled_from(grades), unique=True, min_size=0 if listed else 1))
    blacklisted = listed and (not chosen or draw(st.booleans()))
    out: dict[str, Any] = {}
    if chosen or draw(st.booleans()):
        out["grades"] = chosen
    if blacklisted or draw(st.booleans()):
        out["blacklisted"] = blacklisted
    return out


@st.composite
def _groups(draw: st.DrawFn, behaviours: list[str]) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 3))
    names = draw(st.lists(_LABEL.filter(lambda s: s != "all"), min_size=n, max_size=n, unique=True))
    weights = draw(st.lists(st.integers(1, 10), min_size=n, max_size=n))
    total = sum(weights)
    shares = [w / total for w in weights[:-1]]
    shares.append(1.0 - sum(shares))
    groups = []
    for name, share in zip(names, shares, strict=True):
        g: dict[str, Any] = {"name": name, "share": share}
        mult = draw(st.dictionaries(st.sampled_from(behaviours), st.floats(0, 5, allow_nan=False)))
        _maybe(draw, "rate_multiplier", mult, g)
        _maybe(draw, "false_match_multiplier", draw(st.floats(0, 5, allow_nan=False)), g)
        groups.append(g)
    return groups


@st.composite
def regimes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid regime as a plain mapping, the shape a YAML regime file loads to."""
    behaviours = draw(_behaviours())
    bnames = list(behaviours)
    grades = draw(_grades())
    gnames = [g["name"] for g in grades]
    out: dict[str, Any] = {"name": draw(_REGIME_NAME)}
    _maybe(draw, "description", draw(_TEXT), out)
    _maybe(draw, "sources", draw(st.lists(_TEXT, max_size=2)), out)
    _maybe(draw, "score", draw(_score()), out)
    out["grades"] = grades
    out["behaviours"] = behaviours
    onames = draw(st.lists(_LABEL, max_size=MAX_OBSERVERS, unique=True))
    _maybe(draw, "observers", [draw(_observer(n, bnames)) for n in onames], out)
    _maybe(draw, "rules", draw(st.lists(_rule(bnames), max_size=6)), out)
    listed = draw(st.booleans())
    if listed:
        out["blacklist"] = draw(_blacklist(bnames, gnames))
    elif draw(st.booleans()):
        out["blacklist"] = None
    snames = draw(st.lists(_LABEL, max_size=5, unique=True))
    split = draw(st.integers(0, len(snames)))
    _maybe(
        draw,
        "sanctions",
        [{"name": n, "applies_to": draw(_applies_to(gnames, listed))} for n in snames[:split]],
        out,
    )
    _maybe(
        draw,
        "rewards",
        [{"name": n, "applies_to": draw(_applies_to(gnames, listed))} for n in snames[split:]],
        out,
    )
    network: dict[str, Any] = {}
    _maybe(draw, "degree", draw(st.integers(0, 50)), network)
    _maybe(draw, "liability", draw(_unit()), network)
    _maybe(draw, "locality", draw(_unit()), network)
    _maybe(draw, "network", network, out)
    _maybe(draw, "groups", draw(_groups(bnames)), out)
    _maybe(draw, "households", {"mean_size": draw(st.floats(1, 5, allow_nan=False))}, out)
    return out


def regime_objects() -> st.SearchStrategy[Any]:
    """Validated :class:`scsim.regime.Regime` objects drawn from :func:`regimes`."""
    from scsim.regime import Regime

    return regimes().map(Regime.model_validate)
