"""Sweeps on a real local Ray (started once for the module, two CPUs): the numbers a
sweep stores are the runs one would make by hand, a killed driver resumes to the same
result, and the commands on top of it work end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import scsim
from scsim.cli import app
from scsim.experiment import sweep

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parent.parent
CITY = ROOT / "examples" / "camera-city.yaml"
# Each level of each key is allowed alone; A at 95 with B at 97 puts the grades out
# of order, so exactly one point of the grid fails.
GRID = f"""\
name: grid
regime: {CITY}
population: 500
days: 30
seed: 3
replicates: 2
keep_daily: true
parameters:
  grades.0.min: {{levels: [100, 95]}}
  grades.1.min: {{levels: [85, 97]}}
metrics: [mean_score, grade_share.D, false_attributions]
"""


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, Path, scsim.experiment.SweepResult]:
    folder = tmp_path_factory.mktemp("grid")
    (folder / "grid.yaml").write_text(GRID, encoding="utf-8")
    store = folder / "s.duckdb"
    return folder / "grid.yaml", store, sweep(folder / "grid.yaml", store=store, workers=2)


def test_a_sweep_stores_the_runs_one_would_make_by_hand(grid) -> None:
    file, store, result = grid
    assert (result.runs, result.ran, result.failed) == (8, 8, 2)
    with scsim.open_store(store, read_only=True) as s:
        frame = s.experiment(result.id)
        daily = s._con.execute("SELECT count(*), count(DISTINCT point) FROM sweep_daily").fetchone()
    assert frame.height == 8
    assert frame["seed"].to_list() == [3 + r for r in frame["replicate"]]  # common seeds
    failed = frame.filter(pl.col("status") == "failed")
    assert set(failed["point"]) == {3} and "grades" in failed["message"][0]
    assert daily[1] == 3 and daily[0] > 0  # the failed point has no daily frame
    row = frame.filter((pl.col("point") == 1) & (pl.col("replicate") == 1)).row(0, named=True)
    assert (row["grades.0.min"], row["grades.1.min"]) == (100, 97)
    regime = scsim.load_regime(str(CITY), ["grades.0.min=100", "grades.1.min=97"])
    by_hand = scsim.simulate(regime, population=500, days=30, seed=4).summary
    for metric in ("mean_score", "grade_share.D", "false_attributions"):
        assert row[metric] == by_hand[metric]
    again = sweep(file, store=store, resume=True)
    assert (again.id, again.ran) == (result.id, 0)  # nothing missing: nothing runs


def test_report_draws_an_experiment(grid, tmp_path) -> None:
    _, store, result = grid
    out = tmp_path / "r.html"
    cli = CliRunner().invoke(app, ["report", result.id, "-o", str(out), "--store", str(store)])
    assert cli.exit_code == 0, cli.output
    text = out.read_text(encoding="utf-8")
    assert "mean_score against grades.0.min" in text and "8 runs stored, 2 failed" in text


def test_a_killed_driver_resumes_to_the_uninterrupted_result(tmp_path) -> None:
    file = tmp_path / "kill.yaml"
    file.write_text(
        f"regime: {CITY}\npopulation: 3000\ndays: 90\nreplicates: 2\n"
        "parameters:\n  rules.0.points: {range: [-12, -1], steps: 12}\n",
        encoding="utf-8",
    )
    killed, whole = tmp_path / "killed.duckdb", tmp_path / "whole.duckdb"
    address = ray.get_runtime_context().gcs_address
    driver = subprocess.Popen(
        [sys.executable, "-c", "from scsim.cli import main; main()", "sweep", str(file),
         "--store", str(killed), "--workers", "1", "--address", address],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=os.environ.copy(),
    )  # fmt: skip
    watchdog = threading.Timer(300, driver.kill)  # a stuck driver fails the test, not CI
    watchdog.start()
    try:
        for line in driver.stderr:
            if "/24 runs" in line and int(line.split("/")[0]) >= 2:
                break
        driver.send_signal(signal.SIGKILL)
    finally:
        watchdog.cancel()
        driver.kill()
        driver.wait()
        driver.stderr.close()
    with scsim.open_store(killed, read_only=True) as s:
        stored = s._con.execute("SELECT count(*) FROM sweep_runs").fetchone()[0]
    assert 2 <= stored < 24, "the driver was not killed mid-sweep"
    resumed = sweep(file, store=killed, resume=True, workers=2)
    assert resumed.ran == 24 - stored
    complete = sweep(file, store=whole, workers=2)
    assert complete.id == resumed.id
    with (
        scsim.open_store(killed, read_only=True) as a,
        scsim.open_store(whole, read_only=True) as b,
    ):
        assert a.experiment(resumed.id).equals(b.experiment(complete.id))


def test_sensitivity_command_end_to_end(tmp_path) -> None:
    file = tmp_path / "sobol.yaml"
    file.write_text(
        f"regime: {CITY}\npopulation: 300\ndays: 20\n"
        "design: {kind: sobol, samples: 16}\n"
        "parameters:\n  rules.0.points: {range: [-12, -1]}\n"
        "  observers.1.coverage: {range: [0.1, 0.9]}\nmetrics: [mean_score]\n",
        encoding="utf-8",
    )
    out = tmp_path / "figs"
    args = [
        "sensitivity",
        str(file),
        "--store",
        str(tmp_path / "s.duckdb"),
        "--json",
        "-o",
        str(out),
    ]
    cli = CliRunner().invoke(app, args)
    assert cli.exit_code == 0, cli.output
    [found] = json.loads(cli.stdout)
    table = {r["parameter"]: r for r in found["indices"]}
    assert set(table) == {"rules.0.points", "observers.1.coverage", "dummy"}
    assert table["dummy"]["ST"] == 0  # common random numbers: the dummy changes nothing
    assert np.isfinite(table["rules.0.points"]["ST"]) and found["reading"].startswith("mean_score")
    assert (out / "mean_score-sobol.png").stat().st_size > 0
