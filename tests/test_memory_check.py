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
    with pytest.raises(OptionError, match=r"50,000,000 agents of national for 1 day need about"):
        scsim.simulate("national", population=50_000_000, days=1)
    result = CliRunner().invoke(
        app,
        ["run", "national", "--population", "50000000", "--days", "1",
         "--store", str(tmp_path / "s.duckdb")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "more than the 2.0 GiB available" in result.output
    assert "at most about" in result.output


def test_the_event_log_is_estimated_and_a_run_it_would_not_fit_is_refused(tmp_path):
    """rate: 100 is inside the allowed range; a year of 100,000 people then records
    billions of events. Refused at once with the figure, not killed hours later."""
    store = tmp_path / "s.duckdb"
    args = ["run", "rongcheng", "--set", "behaviours.traffic_ticket.rate=100",
            "--population", "100000", "--days", "365", "--store", str(store)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "GiB for the event log" in result.stderr and "--no-events" in result.stderr
    assert "Traceback" not in result.output and not store.exists()
    regime = load_regime("rongcheng", ["behaviours.traffic_ticket.rate=100"])
    memory.check_fits(regime, 100_000, 365, keep_events=False)  # aggregates only fit


def test_the_event_estimate_matches_a_real_log():
    regime = load_regime("rongcheng")
    run = scsim.simulate(regime, population=20_000, days=100)
    _, recorded = memory.recorded_per_agent_day(regime)
    expected = recorded * 20_000 * 100
    assert run.events is not None
    assert 0.85 * expected <= run.events.height <= 1.15 * expected


def _tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cgroup_limits_v1_and_v2_are_read(tmp_path):
    gib = memory.GIB
    _tree(tmp_path, {
        "proc/v2": "0::/jobs/mine\n",
        "cg2/jobs/mine/memory.max": f"{4 * gib}\n",
        "cg2/jobs/mine/memory.current": f"{gib}\n",
        "cg2/jobs/memory.max": "max\n",
        "proc/v1": "4:memory:/docker/abc\n3:cpu:/\n",
        "cg1/memory/memory.limit_in_bytes": f"{2 * gib}\n",  # the container's own view
        "cg1/memory/memory.usage_in_bytes": f"{gib // 2}\n",
        "proc/none": "0::/\n",
        "cg3/memory.max": "max\n",
    })  # fmt: skip
    assert memory.cgroup_left(tmp_path / "proc/v2", tmp_path / "cg2") == 3 * gib
    assert memory.cgroup_left(tmp_path / "proc/v1", tmp_path / "cg1") == 2 * gib - gib // 2
    assert memory.cgroup_left(tmp_path / "proc/none", tmp_path / "cg3") is None


def test_ulimit_v_is_respected(tmp_path):
    """A real process under ``ulimit -v`` (RLIMIT_AS): refused with the figure."""
    import resource
    import subprocess
    import sys
    from pathlib import Path

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * memory.GIB, 3 * memory.GIB))

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", "from scsim.cli import main; main()", "run", "national",
         "--population", "40000000", "--days", "1", "--store", str(tmp_path / "s.duckdb")],
        capture_output=True, text=True, preexec_fn=limit,
        env={**__import__("os").environ, "PYTHONPATH": str(root / "src")},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "ulimit -v" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "s.duckdb").exists()
