"""Reading regime files: YAML 1.2 with line numbers, ``--set`` overrides, and errors
that say what is wrong, where (``file:line`` and the dotted key) and what is allowed.

ruamel.yaml's round-trip loader keeps the line of every key, so a pydantic error
location such as ``("rules", 0, "pointz")`` can be turned back into the line the user
wrote. Only the first problem is reported: one clear message beats a wall of them.
"""

from __future__ import annotations

import io
import json
import types
import typing
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from scsim.errors import RegimeError
from scsim.regime.schema import Regime, RegimeFieldError

__all__ = ["builtin_names", "dump_yaml", "load_regime"]

Loc = tuple[str | int, ...]
_NOTHING = object()


# ----------------------------------------------------------------------------- YAML


def _yaml() -> YAML:
    # A fresh round-trip YAML 1.2 instance per use: instances are not thread-safe, and
    # "rt" keeps line numbers and refuses duplicate keys.
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _parse(text: str, where: str) -> Any:
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        context = str(exc.context or "").strip()
        if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context += f" (started at line {exc.context_mark.line + 1})"
        problem = str(exc.problem or "").strip()
        if type(exc).__name__ == "DuplicateKeyError":
            raise RegimeError(
                f"{where}:{line}: YAML error: {problem.splitlines()[0]} "
                "(allowed: each key once per mapping)"
            ) from None
        text = " ".join(p.splitlines()[0] for p in (context, problem) if p)
        raise RegimeError(f"{where}:{line}: YAML error: {text}") from None
    except YAMLError as exc:
        raise RegimeError(f"{where}:1: YAML error: {exc}") from None


def dump_yaml(data: Any) -> str:
    """Plain data (dicts, lists, scalars) as block-style YAML 1.2 with a version
    directive, so that a reader cannot mistake the key ``on`` for a YAML 1.1 boolean."""
    yaml = _yaml()
    yaml.version = (1, 2)
    yaml.default_flow_style = False
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _plain(node: Any) -> Any:
    """ruamel's round-trip types as plain Python values, so that validated models hold
    ordinary floats and strings (and compare and hash as such)."""
    if isinstance(node, dict):
        return {_plain(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, ScalarBoolean):
        return bool(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _line_of(data: Any, loc: Loc) -> int:
    """1-based line of the deepest key of ``loc`` that exists in the file."""
    line = 0
    if isinstance(data, CommentedMap | CommentedSeq):
        line = data.lc.line or 0
    node = data
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            if part not in node.lc.data:
                break  # put there by an override: no line in the file
            line = node.lc.key(part)[0]
            node = node[part]
        elif (
            isinstance(node, CommentedSeq)
            and isinstance(part, int)
            and not isinstance(part, bool)
            and 0 <= part < len(node)
        ):
            if part not in node.lc.data:
                break
            line = node.lc.item(part)[0]
            node = node[part]
        else:
            break
    return line + 1


# --------------------------------------------------------------------------- schema


def _unwrap(tp: Any) -> tuple[Any, list[Any], bool]:
    """Strip ``Annotated`` and ``| None``: (bare type, constraints metadata, nullable)."""
    meta: list[Any] = []
    nullable = False
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            args = typing.get_args(tp)
            for m in args[1:]:
                meta.extend(m.metadata if isinstance(m, FieldInfo) else [m])
            tp = args[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) < len(typing.get_args(tp)):
                nullable = True
            if len(members) == 1:
                tp = members[0]
                continue
        return tp, meta, nullable


def _union_members(tp: Any) -> list[Any]:
    """The members of a union, each with its own ``Annotated`` constraints kept."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)]
    return []


def _member_name(tp: Any) -> str | None:
    # Union tags are the members' bare names: a class name, or float / list / dict.
    return getattr(_unwrap(tp)[0], "__name__", None)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_name(model: type[BaseModel], key: str) -> str:
    """The field a file's key fills: its name, or the field whose alias it is
    (``from`` is a Python keyword, so the field is ``from_``)."""
    for name, info in model.model_fields.items():
        if info.alias == key:
            return name
    return key


def _keys(model: type[BaseModel]) -> str:
    """The keys a file may give a model, as the file spells them."""
    return ", ".join(info.alias or name for name, info in model.model_fields.items())


class _Site:
    """What the schema says about one location: its clean dotted path (union tags and
    ``[key]`` markers removed), its type and constraints, and the model holding it."""

    def __init__(self) -> None:
        self.loc: list[str | int] = []
        self.tp: Any = Regime
        self.meta: list[Any] = []
        self.nullable = False
        self.parent: type[BaseModel] | None = None
        self.is_key = False
        self.known = True


def _site(loc: Loc, root: type[BaseModel] = Regime) -> _Site:
    site = _Site()
    site.tp = root
    tp: Any = root
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        i += 1
        bare, meta, nullable = _unwrap(tp)
        if part == "[key]":
            continue
        members = _union_members(bare)
        if members:
            match = [m for m in members if _member_name(m) == part]
            if match:
                tp = match[0]
                continue
        site.loc.append(part)
        if not site.known:
            continue
        field = _field_name(bare, part) if _is_model(bare) and isinstance(part, str) else part
        if _is_model(bare) and isinstance(field, str) and field in bare.model_fields:
            info = bare.model_fields[field]
            site.parent = bare
            tp = info.annotation
            site.meta = list(info.metadata)
        elif typing.get_origin(bare) is list and isinstance(part, int):
            tp = typing.get_args(bare)[0]
            site.meta = []
            site.parent = None
        elif typing.get_origin(bare) is dict:
            key_tp, value_tp = typing.get_args(bare)
            if i < len(parts) and parts[i] == "[key]":
                tp = key_tp
                site.is_key = True
            else:
                tp = value_tp
            site.meta = []
            site.parent = None
        else:
            if _is_model(bare):
                site.parent = bare
            site.known = False
            tp = None
    if site.known:
        bare, meta, nullable = _unwrap(tp)
        site.tp = bare
        site.meta += meta
        site.nullable = nullable
    else:
        site.tp = None
    return site


def _num(x: float) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return str(x)


def _range(meta: list[Any]) -> str:
    lo = hi = ""
    for m in meta:
        if getattr(m, "ge", None) is not None:
            lo = f">= {_num(m.ge)}"
        if getattr(m, "gt", None) is not None:
            lo = f"> {_num(m.gt)}"
        if getattr(m, "le", None) is not None:
            hi = f"<= {_num(m.le)}"
        if getattr(m, "lt", None) is not None:
            hi = f"< {_num(m.lt)}"
    return " and ".join(p for p in (lo, hi) if p)


def _describe(tp: Any, meta: Sequence[Any] = (), nullable: bool = False) -> str:
    """Human words for what a location accepts, from the same metadata pydantic checks."""
    bare, more, null2 = _unwrap(tp)
    meta = [*meta, *more]
    nullable = nullable or null2
    text: str
    rng = _range(meta)
    members = _union_members(bare)
    if members:
        text = " or ".join(_describe(m) for m in members)
    elif bare is bool:
        text = "true or false"
    elif bare is int:
        text = "an integer" + (f" {rng}" if rng else "")
    elif bare is float:
        text = "a number" + (f" {rng}" if rng else "")
    elif bare is str:
        pattern = next((m.pattern for m in meta if getattr(m, "pattern", None)), None)
        text = f"a string matching {pattern}" if pattern else "a string"
    elif typing.get_origin(bare) is typing.Literal:
        text = " or ".join(repr(a) for a in typing.get_args(bare))
    elif typing.get_origin(bare) is list:
        item = _describe(typing.get_args(bare)[0])
        sizes = [
            f"{word} {getattr(m, attr)}"
            for m in meta
            for attr, word in (("min_length", "at least"), ("max_length", "at most"))
            if getattr(m, attr, None)
        ]
        text = f"a list of ({item})"
        if sizes:
            text += " with " + " and ".join(sizes) + " item(s)"
    elif typing.get_origin(bare) is dict:
        key_tp, value_tp = typing.get_args(bare)
        text = f"a mapping of ({_describe(key_tp)}) to ({_describe(value_tp)})"
        for m in meta:
            if getattr(m, "min_length", None):
                text += f" with at least {m.min_length} entry"
    elif _is_model(bare):
        text = "a mapping {" + _keys(bare) + "}"
    else:
        text = getattr(bare, "__name__", str(bare))
    if nullable:
        text += " or null"
    return text


# --------------------------------------------------------------------------- errors


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    try:
        text = json.dumps(_plain(value), default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _message(
    where: str, line: int | None, key: str, problem: str, got: Any = _NOTHING, allowed: str = ""
) -> str:
    head = f"{where}:{line}" if line is not None else where
    parts = []
    if got is not _NOTHING:
        parts.append(f"got {_show(got)}")
    if allowed:
        parts.append(f"allowed: {allowed}")
    tail = f" ({'; '.join(parts)})" if parts else ""
    return f"{head}: {key or '(top level)'}: {problem}{tail}"


_TYPE_ERRORS = ("_type", "_parsing", "int_from_float", "model_attributes_type")
_RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _explain(err: Any, root: type[BaseModel] = Regime) -> tuple[Loc, str, Any, str]:
    """(clean loc, problem, got, allowed) for one pydantic error."""
    kind = err["type"]
    exc = (err.get("ctx") or {}).get("error")
    if isinstance(exc, RegimeFieldError):
        site = _site(tuple(err["loc"]) + tuple(exc.loc), root)
        return tuple(site.loc), exc.problem, exc.got, exc.allowed
    site = _site(tuple(err["loc"]), root)
    loc = tuple(site.loc)
    allowed = _describe(site.tp, site.meta, site.nullable) if site.known else ""
    got = err.get("input", _NOTHING)
    if kind == "extra_forbidden":
        names = _keys(site.parent) if site.parent else ""
        return loc, "unknown key", _NOTHING, names
    if kind == "missing":
        return loc, "missing required key", _NOTHING, allowed
    if kind in _RANGE_ERRORS:
        return loc, "out of range", got, allowed
    if kind == "finite_number":
        return loc, "not a finite number", got, allowed
    if kind == "string_pattern_mismatch":
        return (
            loc,
            "bad name" if site.is_key or loc[-1:] == ("name",) else "bad format",
            got,
            allowed,
        )
    if kind == "too_short":
        return loc, "too few items" if isinstance(got, list) else "must not be empty", got, allowed
    if kind == "too_long":
        return loc, "too many items", _NOTHING, allowed
    if kind == "enter_condition":
        return loc, "unrecognised entry condition", got, allowed
    if kind == "shape":
        return loc, "wrong type", got, allowed
    if kind.endswith(_TYPE_ERRORS) or kind in ("bool_type", "literal_error"):
        return loc, "wrong type" if kind != "literal_error" else "not allowed", got, allowed
    msg = str(err.get("msg", kind))
    msg = msg.removeprefix("Value error, ")
    return loc, msg[:1].lower() + msg[1:], got, allowed


def _format_validation(
    exc: ValidationError,
    data: Any,
    where: str,
    overrides: list[tuple[Loc, str]],
    root: type[BaseModel] = Regime,
) -> str:
    errors = exc.errors(include_url=False)
    # A misspelt key shows up twice: as unknown and as the real one missing. The
    # unknown key is the one the user can act on.
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    err = (unknown or errors)[0]
    loc, problem, got, allowed = _explain(err, root)
    key = ".".join(str(p) for p in loc)
    for path, text in reversed(overrides):
        n = min(len(path), len(loc))
        if tuple(path[:n]) == tuple(loc[:n]) and n > 0:
            return _message(f"--set {text}", None, key, problem, got, allowed)
    return _message(where, _line_of(data, loc), key, problem, got, allowed)


# ------------------------------------------------------------------------- overrides


def _override(data: Any, text: str, root: type[BaseModel] = Regime) -> Loc:
    """Apply one ``dotted.key=value`` to the raw mapping in place; return the path
    that errors are blamed on: the key set, or the first section it had to create."""
    where = f"--set {text}"
    key, eq, raw = text.partition("=")
    key = key.strip()
    if not eq or not key:
        raise RegimeError(
            _message(
                where, None, key, "expected dotted.key=value", allowed="e.g. rules.0.points=-10"
            )
        )
    parts_text = key.split(".")
    if any(not p for p in parts_text):
        raise RegimeError(_message(where, None, key, "empty part in the dotted key"))
    try:
        value = _yaml().load(raw)
    except YAMLError as exc:
        first = str(getattr(exc, "problem", None) or exc).strip().splitlines()[0]
        raise RegimeError(
            _message(where, None, key, f"bad value: {first}", raw, "a YAML 1.2 value")
        ) from None
    node = data
    path: list[str | int] = []
    created: int | None = None
    for i, part in enumerate(parts_text):
        last = i == len(parts_text) - 1
        here = ".".join(str(p) for p in path) or "(top level)"
        if isinstance(node, list):
            if not part.isdigit():
                raise RegimeError(
                    _message(
                        where,
                        None,
                        key,
                        f"{here} is a list, its index must be an integer",
                        part,
                        f"0 to {len(node) - 1}" if node else "nothing: the list is empty",
                    )
                )
            idx = int(part)
            if idx >= len(node):
                raise RegimeError(
                    _message(
                        where,
                        None,
                        key,
                        f"no item {idx} in {here}",
                        idx,
                        f"0 to {len(node) - 1}" if node else "nothing: the list is empty",
                    )
                )
            path.append(idx)
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            path.append(part)
            if last:
                node[part] = value
            elif part in node and node[part] is not None:
                node = node[part]
            else:
                site = _site(tuple(path), root)
                if site.known and (_is_model(site.tp) or typing.get_origin(site.tp) is dict):
                    # An optional section absent from the file: start it empty.
                    node[part] = CommentedMap()
                    node = node[part]
                    if created is None:
                        created = len(path)
                else:
                    existing = ", ".join(str(k) for k in node) or "none"
                    raise RegimeError(
                        _message(
                            where,
                            None,
                            key,
                            f"no key {part!r} in {here}",
                            allowed=f"keys there: {existing}",
                        )
                    )
        else:
            raise RegimeError(
                _message(
                    where,
                    None,
                    key,
                    f"{here} is a single value, it has no key {part!r}",
                    node,
                    f"a path ending at {here}",
                )
            )
    return tuple(path[:created]) if created is not None else tuple(path)


# ---------------------------------------------------------------------------- entry


def _builtin_dir(package: str = "scsim.regime") -> Any:
    return resources.files(package).joinpath("builtin")


def yaml_names(folder: Any) -> list[str]:
    """The names of the YAML files in a package folder, sorted."""
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def builtin_names() -> list[str]:
    """Names of the regimes shipped with scsim, sorted."""
    return yaml_names(_builtin_dir())


def read_source(
    name_or_path: str | Path, folder: Any = None, kind: str = "regime"
) -> tuple[str, str]:
    """(YAML text, label for messages) of a built-in name (a file of ``folder``, the
    built-in regimes by default) or a file path."""
    folder = folder or _builtin_dir()
    names = yaml_names(folder)
    if isinstance(name_or_path, str) and name_or_path in names:
        text = folder.joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
        return text, f"builtin:{name_or_path}"
    path = Path(name_or_path)
    if not path.is_file():
        raise RegimeError(
            f"{name_or_path}: no such built-in {kind} or file "
            f"(allowed: a path to a YAML file, or one of: {', '.join(names)})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RegimeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise RegimeError(f"{path}: cannot read ({exc.strerror})") from None
    return text, str(path)


def load_regime(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Regime:
    """Load, override and validate a regime; every user mistake becomes one
    :class:`~scsim.errors.RegimeError` saying ``file:line: dotted.key: problem``."""
    text, where = read_source(name_or_path)
    return regime_from_text(text, where, overrides)


def regime_from_text(text: str, where: str, overrides: Sequence[str] = ()) -> Regime:
    """Validate a regime given as YAML text (an upload, parsed in memory); ``where``
    names it in messages (``where:line: key: problem``)."""
    if isinstance(overrides, str):
        overrides = (overrides,)
    data = _parse(text, where)
    if data is None:
        data = CommentedMap()
    if not isinstance(data, dict):
        raise RegimeError(
            _message(where, 1, "", "not a mapping", data, "a mapping with keys name, grades, ...")
        )
    applied = [(_override(data, o), o) for o in overrides]
    try:
        regime = Regime.model_validate(_plain(data))
    except ValidationError as exc:
        raise RegimeError(_format_validation(exc, data, where, applied)) from None
    regime._source = where
    return regime


def validate_mapping(data: Any, where: str = "<mapping>") -> Regime:
    """Validate an already-parsed mapping (no line numbers) with the loader's messages."""
    try:
        return Regime.model_validate(_plain(data))
    except ValidationError as exc:
        raise RegimeError(_format_validation(exc, data, where, [])) from None
