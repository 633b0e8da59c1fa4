"""A run too big for the machine is refused up front, with the figure (issue 7)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import scsim
from scsim.cli import app
from scsim.engine import memory
from scsim.errors import OptionError
from scsim.regime import load_regime


def test_the_estimate_scales_to_what_a_run_holds():
    regime = load_regime("national")
    n = 400_000
    estimate = memory.bytes_per_agent(regime, n) * n
    held = memory.held_bytes(regime, n)
    assert estimate == pytest.approx(held, rel=0.05)


def test_a_run_that_does_not_fit_is_refused_before_it_starts(monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * memory.GIB)
    with pytest.raises(OptionError, match=r"50,000,000 agents of national need about"):
        scsim.simulate("national", population=50_000_000, days=1)
    result = CliRunner().invoke(
        app,
        ["run", "national", "--population", "50000000", "--days", "1",
         "--store", str(tmp_path / "s.duckdb")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "more than the 2.0 GiB available" in result.output
    assert "at most about" in result.output
