"""The README's two set-up commands are a contract: CI runs the second verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block, "README.md must open with a bash block of set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_install_and_run_then_test():
    install_and_run, test = _setup_commands()
    assert "pip install" in install_and_run
    assert re.search(r"scsim run rongcheng\b", install_and_run)
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = _setup_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci


def test_readme_states_the_boundary_on_its_first_screen():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:25])
    assert "synthetic citizens only" in first_screen
