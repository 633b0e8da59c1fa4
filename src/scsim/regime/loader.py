"""Reading regime files: YAML 1.2 with line numbers, ``--set`` overrides, and errors
that say what is wrong, where (``file:line`` and the dotted key) and what is allowed.

ruamel.yaml's round-trip loader keeps the line of every key, so a pydantic error
location such as ``("rules", 0, "pointz")`` can be turned back into the line the user
wrote. Only the first problem is reported: one clear message beats a wall of them.
"""

from __future__ import annotations

import copy
import io
import json
import re
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
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from scsim.errors import OptionError, RegimeError
from scsim.regime.schema import Regime, RegimeFieldError

__all__ = ["builtin_names", "commented_yaml", "dump_yaml", "load_regime"]

Loc = tuple[str | int, ...]
_NOTHING = object()


# ----------------------------------------------------------------------------- YAML


def _yaml() -> YAML:
    # A fresh round-trip YAML 1.2 instance per use: instances are not thread-safe, and
    # "rt" keeps line numbers and refuses duplicate keys.
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


#: Deepest nesting of lists and mappings a file may have (a regime needs about 6, a
#: world with inline regimes about 9). Deeper is refused before anything is built.
MAX_DEPTH = 64
#: Most nodes that aliases may repeat in one file, in all. Anchors and aliases are
#: allowed, but "billion laughs" (aliases of aliases of ...) is refused by counting,
#: before anything is expanded.
MAX_ALIAS_NODES = 100_000
#: Plain words YAML 1.1 reads as booleans and YAML 1.2 reads as strings.
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}


class _Refused(Exception):
    """A document the event pass refuses: 1-based line, problem, what is allowed."""

    def __init__(self, line: int, problem: str, allowed: str) -> None:
        super().__init__(problem)
        self.line, self.problem, self.allowed = line, problem, allowed


def _check_events(text: str) -> None:
    """Refuse, from the parser's events alone, what would otherwise break or hang what
    follows: nesting deeper than :data:`MAX_DEPTH` (the composer recurses), an alias
    inside its own anchor (an endless value), aliases repeating more than
    :data:`MAX_ALIAS_NODES` nodes, complex keys, YAML 1.1 booleans, and tags (``!foo``
    would reach the schema as an opaque object: "got 'bar', allowed: a string").

    The parser is a state machine, so this pass is linear in the text whatever it
    holds, and it stops at the first problem.
    """
    check = _EventCheck()
    for ev in _yaml().parse(text):
        check.event(ev)


class _EventCheck:
    """The running state of :func:`_check_events`: the open collections (is it a
    mapping, children so far, nodes so far, anchor) and the expanded size of every
    anchor seen."""

    def __init__(self) -> None:
        self.stack: list[list[Any]] = []
        self.sizes: dict[str, int] = {}  # anchor -> nodes its value expands to
        self.collections: set[str] = set()  # anchors of lists and mappings
        self.repeated = 0  # nodes aliases repeat, in all
        self.version: Any = None

    def event(self, ev: Any) -> None:
        kind = type(ev).__name__
        if kind == "DocumentStartEvent":
            self.version = ev.version
        elif kind in ("SequenceEndEvent", "MappingEndEvent"):
            _, _, nodes, anchor = self.stack.pop()
            if anchor is not None:
                self.sizes[anchor] = nodes
            self._add(nodes)
        elif kind in ("ScalarEvent", "AliasEvent", "SequenceStartEvent", "MappingStartEvent"):
            self._node(kind, ev, ev.start_mark.line + 1)

    def _add(self, nodes: int) -> None:
        if self.stack:
            self.stack[-1][2] += nodes

    def _node(self, kind: str, ev: Any, line: int) -> None:
        is_key = bool(self.stack) and self.stack[-1][0] and self.stack[-1][1] % 2 == 0
        if self.stack:
            self.stack[-1][1] += 1
        if getattr(ev, "tag", None) is not None:
            tag = str(ev.tag).replace("tag:yaml.org,2002:", "!!")
            raise _Refused(line, f"a tag ({tag})", "plain values without tags; quote a string")
        if kind == "AliasEvent":
            self._alias(str(ev.anchor), is_key, line)
            return
        anchor = None if ev.anchor is None else str(ev.anchor)
        if kind == "ScalarEvent":
            self._scalar(ev, line)
            if anchor is not None:
                self.sizes[anchor] = 1
            self._add(1)
            return
        if is_key:
            raise _Refused(line, "a list or mapping as a key", "a plain value as a key")
        if anchor is not None:
            self.collections.add(anchor)
        self.stack.append([kind == "MappingStartEvent", 0, 1, anchor])
        if len(self.stack) > MAX_DEPTH:
            raise _Refused(
                line,
                f"lists and mappings nested more than {MAX_DEPTH} deep",
                f"at most {MAX_DEPTH} levels",
            )

    def _alias(self, anchor: str, is_key: bool, line: int) -> None:
        if any(entry[3] == anchor for entry in self.stack):
            raise _Refused(
                line,
                f"alias *{anchor} inside its own anchor &{anchor}: the value would contain itself",
                "aliases of values defined before them",
            )
        if is_key and anchor in self.collections:
            raise _Refused(line, "a list or mapping as a key", "a plain value as a key")
        nodes = self.sizes.get(anchor, 1)
        self.repeated += nodes
        if self.repeated > MAX_ALIAS_NODES:
            raise _Refused(
                line,
                f"aliases repeat more than {MAX_ALIAS_NODES:,} nodes",
                f"aliases repeating at most {MAX_ALIAS_NODES:,} nodes in all",
            )
        self._add(nodes)

    def _scalar(self, ev: Any, line: int) -> None:
        if self.version == (1, 1) and ev.style is None and ev.value.lower() in _YAML11_BOOLS:
            truth = "true" if ev.value.lower() in ("yes", "on", "y") else "false"
            raise _Refused(
                line,
                f"%YAML 1.1 reads the word {ev.value} as {truth}",
                "YAML 1.2: remove the %YAML 1.1 line, or quote the word",
            )


def _load_text(text: str) -> Any:
    """The YAML document in ``text``, after :func:`_check_events` allowed it."""
    _check_events(text)
    return _yaml().load(text)


def _first_line(problem: str) -> str:
    """The first line of a YAML library message, with its token tuples spelt as words
    (``found ('<scalar>',)`` reads ``found <scalar>``)."""
    return re.sub(r"\('(<[^>]*>)',\)", r"\1", problem.splitlines()[0])


def _parse(text: str, where: str) -> Any:
    try:
        return _load_text(text)
    except _Refused as exc:
        raise RegimeError(
            _message(where, exc.line, "", exc.problem, allowed=exc.allowed).replace(
                ": (top level): ", ": YAML error: ", 1
            )
        ) from None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        what = "a NUL byte" if char == 0 else f"the control character #x{char:04x}"
        raise RegimeError(
            f"{where}:{line}: YAML error: {what} (allowed: printable text, tabs and newlines)"
        ) from None
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
        text = " ".join(_first_line(p) for p in (context, problem) if p)
        raise RegimeError(f"{where}:{line}: YAML error: {text}") from None
    except YAMLError as exc:
        raise RegimeError(f"{where}:1: YAML error: {str(exc).splitlines()[0]}") from None


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


def commented_yaml(raw: Any, resolved: dict[str, Any]) -> str:
    """``resolved`` (a model dumped as plain data) as YAML 1.2, written over ``raw``,
    the mapping it was read from, so that the file's comments (the ``# guess:`` mark
    of every unsourced figure) stay beside the keys they annotate. Keys the file has
    keep its order and spelling of equal values; defaults it left out follow them."""
    return dump_yaml(_merged(copy.deepcopy(raw), resolved))


def _merged(raw: Any, new: Any) -> Any:
    if isinstance(raw, CommentedMap) and isinstance(new, dict):
        for key in [k for k in raw if k not in new]:
            del raw[key]
        for key, value in new.items():
            raw[key] = _merged(raw[key], value) if key in raw else value
        return raw
    if isinstance(raw, CommentedSeq) and isinstance(new, list) and len(raw) == len(new):
        for i, value in enumerate(new):
            raw[i] = _merged(raw[i], value)
        return raw
    plain = _plain(raw)
    # 1000 and 1000.0 are one value (the file's spelling stays); true and 1 are not.
    same = not isinstance(raw, dict | list) and isinstance(plain, bool) == isinstance(new, bool)
    return raw if same and plain == new else new


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


def _is_tag(part: Any, member: Any) -> bool:
    """Whether a pydantic location part is the union tag of ``member``: its name, or
    ``function-after[<validator>, <name>]`` for a model with an after-validator."""
    name = _member_name(member)
    return isinstance(part, str) and (part == name or part.endswith(f", {name}]"))


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
        self.tag_at: int | None = None  # len(loc) at the last union tag passed


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
            match = [m for m in members if _is_tag(part, m)]
            if match:
                tp = match[0]
                site.tag_at = len(site.loc)
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
    """A value quoted in a message: at most 80 characters on one line, whatever the
    user gave (a file read by mistake, a huge list)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = repr(value)
    else:
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
        # pydantic stops counting a mapping at the limit: count it here
        count = len(got) if isinstance(got, list | dict) else "?"
        return loc, f"too many items ({count})", _NOTHING, f"at most {err['ctx']['max_length']}"
    if kind == "enter_condition":
        return loc, "unrecognised entry condition", got, allowed
    if kind == "shape":
        return loc, "wrong type", got, allowed
    if kind.endswith(_TYPE_ERRORS) or kind in ("bool_type", "literal_error"):
        return loc, "wrong type" if kind != "literal_error" else "not allowed", got, allowed
    msg = str(err.get("msg", kind))
    msg = msg.removeprefix("Value error, ")
    return loc, msg[:1].lower() + msg[1:], got, allowed


def _not_this_shape(err: Any, root: type[BaseModel]) -> bool:
    """Whether a pydantic error only says the value is not one shape of a union."""
    site = _site(tuple(err["loc"]), root)
    return err["type"].endswith(_TYPE_ERRORS) and site.tag_at == len(site.loc)


def _in_fitting_branch(errors: list[Any], root: type[BaseModel]) -> list[Any]:
    """The errors worth reporting where a value may take one of several shapes (a
    string or a mapping): pydantic reports every shape's complaint, and "wrong type:
    allowed a string" misleads when a mapping was given and a key in it is wrong. So
    drop the complaints that the value is not of a shape when another shape went
    deeper; if no shape fits at all, say so once with every shape allowed."""
    mismatch = [_not_this_shape(e, root) for e in errors]
    kept = [e for e, m in zip(errors, mismatch, strict=True) if not m]
    if kept:
        return kept
    first = dict(errors[0])
    first["loc"] = tuple(first["loc"])[:-1]  # the union itself, all its shapes allowed
    return [first]


def _format_validation(
    exc: ValidationError,
    data: Any,
    where: str,
    overrides: list[tuple[Loc, str]],
    root: type[BaseModel] = Regime,
) -> str:
    errors = _in_fitting_branch(exc.errors(include_url=False), root)
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
        value = _load_text(raw)
    except _Refused as exc:
        raise RegimeError(
            _message(where, None, key, f"bad value: {exc.problem}", raw, exc.allowed)
        ) from None
    except YAMLError as exc:
        first = _first_line(str(getattr(exc, "problem", None) or exc).strip())
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
                counted = "counted from 0" if part[1:].isdigit() else "an integer"
                raise RegimeError(
                    _message(
                        where,
                        None,
                        key,
                        f"{here} is a list, its index must be {counted}",
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


def not_found(name_or_path: str | Path, builtin: str, names: Sequence[str]) -> str:
    """The message for a name that is neither a built-in nor a file: "no such file"
    when it is spelt as a file (a Path, or a name with a suffix such as ``.yaml``)."""
    text = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or Path(text).suffix
    what = "no such file" if looks_like_path else f"no such {builtin} or file"
    return f"{text}: {what} (allowed: a path to a YAML file, or one of: {', '.join(names)})"


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
    if path.is_dir():
        raise RegimeError(f"{name_or_path}: a directory, not a file (allowed: a YAML file)")
    if kind == "regime" and str(name_or_path) in yaml_names(_builtin_dir("scsim.world")):
        raise RegimeError(f"{name_or_path}: {_WORLD_NOT_REGIME}")
    if not path.is_file():
        raise RegimeError(not_found(name_or_path, f"built-in {kind}", names))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RegimeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise RegimeError(f"{path}: cannot read ({exc.strerror})") from None
    return text, str(path)


_WORLD_NOT_REGIME = (
    "a world (several regimes), not a regime (allowed: load it with scsim.load or "
    "scsim.load_world; load_regime reads one regime)"
)


def check_arguments(name_or_path: Any, overrides: Any) -> tuple[str, ...]:
    """The loaders' arguments checked (one :class:`OptionError`, not a ``TypeError``
    from deep inside), and the overrides as a tuple of strings."""
    if not isinstance(name_or_path, str | Path):
        raise OptionError(
            f"{_show(name_or_path)}: not a name or a path (allowed: a built-in name, "
            "or a path to a YAML file, as str or pathlib.Path)"
        )
    if isinstance(overrides, str):
        overrides = (overrides,)
    if not isinstance(overrides, Sequence):
        raise OptionError(
            f"overrides: {_show(overrides)} is not a list (allowed: a list of strings "
            "'dotted.key=value', e.g. ['rules.0.points=-10'])"
        )
    for item in overrides:
        if not isinstance(item, str):
            raise OptionError(
                f"overrides: {_show(item)} is not a string (allowed: strings "
                "'dotted.key=value', e.g. 'rules.0.points=-10')"
            )
    return tuple(overrides)


def load_regime(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Regime:
    """Load, override and validate a regime; every user mistake becomes one
    :class:`~scsim.errors.RegimeError` saying ``file:line: dotted.key: problem``."""
    overrides = check_arguments(name_or_path, overrides)
    text, where = read_source(name_or_path)
    return regime_from_text(text, where, overrides)


def regime_from_text(text: str, where: str, overrides: Sequence[str] = ()) -> Regime:
    """Validate a regime given as YAML text (an upload, parsed in memory); ``where``
    names it in messages (``where:line: key: problem``)."""
    overrides = check_arguments(where, overrides)
    data = _parse(text, where)
    if data is None:
        data = CommentedMap()
    if not isinstance(data, dict):
        raise RegimeError(
            _message(where, 1, "", "not a mapping", data, "a mapping with keys name, grades, ...")
        )
    if "operators" in data and "name" in data and "grades" not in data:
        raise RegimeError(f"{where}: {_WORLD_NOT_REGIME}")
    applied = [(_override(data, o), o) for o in overrides]
    try:
        regime = Regime.model_validate(_plain(data))
    except ValidationError as exc:
        raise RegimeError(_format_validation(exc, data, where, applied)) from None
    regime._source = where
    regime._raw = data
    return regime


def validate_mapping(data: Any, where: str = "<mapping>") -> Regime:
    """Validate an already-parsed mapping (no line numbers) with the loader's messages."""
    try:
        return Regime.model_validate(_plain(data))
    except ValidationError as exc:
        raise RegimeError(_format_validation(exc, data, where, [])) from None
