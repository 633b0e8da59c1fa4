"""Reading experiment files, with ``file:line`` errors as clear as the regime loader's
(the same machinery: ruamel's line numbers, pydantic's checks, the loader's words).

A parameter is checked against the regime it varies: its key must exist there (as
for ``scsim run --set``) and its bounds (or each of its levels) must be values the
regime allows, so a sweep cannot discover a typo on its ten-thousandth point.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import scsim
from scsim.errors import RegimeError
from scsim.experiment import design
from scsim.experiment.schema import Experiment, Parameter
from scsim.regime import Regime
from scsim.regime.loader import (
    _NOTHING,
    _format_validation,
    _line_of,
    _message,
    _parse,
    _plain,
    builtin_names,
)
from scsim.world import World, builtin_world_names, load

#: The packages whose code decides a run's numbers: their source is the engine's
#: fingerprint, so a resumed experiment is never finished by different code.
ENGINE_PACKAGES = ("engine", "population", "observe", "metrics", "regime", "world")


@dataclass(frozen=True)
class Plan:
    """A validated experiment: its file, the regime it varies and its design points."""

    spec: Experiment
    where: str
    name: str
    ref: str  # the regime as workers load it: a built-in name or an absolute path
    base: Regime | World = field(repr=False)
    columns: list[str] = field(repr=False)
    points: list[tuple[Any, ...]] = field(repr=False)
    content: str = field(repr=False)  # a hash of the resolved experiment and regime
    version: str = scsim.__version__
    engine: str = field(default_factory=lambda: engine_fingerprint())

    @property
    def id(self) -> str:
        """``<name>-<12 hex>``: the name, and a hash of the resolved file, the scsim
        version and the engine's fingerprint."""
        key = f"{self.content} {self.version} {self.engine}".encode()
        return f"{self.name}-{hashlib.sha256(key).hexdigest()[:12]}"

    @property
    def keys(self) -> list[str]:
        """The regime keys varied (the columns without the dummy)."""
        return list(self.spec.parameters)

    def runs(self) -> int:
        return len(self.points) * self.spec.replicates


@cache
def engine_fingerprint() -> str:
    """A hash of the engine's source files (16 hex)."""
    root = resources.files("scsim")
    h = hashlib.sha256()
    for package in ENGINE_PACKAGES:
        for path in sorted(Path(str(root.joinpath(package))).rglob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def read_spec(path: Path, root: type, what: str, keys: str) -> tuple[Any, Any, str]:
    """A YAML file of ``what`` (an experiment, a targets file) validated by the model
    ``root`` with the regime loader's file:line messages: (model, raw mapping, where)."""
    if not path.is_file():
        raise RegimeError(f"{path}: no such {what} file (allowed: a path to a YAML file)")
    where = str(path)
    try:
        data = _parse(path.read_text(encoding="utf-8"), where)
    except (OSError, UnicodeDecodeError) as exc:
        raise RegimeError(f"{where}: cannot read ({exc})") from None
    if not isinstance(data, dict):
        raise RegimeError(_message(where, 1, "", "not a mapping", data, keys))
    try:
        return root.model_validate(_plain(data)), data, where
    except ValidationError as exc:
        raise RegimeError(_format_validation(exc, data, where, [], root=root)) from None


def load_experiment(path: str | Path) -> Plan:
    """Load and check an experiment file; every mistake is one ``RegimeError``
    saying ``file:line: key: problem (got ...; allowed: ...)``."""
    path = Path(path)
    spec, data, where = read_spec(path, Experiment, "experiment", "regime, parameters, ...")
    ref = _regime_ref(spec.regime, path, data, where)
    base = load(ref)
    for key, p in spec.parameters.items():
        _check_parameter(ref, key, p, data, where)
    if spec.metrics is not None and isinstance(base, Regime):
        _check_metrics(base, spec.metrics, data, where)
    resolved = json.dumps(
        {
            "experiment": spec.model_dump(mode="json", exclude={"name", "description"}),
            "regime": base.to_yaml(),
        },
        sort_keys=True,
    )
    return Plan(
        spec=spec,
        where=where,
        name=spec.name or _name(path),
        ref=ref,
        base=base,
        columns=design.names(spec),
        points=design.points(spec),
        content=hashlib.sha256(resolved.encode()).hexdigest(),
    )


def _name(path: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "_.-" else "-" for c in path.stem)
    return stem.lstrip("_.-")[:64] or "experiment"


def _fail(data: Any, where: str, loc: tuple, problem: str, got: Any = _NOTHING, allowed: str = ""):
    key = ".".join(str(p) for p in loc)
    raise RegimeError(_message(where, _line_of(data, loc), key, problem, got, allowed))


def _regime_ref(name: str, path: Path, data: Any, where: str) -> str:
    """A built-in name as is; a path made absolute (relative to the experiment file)."""
    if name in builtin_names() or name in builtin_world_names():
        return name
    target = Path(name) if Path(name).is_absolute() else path.parent / name
    if not target.is_file():
        names = ", ".join([*builtin_names(), *builtin_world_names()])
        _fail(data, where, ("regime",), "no such built-in regime or file", name,
              f"a path relative to this file, or one of: {names}")  # fmt: skip
    return str(target.resolve())


def _check_parameter(ref: str, key: str, p: Parameter, data: Any, where: str) -> None:
    """Each level, or both bounds (and a normal's mean, a triangle's mode), must load."""
    if p.levels is not None:
        tries = [("levels", i, v) for i, v in enumerate(p.levels)]
    else:
        tries = [("range", i, v) for i, v in enumerate(p.range)]
        tries += [(k, None, getattr(p, k)) for k in ("mean", "mode") if getattr(p, k) is not None]
    for sub, index, value in tries:
        value = round(value) if p.integer and isinstance(value, float) else value
        try:
            load(ref, [f"{key}={json.dumps(value)}"])
        except RegimeError as exc:
            loc = ("parameters", key, sub, *(() if index is None else (index,)))
            reason = str(exc).split(": ", 1)[1] if str(exc).startswith("--set") else str(exc)
            _fail(data, where, loc, f"the regime refuses {value!r}: {reason}")


def _check_metrics(regime: Regime, metrics: list[str], data: Any, where: str) -> None:
    from scsim.metrics.names import metric_names

    known = metric_names(regime)
    for i, name in enumerate(metrics):
        if name not in known:
            _fail(data, where, ("metrics", i), "unknown metric", name, ", ".join(known))
