"""No test may depend on wall time (issue 13, item 8): numba compiles on first call,
seconds on a quiet machine and minutes on a loaded one."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings

TESTS = Path(__file__).resolve().parent


def test_hypothesis_has_no_deadline_by_default() -> None:
    assert settings.default.deadline is None


def test_no_test_sets_a_deadline() -> None:
    pattern = re.compile(r"deadline\s*=\s*(?!None)")
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(TESTS.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
