"""Properties of the regime format over many drawn regimes: valid draws validate and
round-trip through YAML; a numeric field pushed past its schema bound is refused with
a message naming it. Bounds are read from the pydantic models, never restated here."""

from __future__ import annotations

import copy
import tempfile
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
        elif typing.get_origin(tp) in (typing.Union, __import__("types").UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp, meta
            tp = members[0]
        else:
            return tp, meta


def _numeric_sites(value: Any, tp: Any, meta: list[Any], path: tuple[Any, ...], out: list) -> None:
    """Every numeric value in ``value`` whose schema type has a bound."""
    tp, more = _strip(tp)
    meta = meta + more
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float) and tp in (int, float) and _bounds(meta):
        out.append((path, tp, _bounds(meta)))
    elif isinstance(value, dict) and isinstance(tp, type) and issubclass(tp, BaseModel):
        for key, item in value.items():
            field = tp.model_fields[key]
            _numeric_sites(item, field.annotation, list(field.metadata), (*path, key), out)
    elif isinstance(value, dict) and typing.get_origin(tp) is dict:
        for key, item in value.items():
            _numeric_sites(item, typing.get_args(tp)[1], [], (*path, key), out)
    elif isinstance(value, list) and typing.get_origin(tp) is list:
        for i, item in enumerate(value):
            _numeric_sites(item, typing.get_args(tp)[0], [], (*path, i), out)
    elif isinstance(value, dict) and typing.get_origin(tp) in (
        typing.Union,
        __import__("types").UnionType,
    ):
        # A union of models (blacklist conditions): the member whose keys match.
        for member in typing.get_args(tp):
            bare, _ = _strip(member)
            if isinstance(bare, type) and set(value) <= set(bare.model_fields):
                _numeric_sites(value, bare, [], path, out)
                return


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
    path, tp, bounds = draw(st.sampled_from(sites))
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
    keys = {".".join(str(p) for p in path) for path, _, _ in sites}
    assert "behaviours.traffic_ticket.rate" in keys
    assert "observers.3.false_match_rate" in keys
    assert "groups.0.share" in keys
    assert "blacklist.enter.0.for_days" in keys
    assert "households.mean_size" in keys


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
