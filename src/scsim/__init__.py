"""scsim: a simulation and audit laboratory for citizen-scoring regimes.

Synthetic citizens only: scsim never reads, identifies, scores or ranks a real person.

    import scsim
    regime = scsim.load_regime("rongcheng")          # a built-in name or a path
    run = scsim.simulate(regime, population=100_000, days=365, seed=1)
    world = scsim.load_world("china-2018")           # several regimes, one population
    wrun = scsim.simulate(world, population=100_000, days=365, seed=1)
    with scsim.open_store("scsim.duckdb") as store:
        store.save(run)
    scsim.compare(run, other_run)    # paired, agent by agent (same population, days, seed)
    scsim.sweep("experiment.yaml")   # a parameter sweep on Ray, into the store

The names below are the whole public API (``tests/test_public_api.py`` holds the
list). They are imported on first use, so ``import scsim`` stays quick: the engine
pulls in Numba, the store DuckDB and polars, and a command like ``scsim regimes``
should not pay for them.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

from scsim.errors import ScsimError

if TYPE_CHECKING:
    from scsim.analysis.compare import compare
    from scsim.engine.result import Run, WorldRun
    from scsim.engine.run import simulate
    from scsim.experiment import sweep
    from scsim.regime import builtin_names as builtin_regimes
    from scsim.regime import load_regime
    from scsim.store import open_store
    from scsim.world import builtin_world_names as builtin_worlds
    from scsim.world import load, load_world

try:
    __version__ = _version("scsim")
except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Run",
    "ScsimError",
    "WorldRun",
    "__version__",
    "builtin_regimes",
    "builtin_worlds",
    "compare",
    "load",
    "load_regime",
    "load_world",
    "open_store",
    "simulate",
    "sweep",
]

# public name -> (module, attribute), imported on first access
_LAZY = {
    "Run": ("scsim.engine.result", "Run"),
    "simulate": ("scsim.engine.run", "simulate"),
    "load_regime": ("scsim.regime", "load_regime"),
    "builtin_regimes": ("scsim.regime", "builtin_names"),
    "open_store": ("scsim.store", "open_store"),
    "compare": ("scsim.analysis.compare", "compare"),
    "WorldRun": ("scsim.engine.result", "WorldRun"),
    "load": ("scsim.world", "load"),
    "load_world": ("scsim.world", "load_world"),
    "builtin_worlds": ("scsim.world", "builtin_world_names"),
    "sweep": ("scsim.experiment", "sweep"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'scsim' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
