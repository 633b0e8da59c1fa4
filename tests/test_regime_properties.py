"""Properties of the regime format over many drawn regimes: valid draws validate and
round-trip through YAML; a numeric field pushed past its schema bound is refused with
a message naming it. Bounds are read from the pydantic models, never restated here."""

from __future__ import annotations

import copy
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from scsim.errors import RegimeError
from scsim.regime import Regime, load_regime
from scsim.regime.loader import dump_yaml
from scsim.testing.strategies import (
    MAX_BEHAVIOURS,
    MAX_GRADES,
    MAX_OBSERVERS,
    MAX_RATE,
    regime_objects,
    regimes,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_DIR = Path(tempfile.mkdtemp(prefix="scsim-regime-props-"))


def _load_text(text: str) -> Regime:
    path = _DIR / "drawn.yaml"
    path.write_text(text, encoding="utf-8")
    return load_regime(path)


@SETTINGS
@given(regimes())
def test_drawn_regimes_validate_and_stay_small(mapping: dict[str, Any]) -> None:
    regime = Regime.model_validate(mapping)
    assert 1 <= len(regime.behaviours) <= MAX_BEHAVIOURS
    assert len(regime.observers) <= MAX_OBSERVERS
    assert 1 <= len(regime.grades) <= MAX_GRADES
    assert all(b.rate <= MAX_RATE for b in regime.behaviours.values())


@SETTINGS
@given(regimes())
def test_drawn_regimes_load_from_yaml(mapping: dict[str, Any]) -> None:
    assert _load_text(dump_yaml(mapping)) == Regime.model_validate(mapping)


@SETTINGS
@given(regime_objects())
def test_to_yaml_round_trips(regime: Regime) -> None:
    text = regime.to_yaml()
    again = _load_text(text)
    assert again == regime
    assert again.content_hash() == regime.content_hash()
    assert again.to_yaml() == text


# ---------------------------------------------------------------- out of bounds


def _bounds(metadata: list[Any]) -> list[tuple[str, float]]:
    """(kind, limit) for every bound in a field's metadata."""
    out = []
    for m in metadata:
        for kind in ("ge", "gt", "le", "lt"):
            limit = getattr(m, kind, None)
            if isinstance(m, at.BaseMetadata) and limit is not None:
                out.append((kind, limit))
    return out


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    meta: list[Any] = []
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            args = typing.get_args(tp)
            for m in args[1:]:
                meta.extend(getattr(m, "metadata", [m]))
            tp = args[0]
        elif typing.get_origin(tp) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp, meta
            tp = members[0]
        else:
            return tp, meta


def _field_name(model: type[BaseModel], key: str) -> str:
    # A file's key is a field's name or its alias (distancing's from: field from_).
    aliases = {f.alias: name for name, f in model.model_fields.items() if f.alias}
    return aliases.get(key, key)


def _union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _member(value: Any, tp: Any) -> Any:
    """The member of a union that a value of this shape validates against."""
    for member in typing.get_args(tp):
        bare, _ = _strip(member)
        if isinstance(value, int | float) and bare in (int, float):
            return member
        if isinstance(value, list) and typing.get_origin(bare) is list:
            return member
        if isinstance(value, dict) and typing.get_origin(bare) is dict:
            return member
        if (
            isinstance(value, dict)
            and isinstance(bare, type)
            and issubclass(bare, BaseModel)
            and set(value) <= set(bare.model_fields)
        ):
            return member
    return None


def _numeric_sites(
    value: Any, tp: Any, meta: list[Any], path: tuple[Any, ...], out: list, owner: str = ""
) -> None:
    """Every numeric value in ``value`` whose schema type has a bound, with the
    ``Model.field`` that holds it."""
    tp, more = _strip(tp)
    meta = meta + more
    if isinstance(value, bool) or value is None:
        return
    if _union(tp):
        member = _member(value, tp)
        if member is not None:
            _numeric_sites(value, member, meta, path, out, owner)
        return
    if isinstance(value, int | float) and tp in (int, float) and _bounds(meta):
        out.append((path, tp, _bounds(meta), owner))
    elif isinstance(value, dict) and isinstance(tp, type) and issubclass(tp, BaseModel):
        for key, item in value.items():
            name = _field_name(tp, key)
            field = tp.model_fields[name]
            where = f"{tp.__name__}.{name}"
            _numeric_sites(item, field.annotation, list(field.metadata), (*path, key), out, where)
    elif isinstance(value, dict) and typing.get_origin(tp) is dict:
        for key, item in value.items():
            _numeric_sites(item, typing.get_args(tp)[1], [], (*path, key), out, owner)
    elif isinstance(value, list) and typing.get_origin(tp) is list:
        for i, item in enumerate(value):
            _numeric_sites(item, typing.get_args(tp)[0], [], (*path, i), out, owner)


def _bounded_fields(tp: Any, out: set[str], seen: set[Any]) -> None:
    """``Model.field`` for every field of the schema under ``tp`` with a numeric bound."""
    tp, _ = _strip(tp)
    members = typing.get_args(tp) if _union(tp) or typing.get_origin(tp) in (list, dict) else ()
    for member in members:
        _bounded_fields(member, out, seen)
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)) or tp in seen:
        return
    seen.add(tp)
    for name, field in tp.model_fields.items():
        bare, meta = _strip(field.annotation)
        if _bounds(list(field.metadata) + meta) and bare in (int, float):
            out.add(f"{tp.__name__}.{name}")
        inner: set[str] = set()
        _scalar_bounds(field.annotation, inner)
        if inner:
            out.add(f"{tp.__name__}.{name}")
        _bounded_fields(field.annotation, out, seen)


def _scalar_bounds(tp: Any, out: set[str]) -> None:
    # A bounded number inside a union, list or dict (points: a number or a list of them).
    tp, meta = _strip(tp)
    if tp in (int, float) and _bounds(meta):
        out.add("bounded")
    elif _union(tp) or typing.get_origin(tp) in (list, dict):
        for member in typing.get_args(tp):
            _scalar_bounds(member, out)


def _outside(tp: Any, kind: str, limit: float) -> float:
    step = 1 if tp is int else 1.0
    value = {"ge": limit - step, "gt": limit, "le": limit + step, "lt": limit}[kind]
    return int(value) if tp is int else float(value)


@st.composite
def out_of_bounds(draw: st.DrawFn) -> tuple[dict[str, Any], str, float]:
    """A valid regime with one bounded numeric field moved just past one of its bounds."""
    mapping = draw(regimes())
    sites: list = []
    _numeric_sites(mapping, Regime, [], (), sites)
    path, tp, bounds, _ = draw(st.sampled_from(sites))
    kind, limit = draw(st.sampled_from(bounds))
    bad = _outside(tp, kind, limit)
    mutated = copy.deepcopy(mapping)
    node: Any = mutated
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = bad
    return mutated, ".".join(str(p) for p in path), bad


def test_sites_cover_the_bounded_fields() -> None:
    # The walker must see bounds, else the property below tests nothing.
    regime = load_regime("rongcheng")
    sites: list = []
    _numeric_sites(regime.model_dump(mode="json"), Regime, [], (), sites)
    keys = {".".join(str(p) for p in path) for path, _, _, _ in sites}
    assert "behaviours.traffic_ticket.rate" in keys
    assert "observers.3.false_match_rate" in keys
    assert "groups.0.share" in keys
    assert "blacklist.enter.0.for_days" in keys
    assert "households.mean_size" in keys


def test_drawn_regimes_reach_every_bounded_field() -> None:
    # Every field the schema bounds, old or new, is drawn by regimes() often enough
    # that the mutation below moves it past its bounds in some example.
    expected: set[str] = set()
    _bounded_fields(Regime, expected, set())
    assert {"Rule.points", "EnterOnEvent.serious_extra_days", "Cure.rate"} <= expected
    reached: set[str] = set()

    @settings(max_examples=400, deadline=None, derandomize=True, database=None)
    @given(regimes())
    def collect(mapping: dict[str, Any]) -> None:
        sites: list = []
        _numeric_sites(mapping, Regime, [], (), sites)
        reached.update(owner for _, _, _, owner in sites)

    collect()
    assert expected - reached == set()


@SETTINGS
@given(out_of_bounds())
def test_out_of_bounds_is_refused_naming_the_key(case: tuple[dict[str, Any], str, float]) -> None:
    mutated, key, bad = case
    with pytest.raises(RegimeError) as info:
        _load_text(dump_yaml(mutated))
    message = str(info.value)
    assert "drawn.yaml:" in message
    assert f": {key}: " in message, message
    assert f"out of range (got {bad!r}; allowed: " in message, message
