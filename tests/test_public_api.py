"""The public API is this list and nothing else; changing it is a decision, not an accident."""

from __future__ import annotations

import subprocess
import sys

import pytest

import scsim

EXPORTED = [
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


def test_exported_members() -> None:
    assert sorted(scsim.__all__) == EXPORTED


@pytest.mark.parametrize("name", EXPORTED)
def test_each_export_resolves(name: str) -> None:
    member = getattr(scsim, name)
    assert member is not None
    assert name in dir(scsim)
    if name != "__version__":
        assert member.__module__.startswith("scsim."), member.__module__


def test_exports_are_the_modules_own_objects() -> None:
    from scsim.analysis.compare import compare
    from scsim.engine.result import Run
    from scsim.engine.run import simulate
    from scsim.errors import ScsimError
    from scsim.regime import builtin_names, load_regime
    from scsim.store import open_store

    assert scsim.Run is Run
    assert scsim.simulate is simulate
    assert scsim.ScsimError is ScsimError
    assert scsim.builtin_regimes is builtin_names
    assert scsim.load_regime is load_regime
    assert scsim.open_store is open_store
    assert scsim.compare is compare
    from scsim.engine.result import WorldRun
    from scsim.world import builtin_world_names, load, load_world

    assert scsim.WorldRun is WorldRun
    assert scsim.load is load and scsim.load_world is load_world
    assert scsim.builtin_worlds is builtin_world_names


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    assert scsim.__version__ == version("scsim")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        scsim.no_such_thing  # noqa: B018


def test_import_scsim_is_light() -> None:
    """``import scsim`` must not pull in the engine's or the store's heavy dependencies."""
    code = (
        "import sys, scsim; "
        "heavy = [m for m in ('numba', 'duckdb', 'polars', 'numpy', 'pydantic') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
