"""Reading a targets file, with ``file:line`` errors as clear as the regime loader's
(the experiment loader's machinery: ruamel's line numbers, pydantic's checks).

Everything that can be checked before a run is: each free parameter's key exists in
the regime and both ends of its prior are values the regime allows, each figure's
metric is one the regime records, and a figure's ``times`` names a number of the
regime. A calibration never learns of a typo from its hundredth simulation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import scsim
from scsim.calibration.schema import Figure, Targets
from scsim.experiment.load import (
    _check_parameter,
    _fail,
    _name,
    _regime_ref,
    engine_fingerprint,
    read_spec,
)
from scsim.regime import Regime
from scsim.world import load


@dataclass(frozen=True)
class Calibration:
    """A validated targets file and the regime it calibrates."""

    spec: Targets
    where: str
    name: str
    ref: str  # the regime as workers load it: a built-in name or an absolute path
    base: Regime = field(repr=False)
    content: str = field(repr=False)
    version: str = scsim.__version__
    engine: str = field(default_factory=lambda: engine_fingerprint())

    @property
    def id(self) -> str:
        """``<name>-<12 hex>``: a hash of the resolved file and regime, the scsim
        version and the engine's fingerprint (a new engine starts afresh)."""
        key = f"{self.content} {self.version} {self.engine}".encode()
        return f"{self.name}-{hashlib.sha256(key).hexdigest()[:12]}"

    @property
    def keys(self) -> list[str]:
        return list(self.spec.parameters)

    @property
    def figures(self) -> dict[str, Figure]:
        """Targets then validation figures, by name."""
        return {**self.spec.targets, **self.spec.validate_}


def load_targets(path: str | Path) -> Calibration:
    """Load and check a targets file; every mistake is one ``RegimeError`` saying
    ``file:line: key: problem (got ...; allowed: ...)``."""
    path = Path(path)
    spec, data, where = read_spec(path, Targets, "targets", "regime, targets, ...")
    ref = _regime_ref(spec.regime, path, data, where)
    base = load(ref)
    if not isinstance(base, Regime):
        _fail(data, where, ("regime",), "a world cannot be calibrated yet", spec.regime,
              "one regime")  # fmt: skip
    for key, prior in spec.parameters.items():
        _check_parameter(ref, key, prior, data, where)
    _check_figures(base, spec, data, where)
    resolved = json.dumps(
        {
            "targets": spec.model_dump(mode="json", exclude={"name", "description"}),
            "regime": base.to_yaml(),
        },
        sort_keys=True,
    )
    return Calibration(
        spec=spec, where=where, name=spec.name or _name(path), ref=ref, base=base,
        content=hashlib.sha256(resolved.encode()).hexdigest(),
    )  # fmt: skip


def _check_figures(regime: Regime, spec: Targets, data: Any, where: str) -> None:
    from scsim.metrics.names import metric_names

    known = metric_names(regime)
    for section, figures in (("targets", spec.targets), ("validate", spec.validate_)):
        for name, f in figures.items():
            if f.metric not in known:
                _fail(data, where, (section, name, "metric"), "unknown metric", f.metric,
                      ", ".join(known))  # fmt: skip
            if f.times is not None:
                try:
                    value = lookup(regime, f.times)
                except KeyError:
                    value = None
                if not isinstance(value, int | float) or isinstance(value, bool):
                    _fail(data, where, (section, name, "times"),
                          "not a number of the regime", f.times,
                          "a dotted key of a number, e.g. behaviours.buys_flight.rate")  # fmt: skip
            if f.scale == "represents" and regime.represents is None:
                _fail(data, where, (section, name, "scale"),
                      "the regime says nothing of whom it represents", f.scale,
                      "count or per_capita, or a regime with `represents`")  # fmt: skip


def lookup(regime: Regime, key: str) -> Any:
    """The value at a dotted key (as ``--set`` takes it) of a regime; KeyError if none."""
    node: Any = regime.model_dump(mode="json", by_alias=True)
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(key)
    return node
