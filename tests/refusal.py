"""One check for "a bad regime or world file is refused with its location", shared by
the loaders' tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from scsim.errors import RegimeError
from scsim.regime import load_regime


def assert_refused_at(
    path: Path, line: int, key: str, problem: str, allowed: str, load: Callable = load_regime
) -> None:
    """Loading ``path`` (a regime, or with ``load`` a world) fails with one line:
    ``path:line: key: problem (...allowed...)``."""
    with pytest.raises(RegimeError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert problem in message, message
    assert "allowed: " in message and allowed in message, message
    assert "\n" not in message
