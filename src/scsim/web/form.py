"""The run form, generated from the regime schema.

Every number, switch and choice of a resolved regime (or world) becomes one field,
with its bounds and description read from the model's JSON schema, so a key added to
the schema appears in the page without UI code. A field's ``path`` is the dotted key
the loader's overrides take (``rules.0.points``), so the page sends back only
``path=value`` strings and the loader validates them as it does the CLI's ``--set``.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

Path = tuple[str | int, ...]


def fields(model: BaseModel) -> list[dict[str, Any]]:
    """One field per editable leaf of ``model``, in the file's order."""
    schema = type(model).model_json_schema()
    walker = _Walker(schema.get("$defs", {}))
    walker.walk(schema, model.model_dump(mode="json"), (), (), "")
    return walker.out


class _Walker:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.out: list[dict[str, Any]] = []

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = {**self.defs[node["$ref"].rsplit("/", 1)[-1]], **_without(node, "$ref")}
        return node

    def walk(self, node: dict, value: Any, path: Path, label: tuple[str, ...], doc: str) -> None:
        node = self.resolve(node)
        doc = node.get("description", doc)
        nullable, node = self.branch(node, value)
        if node is None:
            return
        kind = node.get("type")
        if "enum" in node or "const" in node:
            self.leaf(path, label, doc, value, nullable, "choice", node)
        elif kind in ("number", "integer"):
            self.leaf(path, label, doc, value, nullable, kind, node)
        elif kind == "boolean":
            self.leaf(path, label, doc, value, nullable, "boolean", node)
        elif kind == "object" and isinstance(value, dict):
            self.mapping(node, value, path, label)
        elif kind == "array" and isinstance(value, list) and isinstance(node.get("items"), dict):
            for i, item in enumerate(value):
                name = (item.get("name") or item.get("on")) if isinstance(item, dict) else None
                self.walk(node["items"], item, (*path, i), (*label, str(name or i)), doc)

    def branch(self, node: dict, value: Any) -> tuple[bool, dict | None]:
        """(nullable, the member of an ``anyOf`` that ``value`` takes)."""
        members = node.get("anyOf", node.get("oneOf"))
        if members is None:
            return False, node
        members = [self.resolve(m) for m in members]
        nullable = any(m.get("type") == "null" for m in members)
        live = [m for m in members if m.get("type") != "null"]
        for m in live:
            if _fits(m, value):
                return nullable, {**m, "description": node.get("description", "")}
        numbers = [m for m in live if m.get("type") in ("number", "integer")]
        if value is None and numbers:  # an unset number (``ceiling: null``) can be set
            return nullable, {**numbers[0], "description": node.get("description", "")}
        return nullable, None

    def mapping(self, node: dict, value: dict, path: Path, label: tuple[str, ...]) -> None:
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        patterns = list(node.get("patternProperties", {}).values())
        for key, item in value.items():
            sub = props.get(key) or (patterns[0] if patterns else extra)
            if isinstance(sub, dict):
                self.walk(sub, item, (*path, key), (*label, key), "")

    def leaf(self, path, label, doc, value, nullable, kind, node) -> None:
        field: dict[str, Any] = {
            "path": ".".join(str(p) for p in path),
            "section": str(path[0]) if path else "",
            "label": " / ".join(label[1:] or label),
            "description": doc,
            "kind": kind,
            "value": value,
            "nullable": nullable,
        }
        if kind == "choice":
            field["choices"] = node.get("enum") or [node.get("const")]
        if kind in ("number", "integer"):
            field.update(_bounds(node, value, kind))
        self.out.append(field)


def _bounds(node: dict, value: Any, kind: str) -> dict[str, Any]:
    """The schema's bounds, and a slider's span around the value within them: a rate
    of 1e-5 bounded by [0, 1] gets a slider over [0, 3e-5], not one it cannot move on."""
    lo = node.get("minimum", node.get("exclusiveMinimum"))
    hi = node.get("maximum", node.get("exclusiveMaximum"))
    v = float(value) if isinstance(value, int | float) else 0.0
    span_lo = 3 * v if v < 0 else 0.0
    span_hi = 3 * v if v > 0 else (1.0 if v == 0 else 0.0)
    if lo is not None:
        span_lo = max(span_lo, lo)
    if hi is not None:
        span_hi = min(span_hi, hi)
    if span_hi <= span_lo:
        span_hi = span_lo + (1.0 if hi is None else max(hi - span_lo, 0.0))
    step = 1 if kind == "integer" else _step(span_hi - span_lo)
    if kind == "integer":
        span_lo, span_hi = math.floor(span_lo), math.ceil(span_hi)
    return {
        "min": lo,
        "max": hi,
        "exclusive_min": "exclusiveMinimum" in node,
        "exclusive_max": "exclusiveMaximum" in node,
        "slider": [span_lo, span_hi],
        "step": step,
    }


def _step(width: float) -> float:
    """A round step giving about 200 slider positions."""
    if width <= 0:
        return 1.0
    return 10 ** math.floor(math.log10(width / 200))


def _fits(member: dict, value: Any) -> bool:
    kind = member.get("type")
    if value is None:
        return False
    if "enum" in member:
        return value in member["enum"]
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("number", "integer"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "object" or "properties" in member:
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return False


def _without(node: dict, key: str) -> dict:
    return {k: v for k, v in node.items() if k != key}
