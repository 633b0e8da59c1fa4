"""Hypothesis strategies for regimes.

``regimes()`` draws plain mappings (what a YAML file holds) that are always valid, so
property tests elsewhere (the engine's, the store's) can run on many small regimes.
Draws are kept small and rates moderate so that simulating one stays fast:
at most 4 behaviours, 3 observers, 5 grades, 3 places and 3 lists, rates at most 0.05
per person-day. Every optional key of the format is drawn (or left out) somewhere.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = [
    "MAX_BEHAVIOURS",
    "MAX_GRADES",
    "MAX_LISTS",
    "MAX_OBSERVERS",
    "MAX_PLACES",
    "MAX_RATE",
    "regime_objects",
    "regimes",
]

MAX_BEHAVIOURS = 4
MAX_OBSERVERS = 3
MAX_GRADES = 5
MAX_PLACES = 3
MAX_LISTS = 3
MAX_RATE = 0.05

_MATCHERS = [
    "nist-frte-2026-best",
    "nist-frte-2026-median",
    "nist-frte-2026-p90",
    "nistir-8238-2018",
    "nistir-8238-2014",
]
_KINDS = ["generic", "camera", "gait", "platform", "informant", "records"]

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
    _maybe(draw, "unit", draw(st.sampled_from(["person", "household"])), out)
    return out


def _shares(draw: st.DrawFn, n: int) -> list[float]:
    weights = draw(st.lists(st.integers(1, 10), min_size=n, max_size=n))
    total = sum(weights)
    shares = [w / total for w in weights[:-1]]
    shares.append(1.0 - sum(shares))
    return shares


@st.composite
def _places(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(_LABEL, min_size=1, max_size=MAX_PLACES, unique=True))
    return [{"name": n, "share": s} for n, s in zip(names, _shares(draw, len(names)), strict=True)]


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
def _observer(
    draw: st.DrawFn, name: str, behaviours: list[str], places: list[str]
) -> dict[str, Any]:
    watches = draw(st.lists(st.sampled_from(behaviours), min_size=1, unique=True))
    obs: dict[str, Any] = {"name": name, "watches": watches}
    _maybe(draw, "kind", draw(st.sampled_from(_KINDS)), obs)
    _maybe(draw, "matcher", draw(st.none() | st.sampled_from(_MATCHERS)), obs)
    per_place = st.dictionaries(st.sampled_from(places), _unit(), max_size=len(places))
    _maybe(draw, "coverage", draw(_unit() | per_place), obs)
    _maybe(draw, "detection", draw(_unit()), obs)
    _maybe(draw, "false_match_rate", draw(st.floats(0, 1e-3, allow_nan=False)), obs)
    _maybe(draw, "gallery", draw(st.none() | st.integers(1, 10**7)), obs)
    _maybe(draw, "enrolled", draw(_unit()), obs)
    _maybe(draw, "latency_days", draw(st.integers(0, 60)), obs)
    _maybe(draw, "capacity_per_day", draw(st.none() | st.integers(0, 10**4)), obs)
    _maybe(draw, "queue", draw(st.sampled_from(["expire", "wait"])), obs)
    _maybe(draw, "attribute_error", draw(_unit()), obs)
    accusations = st.fixed_dictionaries(
        {"rate": st.floats(0, 1e-3, allow_nan=False), "behaviour": st.sampled_from(watches)}
    )
    _maybe(draw, "false_accusations", draw(st.none() | accusations), obs)
    _maybe(draw, "adaptive", draw(st.booleans()), obs)
    return obs


@st.composite
def _rule(draw: st.DrawFn, behaviours: list[str]) -> dict[str, Any]:
    points = st.floats(-100, 100, allow_nan=False)
    rule: dict[str, Any] = {
        "on": draw(st.sampled_from(behaviours)),
        "points": draw(points | st.lists(points, min_size=1, max_size=4)),
    }
    _maybe(draw, "max_per_year", draw(st.none() | st.integers(1, 50)), rule)
    _maybe(draw, "at_most", draw(st.none() | st.floats(-2000, 5000, allow_nan=False)), rule)
    return rule


@st.composite
def _on_event(draw: st.DrawFn, behaviours: list[str]) -> dict[str, Any]:
    names = st.lists(st.sampled_from(behaviours), min_size=1, max_size=3, unique=True)
    out: dict[str, Any] = {"on": draw(st.sampled_from(behaviours) | names)}
    count = draw(st.integers(1, 4))
    if count > 1 or draw(st.booleans()):
        out["within_days"] = draw(st.integers(1, 800))
    _maybe(draw, "count", count, out)
    if out.get("count", 1) == 1 and "within_days" in out and draw(st.booleans()):
        out["within_days"] = None
    _maybe(draw, "term_days", draw(st.none() | st.integers(1, 2000)), out)
    _maybe(draw, "serious_share", draw(_unit()), out)
    lo = draw(st.integers(0, 400))
    _maybe(draw, "serious_extra_days", [lo, lo + draw(st.integers(0, 800))], out)
    return out


@st.composite
def _exit(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _maybe(draw, "after_days", draw(st.none() | st.integers(1, 2000)), out)
    cure: dict[str, Any] = {"rate": draw(st.floats(0, 0.05, allow_nan=False))}
    _maybe(draw, "delay_days", draw(st.integers(0, 60)), cure)
    _maybe(draw, "removal_probability", draw(_unit()), cure)
    _maybe(draw, "late_removal_rate", draw(_unit()), cure)
    _maybe(draw, "cure", draw(st.none() | st.just(cure)), out)
    _maybe(draw, "reset_score", draw(st.booleans()), out)
    return out


@st.composite
def _list(
    draw: st.DrawFn, behaviours: list[str], grades: list[str], name: str | None
) -> dict[str, Any]:
    on_grade = st.fixed_dictionaries(
        {"grade": st.sampled_from(grades), "for_days": st.integers(1, 400)}
    )
    enter = st.lists(_on_event(behaviours) | on_grade, min_size=1, max_size=3)
    out: dict[str, Any] = {"enter": draw(enter)}
    if name is not None:
        out = {"name": name, **out}
    _maybe(draw, "exit", draw(_exit()), out)
    return out


@st.composite
def _applies_to(draw: st.DrawFn, grades: list[str], listed: bool, lists: list[str]) -> Any:
    if listed and draw(st.booleans()):
        return "blacklisted"
    on_lists = draw(st.lists(st.sampled_from(lists), unique=True)) if lists else []
    minimum = 0 if listed or on_lists else 1
    chosen = draw(st.lists(st.sampled_from(grades), unique=True, min_size=minimum))
    blacklisted = listed and ((not chosen and not on_lists) or draw(st.booleans()))
    out: dict[str, Any] = {}
    if chosen or draw(st.booleans()):
        out["grades"] = chosen
    if blacklisted or draw(st.booleans()):
        out["blacklisted"] = blacklisted
    if on_lists or draw(st.booleans()):
        out["lists"] = on_lists
    _maybe(draw, "family", draw(st.booleans()), out)
    if out.get("family"):
        first = draw(st.integers(0, 79))
        _maybe(draw, "ages", [first, draw(st.integers(first, 79))], out)
    return out


@st.composite
def _acts(
    draw: st.DrawFn, names: list[str], grades: list[str], listed: bool, lists: list[str]
) -> list[dict[str, Any]]:
    out = []
    for name in names:
        act: dict[str, Any] = {"name": name, "applies_to": draw(_applies_to(grades, listed, lists))}
        _maybe(draw, "by", draw(_TEXT), act)
        out.append(act)
    return out


@st.composite
def _groups(draw: st.DrawFn, behaviours: list[str]) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 3))
    names = draw(st.lists(_LABEL.filter(lambda s: s != "all"), min_size=n, max_size=n, unique=True))
    shares = _shares(draw, n)
    groups = []
    for name, share in zip(names, shares, strict=True):
        g: dict[str, Any] = {"name": name, "share": share}
        mult = draw(st.dictionaries(st.sampled_from(behaviours), st.floats(0, 5, allow_nan=False)))
        _maybe(draw, "rate_multiplier", mult, g)
        _maybe(draw, "false_match_multiplier", draw(st.floats(0, 5, allow_nan=False)), g)
        _maybe(draw, "accusation_multiplier", draw(st.floats(0, 5, allow_nan=False)), g)
        _maybe(draw, "appeal_multiplier", draw(st.floats(0, 5, allow_nan=False)), g)
        groups.append(g)
    return groups


def _responses(draw: st.DrawFn, out: dict[str, Any]) -> None:
    """Deterrence on penalised behaviours (or with a felt cost), gaming on rewarded ones,
    chilling and displacement next to deterred ones (the schema's cross-key rules)."""
    points: dict[str, float] = {}
    for rule in out.get("rules", []):
        first = rule["points"][0] if isinstance(rule["points"], list) else rule["points"]
        points[rule["on"]] = points.get(rule["on"], 0.0) + first
    behaviours = out["behaviours"]
    deterred = []
    for name, beh in behaviours.items():
        costed = points.get(name, 0.0) < 0 or draw(st.booleans())
        if costed and draw(st.booleans()):
            det: dict[str, Any] = {"sensitivity": draw(st.floats(0.01, 100))}
            if points.get(name, 0.0) >= 0:  # sanctioned without points: a felt cost
                det["cost"] = draw(st.floats(0.01, 100))
            _maybe(draw, "memory_days", draw(st.floats(0.5, 365)), det)
            _maybe(draw, "seen", draw(st.sampled_from(["friends", "everyone"])), det)
            beh["deterrence"] = det
            deterred.append(name)
        elif points.get(name, 0.0) > 0 and draw(st.booleans()):
            gaming: dict[str, Any] = {"uptake": draw(st.floats(1e-4, 1)), "rate": draw(_unit())}
            gaming["rate"] = max(gaming["rate"], 0.01)
            _maybe(draw, "detected", draw(_unit()), gaming)
            beh["gaming"] = gaming
    for name, beh in behaviours.items():
        if "deterrence" not in beh and deterred and draw(st.booleans()):
            beh["chilled_by"] = {
                "behaviour": draw(st.sampled_from(deterred)),
                "share": draw(_unit()),
            }
        others = [b for b in behaviours if b != name]
        if ("deterrence" in beh or "chilled_by" in beh) and others and draw(st.booleans()):
            beh["displaced_to"] = draw(st.sampled_from(others))


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
    _maybe(draw, "represents", draw(st.none() | st.integers(1, 10**10)), out)
    out["grades"] = grades
    out["behaviours"] = behaviours
    places = draw(_places())
    if len(places) > 1 or draw(st.booleans()):
        out["places"] = places
    pnames = [p["name"] for p in out.get("places", [{"name": "everywhere"}])]
    onames = draw(st.lists(_LABEL, max_size=MAX_OBSERVERS, unique=True))
    _maybe(draw, "observers", [draw(_observer(n, bnames, pnames)) for n in onames], out)
    _maybe(draw, "rules", draw(st.lists(_rule(bnames), max_size=6)), out)
    _responses(draw, out)
    listed = draw(st.booleans())
    if listed:
        blacklist = draw(_list(bnames, gnames, None))
        if draw(st.booleans()):
            blacklist = {"name": "blacklist", **blacklist}
        out["blacklist"] = blacklist
    elif draw(st.booleans()):
        out["blacklist"] = None
    others = _LABEL.filter(lambda s: s != "blacklist")
    lnames = draw(st.lists(others, max_size=MAX_LISTS - 1, unique=True))
    if lnames or draw(st.booleans()):
        out["lists"] = [draw(_list(bnames, gnames, n)) for n in lnames]
    snames = draw(st.lists(_LABEL, max_size=5, unique=True))
    split = draw(st.integers(0, len(snames)))
    _maybe(draw, "sanctions", draw(_acts(snames[:split], gnames, listed, lnames)), out)
    _maybe(draw, "rewards", draw(_acts(snames[split:], gnames, listed, lnames)), out)
    network: dict[str, Any] = {}
    _maybe(draw, "degree", draw(st.integers(0, 50)), network)
    _maybe(draw, "liability", draw(_unit()), network)
    _maybe(draw, "liability_direction", draw(st.sampled_from(["both", "down"])), network)
    _maybe(draw, "locality", draw(_unit()), network)
    _maybe(draw, "homophily", draw(_unit()), network)
    _maybe(draw, "degree_spread", draw(st.floats(0, 3, allow_nan=False)), network)
    _maybe(draw, "friend_deductions", draw(_unit()), network)
    shun = [st.just({"low_grade": draw(st.sampled_from(gnames))})]
    drawn = [act["name"] for act in out.get("sanctions", [])]
    if drawn:
        shun.append(st.lists(st.sampled_from(drawn), min_size=1, unique=True))
    if out.get("blacklist") or out.get("lists"):
        shun.append(st.just("listed"))
    distancing = {"rate": draw(_unit()), "from": draw(st.one_of(shun))}
    _maybe(draw, "distancing", draw(st.none() | st.just(distancing)), network)
    penalty = {"grade": draw(st.sampled_from(gnames)), "points": draw(st.floats(0.01, 100))}
    _maybe(draw, "low_friend_penalty", draw(st.none() | st.just(penalty)), network)
    _maybe(draw, "network", network, out)
    _maybe(draw, "groups", draw(_groups(bnames)), out)
    _maybe(draw, "households", {"mean_size": draw(st.floats(1, 5, allow_nan=False))}, out)
    _maybe(draw, "enrolment", {"share": draw(_unit())}, out)
    _maybe(draw, "population", draw(st.none() | st.integers(1, 10**6)), out)
    appeals: dict[str, Any] = {"rate": draw(_unit())}
    _maybe(draw, "delay_days", draw(st.integers(0, 90)), appeals)
    _maybe(draw, "success_if_false", draw(_unit()), appeals)
    _maybe(draw, "success_if_true", draw(_unit()), appeals)
    undoes = st.lists(st.sampled_from(["points", "listing"]), min_size=1, max_size=2, unique=True)
    _maybe(draw, "undoes", draw(undoes), appeals)
    _maybe(draw, "appeals", draw(st.none() | st.just(appeals)), out)
    return out


def regime_objects() -> st.SearchStrategy[Any]:
    """Validated :class:`scsim.regime.Regime` objects drawn from :func:`regimes`."""
    from scsim.regime import Regime

    return regimes().map(Regime.model_validate)
