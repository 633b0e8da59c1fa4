"""explain accounts for every point, and follows every wrongful flag to the false
records behind it (issue 13, item 4).

The ledger comes from re-running the stored run with the agent traced; these tests
hold it to the stored run (the re-run ends on the stored score), to exactness (the
components sum to the score change, in the engine's fixed point), and to the event
log (own events are the log's points), and they follow every wrongfully sanctioned
agent of a national-pooled run, including those with no false record of their own.
"""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

import scsim
from scsim.analysis.trace import ledgers
from scsim.cli import app
from scsim.engine.compile import SCALE
from scsim.regime.loader import validate_mapping

REGIME = {
    "name": "clamped",
    "score": {"initial": 100, "floor": 60, "ceiling": 104},
    "grades": [{"name": "ok", "min": 80}, {"name": "low"}],
    "behaviours": {"offence": {"rate": 0.03}, "good_deed": {"rate": 0.02}},
    "observers": [
        {
            "name": "cam",
            "watches": ["offence", "good_deed"],
            "false_match_rate": 1e-5,
            "gallery": 2_000,
        }
    ],
    "rules": [{"on": "offence", "points": -10}, {"on": "good_deed", "points": 3}],
    "sanctions": [{"name": "no_loans", "applies_to": {"grades": ["low"]}}],
    "network": {"degree": 6, "liability": 0.05},
}


@pytest.fixture(scope="module")
def clamped() -> scsim.Run:
    return scsim.simulate(validate_mapping(REGIME, "<test>"), population=1_500, days=60, seed=2)


def test_components_sum_to_the_score_and_own_events_match_the_log(clamped) -> None:
    # A spread of agents, and the ten with the most good deeds recorded: the ceiling of
    # 104 is four points above the start, so they reach it.
    deeds = clamped.events.filter(pl.col("points") > 0).group_by("agent").len()
    keen = deeds.sort("len", descending=True).head(10).get_column("agent").to_list()
    agents = sorted(set(range(0, 1_500, 97)) | set(keen))
    found = ledgers(clamped, agents)[""]
    scores = clamped.agents.get_column("score")
    clamps = 0
    for a, ledger in found.items():
        assert ledger.final == scores[a]  # the re-run is the stored run
        total = sum(round(v * SCALE) for v in ledger.parts.values())
        assert total == round((ledger.final - ledger.initial) * SCALE)  # exact
        own = clamped.events.filter(pl.col("agent") == a).get_column("points").sum()
        assert ledger.parts["own_events"] == pytest.approx(own, abs=0)
        clamps += ledger.parts["clamp"] != 0
        assert ledger.parts["liability"] != 0  # friends' scores pull on everyone
    assert clamps > 0  # the ceiling of 104 is reached by good deeds


def test_explain_text_shows_the_ledger(clamped) -> None:
    text = clamped.explain(7).text()
    assert "every point accounted for" in text
    assert "network liability (pulled toward friends' mean score)" in text
    assert "(= the score change)" in text


@pytest.fixture(scope="module")
def pooled() -> scsim.WorldRun:
    # Wrongful sanctions are rare in national (chilled speech, fewer false records):
    # 100,000 agents for a year, seed 2, give one that comes only through others.
    return scsim.simulate("national-pooled", population=100_000, days=365, seed=2)


def test_every_wrongful_flag_traces_to_a_false_record(pooled) -> None:
    run = pooled.runs["national"]
    flagged = run.agents.filter(pl.col("wrongfully_sanctioned")).get_column("agent").to_list()
    own_false = set(run.events.filter(pl.col("false")).get_column("agent").to_list())
    assert flagged and any(a not in own_false for a in flagged)  # some only through others
    found = ledgers(pooled, flagged)["national"]
    false = run.events.filter(pl.col("false") & (pl.col("points") < 0))
    for a in flagged:
        ledger = found[a]
        assert ledger.final == run.agents.row(a, named=True)["score"]
        total = sum(round(v * SCALE) for v in ledger.parts.values())
        assert total == round((ledger.final - ledger.initial) * SCALE)
        assert ledger.clean_final != ledger.final  # the false records moved the score
        records = [line for line in ledger.sources if "[FALSE]" in line]
        assert records, f"agent {a}: no false record found"
        for line in records:  # each names a false deduction of the log, by day and doer
            day = int(line.split("[FALSE] day ")[1].split(" ")[0])
            doer = int(line.rsplit("done by agent ", 1)[1].rstrip(")")) if "done by" in line else -1
            assert false.filter((pl.col("day_recorded") == day) & (pl.col("doer") == doer)).height


def test_world_explain_prints_each_operators_ledger_and_sources(pooled, tmp_path) -> None:
    run = pooled.runs["national"]
    agent = run.agents.filter(pl.col("wrongfully_sanctioned")).get_column("agent")[0]
    store = tmp_path / "s.duckdb"
    with scsim.open_store(store) as s:
        run_id = s.save(pooled)
    result = CliRunner().invoke(app, ["explain", run_id, str(agent), "--store", str(store)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.count("every point accounted for") == len(pooled.runs)
    assert "wrongfully sanctioned: under a sanction" in out and "<- " in out
