"""examples/audit.ipynb runs end to end.

Its code cells are executed in order, in one namespace, as a script: no kernel and
no Jupyter needed, so the test is as quick as the notebook's own work. The notebook
runs where it lives (it reads ``camera-city.yaml`` beside it), so the test copies
both into a temporary directory and runs there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT

NOTEBOOK = ROOT / "examples" / "audit.ipynb"


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_notebook_has_no_stored_outputs() -> None:
    """Outputs go stale and bloat diffs: the notebook is kept clean."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")


def test_audit_notebook_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(NOTEBOOK, tmp_path)
    shutil.copy(ROOT / "examples" / "camera-city.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for i, source in enumerate(code_cells(tmp_path / "audit.ipynb")):
        exec(compile(source, f"audit.ipynb cell {i}", "exec"), namespace)

    comparison = namespace["comparison"]
    assert comparison.a.seed == comparison.b.seed == 1  # type: ignore[attr-defined]
    assert (tmp_path / "audit-report.html").stat().st_size > 1_000_000
    assert len(namespace["ids"]) == 2  # type: ignore[arg-type]
    assert (tmp_path / "audit.duckdb").exists()
