"""Experiments: parameter sweeps and global sensitivity analysis over a regime, run
on Ray, with results in the store.

    import scsim
    result = scsim.sweep("liability.yaml", store="scsim.duckdb")
    frame = scsim.open_store("scsim.duckdb").experiment(result.id)

The file format is in ``docs/sensitivity.md``; :mod:`scsim.experiment.runner` says how
a sweep runs and why.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scsim.experiment.load import Plan, load_experiment
    from scsim.experiment.runner import SweepResult, sweep

__all__ = ["Plan", "SweepResult", "load_experiment", "sweep"]

# imported on first use, so that the CLI can register its commands cheaply
_LAZY = {
    "Plan": "scsim.experiment.load",
    "load_experiment": "scsim.experiment.load",
    "SweepResult": "scsim.experiment.runner",
    "sweep": "scsim.experiment.runner",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'scsim.experiment' has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
