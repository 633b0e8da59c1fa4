"""`scsim explain RUN_ID AGENT_ID` on a stored run."""

from __future__ import annotations

import re

import polars as pl
from typer.testing import CliRunner

import scsim
from scsim.cli import app
from scsim.regime.loader import validate_mapping

REGIME = {
    "name": "explained",
    "score": {"initial": 100},
    "grades": [{"name": "ok", "min": 1}, {"name": "zero"}],
    "behaviours": {"offence": {"rate": 0.03}},
    "observers": [
        {
            "name": "cam",
            "watches": ["offence"],
            "detection": 0.5,
            "false_match_rate": 1e-5,
            "gallery": 2_000,
        }
    ],
    "rules": [{"on": "offence", "points": -10}],
    "blacklist": {"enter": [{"on": "offence"}]},
    "sanctions": [{"name": "flight_ban", "applies_to": "blacklisted"}],
}


def test_explain_prints_each_cause_marked_true_or_false(tmp_path):
    run = scsim.simulate(validate_mapping(REGIME, "<test>"), population=2_000, days=20, seed=3)
    store = tmp_path / "s.duckdb"
    with scsim.open_store(store) as s:
        run_id = s.save(run)
    falsely = run.events.filter(pl.col("false"))["agent"][0]
    result = CliRunner().invoke(app, ["explain", run_id, str(falsely), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert f"agent {falsely}" in result.output
    assert "[FALSE]" in result.output and "sanction flight_ban" in result.output
    wrong = run.events.filter((pl.col("agent") == falsely) & pl.col("false")).height
    assert len(re.findall(r"\[FALSE\]", result.output.split("sanction")[0])) == wrong


def test_explain_refuses_an_agent_that_does_not_exist(tmp_path):
    run = scsim.simulate(validate_mapping(REGIME, "<test>"), population=100, days=2, seed=3)
    store = tmp_path / "s.duckdb"
    with scsim.open_store(store) as s:
        run_id = s.save(run)
    result = CliRunner().invoke(app, ["explain", run_id, "100", "--store", str(store)])
    assert result.exit_code == 2
    assert "agent 100 does not exist (allowed: 0 to 99)" in result.output
    assert "Traceback" not in result.output


def test_explain_accounts_for_every_point_unless_told_not_to(tmp_path):
    run = scsim.simulate(validate_mapping(REGIME, "<test>"), population=500, days=10, seed=3)
    store = tmp_path / "s.duckdb"
    with scsim.open_store(store) as s:
        run_id = s.save(run)
    full = CliRunner().invoke(app, ["explain", run_id, "3", "--store", str(store)])
    assert full.exit_code == 0 and "every point accounted for" in full.output
    logs = CliRunner().invoke(app, ["explain", run_id, "3", "--store", str(store), "--no-account"])
    assert logs.exit_code == 0 and "every point accounted for" not in logs.output
