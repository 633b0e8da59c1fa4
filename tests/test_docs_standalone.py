"""The project's files stand alone (issue 13, item 9): none cites a document that is
not in the repository (the design notes and the record of regimes lived outside it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ("DESIGN" + ".md", "REGIMES" + ".md")  # spelled apart: this file cites neither


def test_no_file_cites_a_document_outside_the_repository() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    cited = [
        f"{name}: {doc}"
        for name in files
        if name.endswith((".py", ".md", ".yaml", ".toml", ".ipynb", ".txt"))
        for doc in OUTSIDE
        if doc in (ROOT / name).read_text(encoding="utf-8", errors="replace")
    ]
    assert cited == []
