"""Reading world files: the operators' regimes, the world they share, and errors with
``file:line`` as clear as the regime loader's.

Each operator runs its own regime over the world's people: the world's behaviours
(the union of the operators', one rate each), groups, places, households and graph
(the first operator's unless the world gives its own), and scale: a world that gives
its own population stands for itself (``represents`` null), one that does not for as
many people as the first operator's ``represents`` says. An operator that receives data
gets one ``records`` observer named after each sender; it sees nothing itself (zero
coverage): the flow's records arrive through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from scsim.errors import RegimeError
from scsim.regime.loader import (
    _NOTHING,
    _format_validation,
    _line_of,
    _message,
    _override,
    _parse,
    _plain,
    builtin_names,
    check_arguments,
    load_regime,
    not_found,
    read_source,
    validate_mapping,
    yaml_names,
)
from scsim.regime.schema import Behaviour, Regime
from scsim.world.schema import Operator, World

__all__ = ["builtin_world_names", "is_world", "load", "load_world"]

#: Population keys of the first operator's network that are the world's graph.
GRAPH_KEYS = ("degree", "locality", "homophily", "degree_spread")
#: Behaviour keys that make people change: only the first operator's records drive
#: behaviour change and distancing (``engine.world``), so the others' copies drop
#: them (and their ``network.distancing``).
RESPONSE_KEYS = ("deterrence", "chilled_by", "displaced_to", "gaming")


def _builtin_dir() -> Any:
    return resources.files("scsim.world").joinpath("builtin")


def builtin_world_names() -> list[str]:
    """Names of the worlds shipped with scsim, sorted."""
    return yaml_names(_builtin_dir())


def is_world(name_or_path: str | Path) -> bool:
    """Whether a name or file is a world (a mapping with ``operators``)."""
    if isinstance(name_or_path, str):
        if name_or_path in builtin_world_names():
            return True
        if name_or_path in builtin_names():
            return False
    path = Path(name_or_path)
    if not path.is_file():
        return False
    try:
        data = _parse(path.read_text(encoding="utf-8"), str(path))
    except (RegimeError, OSError, UnicodeDecodeError):
        return False  # the regime loader says what is wrong with it
    return isinstance(data, dict) and "operators" in data


def load(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Regime | World:
    """A regime or a world, whichever the name or file is."""
    overrides = check_arguments(name_or_path, overrides)
    if Path(name_or_path).is_dir():
        raise RegimeError(f"{name_or_path}: a directory, not a file (allowed: a YAML file)")
    if is_world(name_or_path):
        return load_world(name_or_path, overrides)
    if not Path(name_or_path).is_file() and name_or_path not in builtin_names():
        names = [*builtin_names(), *builtin_world_names()]
        raise RegimeError(not_found(name_or_path, "built-in regime, world", names))
    return load_regime(name_or_path, overrides)


def load_world(name_or_path: str | Path, overrides: Sequence[str] = ()) -> World:
    """Load, override and validate a world and its operators' regimes; every mistake
    becomes one :class:`~scsim.errors.RegimeError` saying ``file:line: key: problem``."""
    overrides = check_arguments(name_or_path, overrides)
    text, where = read_source(name_or_path, _builtin_dir(), "world")
    data = _parse(text, where)
    if not isinstance(data, dict):
        raise RegimeError(_message(where, 1, "", "not a mapping", data, "a mapping with operators"))
    applied = [(_override(data, o, World), o) for o in overrides]
    try:
        world = World.model_validate(_plain(data))
    except ValidationError as exc:
        raise RegimeError(_format_validation(exc, data, where, applied, World)) from None
    base = None if where.startswith("builtin:") else Path(where).parent
    originals = {
        name: _operator(name, op, base, data, where) for name, op in world.operators.items()
    }
    world._source = where
    world._raw = data
    world._originals = originals
    world._regimes = _derive(world, originals, data, where)
    return world


def _fail(data: Any, where: str, loc: tuple, problem: str, got: Any = _NOTHING, allowed: str = ""):
    key = ".".join(str(p) for p in loc)
    return RegimeError(_message(where, _line_of(data, loc), key, problem, got, allowed))


def _operator(name: str, op: str | Operator, base: Path | None, data: Any, where: str) -> Regime:
    spec = op if isinstance(op, Operator) else Operator(regime=op)
    at = ("operators", name)
    try:
        if isinstance(spec.regime, Regime):
            raw = CommentedMap(spec.regime.model_dump(mode="json"))
            for text in spec.set:
                _override(raw, text)
            return validate_mapping(raw, f"{where}: operators.{name}")
        ref = spec.regime
        if ref not in builtin_names() and base is not None and not Path(ref).is_absolute():
            ref = str(base / ref)
        return load_regime(ref, spec.set)
    except RegimeError as exc:
        raise _fail(data, where, at, f"its regime is refused: {exc}") from None


def _union(world: World, originals: dict[str, Regime], data: Any, where: str) -> dict:
    """One rate per behaviour for the whole population, in order of first mention."""
    union: dict[str, Behaviour] = {}
    first: dict[str, str] = {}
    for name, regime in originals.items():
        for b, beh in regime.behaviours.items():
            if b in world.behaviours:
                union.setdefault(b, world.behaviours[b])
            elif b not in union:
                union[b], first[b] = beh, name
            elif union[b] != beh:
                raise _fail(
                    data,
                    where,
                    ("operators", name),
                    f"behaviour {b} differs from operator {first[b]}'s",
                    f"rate {beh.rate:g} (theirs: {union[b].rate:g})",
                    f"one definition: give {b} in the world's behaviours",
                )
    for b, beh in world.behaviours.items():
        union.setdefault(b, beh)
    return union


def _check_flows(world: World, originals: dict[str, Regime], data: Any, where: str) -> None:
    for i, flow in enumerate(world.flows):
        src, dst = originals[flow.from_], originals[flow.to]
        at = ("flows", i)
        if flow.events is not None:
            for j, b in enumerate(flow.events):
                if b not in src.behaviours:
                    raise _fail(
                        data, where, (*at, "events", j), f"{flow.from_} has no such behaviour",
                        b, ", ".join(src.behaviours),
                    )  # fmt: skip
                if flow.as_ is None and b not in dst.behaviours:
                    raise _fail(
                        data, where, (*at, "events", j), f"{flow.to} has no such behaviour",
                        b, f"one of {flow.to}'s behaviours, or set `as:`",
                    )  # fmt: skip
        _check_source(flow.list_, flow.grade, src, flow.from_, data, where, at)
        if flow.as_ is not None and flow.as_ not in dst.behaviours:
            raise _fail(
                data, where, (*at, "as"), f"{flow.to} has no such behaviour", flow.as_,
                ", ".join(dst.behaviours),
            )  # fmt: skip
        if flow.from_ in [o.name for o in dst.observers]:
            raise _fail(
                data, where, (*at, "from"),
                f"{flow.to} already has an observer of that name (records from "
                f"{flow.from_} arrive through an observer named after it)",
                flow.from_, "an operator name none of the receiver's observers has",
            )  # fmt: skip
    for i, joint in enumerate(world.joint_sanctions):
        at = ("joint_sanctions", i)
        _check_source(joint.list_, joint.grade, originals[joint.on], joint.on, data, where, at)


def _check_source(lst, grade, regime: Regime, name: str, data: Any, where: str, at) -> None:
    lists = [x.name for x in regime.all_lists]
    if lst is not None and lst not in lists:
        raise _fail(
            data, where, (*at, "list"), f"{name} has no such list", lst,
            ", ".join(lists) or f"none: {name} has no list",
        )  # fmt: skip
    grades = [g.name for g in regime.grades]
    if grade is not None and grade not in grades:
        raise _fail(
            data, where, (*at, "grade"), f"{name} has no such grade", grade, ", ".join(grades)
        )


def _derive(world: World, originals: dict[str, Regime], data: Any, where: str) -> dict[str, Regime]:
    """Each operator's regime over the world's people (see the module docstring)."""
    _check_flows(world, originals, data, where)
    union = _union(world, originals, data, where)
    society = next(iter(originals.values()))
    shared = {
        "groups": [g.model_dump(mode="json") for g in (world.groups or society.groups)],
        "places": [p.model_dump(mode="json") for p in (world.places or society.places)],
        "households": (world.households or society.households).model_dump(mode="json"),
    }
    feeds: dict[str, dict[str, set[str]]] = {name: {} for name in originals}
    for flow in world.flows:
        watched = feeds[flow.to].setdefault(flow.from_, set())
        watched.update([flow.as_] if flow.as_ is not None else flow.events or [])
    out = {}
    for k, (name, regime) in enumerate(originals.items()):
        d = regime.model_dump(mode="json")
        d.update(shared)
        d["behaviours"] = {
            b: beh.model_dump(mode="json", exclude=None if k == 0 else set(RESPONSE_KEYS))
            for b, beh in union.items()
        }
        for key in GRAPH_KEYS:
            d["network"][key] = getattr(society.network, key)
        if k > 0:
            d["network"]["distancing"] = None  # people drop ties once, as the first says
        for sender, watched in feeds[name].items():
            d["observers"].append(
                {"name": sender, "kind": "records", "watches": sorted(watched),
                 "coverage": 0.0, "detection": 0.0}
            )  # fmt: skip
        d["represents"] = society.represents
        if world.population is not None:
            d["population"], d["represents"] = world.population, None
        try:
            derived = validate_mapping(d, f"operator {name} in world {world.name}")
        except RegimeError as exc:
            raise _fail(
                data, where, ("operators", name), f"does not fit the world: {exc}"
            ) from None
        out[name] = regime if derived == regime else derived
    return out
