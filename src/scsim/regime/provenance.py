"""Where a regime file's figures come from, read from the comments on their lines.

The built-in regimes mark every figure: `[official]` (a law, regulation or court text),
`[state]` (state media), `[press]`, `guess` (a modelling guess), `calibrated` (fitted
by a calibration) or `model` (a modelling choice, not a figure about the world: a
score of no points, a mechanism switched off, a unit). This module reads those marks
back, so that the ODD description's provenance tables are made from the files
themselves and a test can hold every built-in figure to having one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

# The first mark in a comment decides its class; "guess: as Rongcheng [press]" is a
# guess that borrows a reported figure, so `guess` and `calibrated` are looked for first.
_CLASSES = (
    ("calibrated", re.compile(r"^\s*#\s*calibrated\b", re.I)),
    ("guess", re.compile(r"^\s*#\s*guess\b", re.I)),
    ("model", re.compile(r"^\s*#\s*model\b", re.I)),
    ("official", re.compile(r"\[official")),
    ("state", re.compile(r"\[state")),
    ("press", re.compile(r"\[press")),
    ("guess", re.compile(r"\bguess", re.I)),
)
# Keys whose numbers are not figures about the world: names, and the file's own scale.
_NOT_FIGURES = {"name", "description", "sources", "by"}


@dataclass(frozen=True)
class Figure:
    """One number (or list of numbers) of a regime file and where it comes from."""

    key: str  # dotted path, as `--set` takes it
    value: str  # as written in the file
    kind: str  # official, state, press, guess, calibrated, model or unmarked
    note: str  # the comment's words after the mark
    inherited: bool  # the class comes from an enclosing section's comment


def classify(comment: str) -> str | None:
    """The class a comment gives, or None when it carries no mark."""
    for kind, pattern in _CLASSES:
        if pattern.search(comment):
            return kind
    return None


def _comment_of(node: Any, key: Any) -> str:
    tokens = node.ca.items.get(key) if hasattr(node, "ca") else None
    if not tokens:
        return ""
    return " ".join(t.value for t in tokens if t is not None and hasattr(t, "value"))


def _clean(comment: str) -> str:
    words = " ".join(line.strip().lstrip("#").strip() for line in comment.splitlines())
    return re.sub(r"\s+", " ", words).strip()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_figure(value: Any) -> bool:
    if _is_number(value):
        return True
    return isinstance(value, list) and bool(value) and all(_is_number(v) for v in value)


def _walk(node: Any, path: str, inherited: str, out: list[Figure]) -> None:
    items = node.items() if isinstance(node, CommentedMap) else enumerate(node)
    for key, value in items:
        if key in _NOT_FIGURES:
            continue
        own = _comment_of(node, key)
        dotted = f"{path}.{key}" if path else str(key)
        if _is_figure(value):
            kind = classify(own)
            source = own if kind else inherited
            kind = kind or classify(inherited) or "unmarked"
            text = str(list(value)) if isinstance(value, list) else str(value)
            out.append(Figure(dotted, text, kind, _clean(source), source is not own))
        elif isinstance(value, CommentedMap | CommentedSeq):
            # A flow mapping's line comment, or a section's, covers what it holds.
            _walk(value, dotted, own if classify(own) else inherited, out)


def figures(text: str) -> list[Figure]:
    """Every figure of a regime or world file, in file order, with its class."""
    data = YAML().load(text)
    out: list[Figure] = []
    _walk(data, "", "", out)
    return out
