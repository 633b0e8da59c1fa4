"""The audit commands: run --replicates, compare, report (typer's CliRunner)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from conftest import CAMERA_CITY, HARSHER, JSON_KEYS, PERMANENT_LIST
from scsim.cli import app
from scsim.store import open_store

runner = CliRunner()
SMALL = ["--population", "1000", "--days", "40"]


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def sets(*overrides: str) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """Two replicate batches of three seeds in one store: A, and B with harsher rules."""
    db = tmp_path_factory.mktemp("audit") / "s.duckdb"
    common = ["run", CAMERA_CITY, *SMALL, "--seed", "7", "--store", db, "--replicates", "3"]
    a = invoke(*common, *sets(PERMANENT_LIST), "--json")
    b = invoke(*common, *sets(PERMANENT_LIST, *HARSHER), "--json")
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    return db, json.loads(a.stdout), json.loads(b.stdout)


def test_replicates_store_k_linked_runs_and_print_intervals(
    batches: tuple[Path, dict, dict],
) -> None:
    db, a, _ = batches
    assert set(a) == JSON_KEYS | {"replicates", "ci"}
    assert a["replicates"][0] == a["run_id"] and len(a["replicates"]) == 3
    with open_store(db, read_only=True) as s:
        runs = s.runs()
        mine = runs.filter(runs["batch"] == a["run_id"])
        assert sorted(mine["seed"].to_list()) == [7, 8, 9]
        assert sorted(mine["id"].to_list()) == sorted(a["replicates"])
        replicates = [s.load(i) for i in a["replicates"]]
    assert a["metrics"]["mean_score"] == replicates[0].summary["mean_score"]  # the first run's
    values = [r.summary["mean_score"] for r in replicates]
    lo, hi = a["ci"]["mean_score"]
    assert lo < sum(values) / 3 < hi
    assert a["ci"]["events_true.jaywalking"][0] < a["ci"]["events_true.jaywalking"][1]
    json.dumps(a, allow_nan=False)


def test_one_replicate_keeps_the_json_contract(tmp_path: Path) -> None:
    result = invoke("run", CAMERA_CITY, *SMALL, "--store", tmp_path / "s.duckdb", "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == JSON_KEYS


def test_replicates_table_output(tmp_path: Path) -> None:
    result = invoke(
        "run", CAMERA_CITY, *SMALL, "--store", tmp_path / "s.duckdb", "--replicates", "2"
    )
    assert result.exit_code == 0, result.output
    assert "across 2 replicates" in result.stdout and "95% interval" in result.stdout


def test_an_interrupted_batch_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scsim

    real = scsim.simulate
    calls = []

    def second_one_interrupted(*args: object, **kw: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(scsim, "simulate", second_one_interrupted)
    db = tmp_path / "s.duckdb"
    result = invoke("run", CAMERA_CITY, *SMALL, "--store", db, "--replicates", "3")
    assert result.exit_code == 130
    assert "nothing was stored" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no store was made, no spool is left


def test_too_large_a_last_seed_is_refused(tmp_path: Path) -> None:
    seed = str(2**63 - 2)
    result = invoke(
        "run", CAMERA_CITY, "--seed", seed, "--replicates", "3", "--store", tmp_path / "s"
    )
    assert result.exit_code == 2
    assert "lower --seed" in result.stderr and "Traceback" not in result.output


def test_compare_json_pairs_the_batches(batches: tuple[Path, dict, dict]) -> None:
    db, a, b = batches
    result = invoke("compare", a["run_id"], b["run_id"], "--store", db, "--json")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    payload = json.loads(result.stdout)
    assert payload["pairs"] == 3
    assert payload["a"]["run_id"] == a["run_id"] and payload["b"]["run_id"] == b["run_id"]
    assert all(row["only_a"] == 0 for row in payload["sanctions"])
    lo, hi = payload["metrics"]["mean_score"]["ci"]
    assert lo <= payload["metrics"]["mean_score"]["diff"] <= hi < 0
    assert payload["metrics"]["events_true.jaywalking"]["ci"] == [0.0, 0.0]


def test_compare_from_a_later_replicate_pairs_by_its_seed(
    batches: tuple[Path, dict, dict],
) -> None:
    db, a, b = batches
    result = invoke("compare", a["replicates"][1], b["replicates"][1], "--store", db, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["a"]["seed"] == payload["b"]["seed"] == 8 and payload["pairs"] == 3


def test_compare_table(batches: tuple[Path, dict, dict]) -> None:
    db, a, b = batches
    result = invoke("compare", a["run_id"], b["run_id"], "--store", db)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "under each sanction on the last day, agent by agent" in out
    assert "scores, B minus A" in out and "metrics, B minus A" in out
    assert "replicate pairs  3" in out
    assert "equal under A and B" in out  # true events: common random numbers


def test_compare_prints_means_over_pairs_inside_their_intervals(
    batches: tuple[Path, dict, dict],
) -> None:
    """Every printed B - A of a batch is the mean over its pairs and lies inside its
    own interval; the agent tables say which seed they pair; what differs is listed
    key by key (issue 13, items 1 and 5)."""
    db, a, b = batches
    result = invoke("compare", a["run_id"], b["run_id"], "--store", db, "--json")
    payload = json.loads(result.stdout)
    assert "means over 3 seed pairs" in payload["metrics_are"]
    inside = 0
    for name, m in payload["metrics"].items():
        if m["ci"] is not None and m["diff"] is not None:
            assert m["ci"][0] - 1e-9 <= m["diff"] <= m["ci"][1] + 1e-9, name
            inside += 1
    assert inside > 20
    assert payload["differs"] == ["rules.0.points: -5 -> -8", "rules.1.points: -10 -> -15"]
    out = invoke("compare", a["run_id"], b["run_id"], "--store", db).stdout
    assert "metrics, B minus A (mean over 3 seed pairs)" in out
    assert "seed 7 (the first of 3 pairs)" in out
    assert "rules.0.points: -5 -> -8" in out


def test_compare_refuses_unpaired_runs(batches: tuple[Path, dict, dict]) -> None:
    db, a, b = batches
    result = invoke("compare", a["run_id"], b["replicates"][1], "--store", db)
    assert result.exit_code == 2
    assert "seed differs (A: 7, B: 8)" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_compare_unknown_run(batches: tuple[Path, dict, dict]) -> None:
    db, a, _ = batches
    result = invoke("compare", a["run_id"], "20260101-000000-abcdef", "--store", db)
    assert result.exit_code == 2
    assert "no run '20260101-000000-abcdef'" in result.stderr


def test_report_html_and_png(batches: tuple[Path, dict, dict], tmp_path: Path) -> None:
    db, a, b = batches
    out = tmp_path / "report.html"
    result = invoke("report", a["run_id"], b["run_id"], "--store", db, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    text = out.read_text()
    assert "Comparison of 2 runs" in text and a["run_id"] in text
    figures = tmp_path / "figs"
    result = invoke("report", a["run_id"], "--store", db, "-o", figures, "--format", "png")
    assert result.exit_code == 0, result.output
    listed = result.stdout.split()
    assert len(listed) > 8 and all(Path(p).exists() for p in listed)
    assert math.isclose(len(list(figures.glob("*.png"))), len(listed) - 1)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-o", "{tmp}/missing/r.html"], "does not exist"),
        (["-o", "{tmp}/r.html", "--format", "pdf"], "pdf"),
    ],
)
def test_report_bad_output(
    batches: tuple[Path, dict, dict], tmp_path: Path, args: list[str], words: str
) -> None:
    db, a, _ = batches
    args = [x.format(tmp=tmp_path) for x in args]
    result = invoke("report", a["run_id"], "--store", db, *args)
    assert result.exit_code == 2
    assert words in result.stderr or words in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_report_unknown_run_writes_nothing(
    batches: tuple[Path, dict, dict], tmp_path: Path
) -> None:
    db, _, _ = batches
    result = invoke("report", "nope", "--store", db, "-o", tmp_path / "r.html")
    assert result.exit_code == 2 and "no run 'nope'" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_runs_shows_batches(batches: tuple[Path, dict, dict]) -> None:
    db, a, _ = batches
    result = invoke("runs", "--store", db)
    assert result.exit_code == 0, result.output
    assert "batch" in result.stdout
    assert result.stdout.count(a["run_id"].rsplit("-", 1)[1]) == 3 + 1  # 3 rows + own id
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_report_of_a_stored_world_names_it_by_id_and_each_operator(tmp_path: Path) -> None:
    """Issue 13, items 3 and 9: a stored world run is labelled with its id, shows the
    cascade, and never pairs one operator with another."""
    import scsim

    db = tmp_path / "w.duckdb"
    with open_store(db) as s:
        run_id = s.save(scsim.simulate("china-2018", population=1500, days=30, seed=2))
    out = tmp_path / "w.html"
    result = invoke("report", run_id, "--store", db, "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "unsaved" not in text and "not stored" not in text
    assert f"{run_id} · court" in text and "cascade_wrongful" in text
    assert "(A) and" not in text


def test_report_refuses_an_html_name_without_its_suffix(
    batches: tuple[Path, dict, dict], tmp_path: Path
) -> None:
    db, a, _ = batches
    result = invoke("report", a["run_id"], "--store", db, "-o", tmp_path / "figs")
    assert result.exit_code == 2 and "ends in .html" in result.stderr
    assert "--format png" in result.stderr and not list(tmp_path.iterdir())


def test_a_worlds_summary_fits_a_screen_and_all_prints_everything(tmp_path: Path) -> None:
    """Issue 13, item 9: one line an operator; --all prints every metric, shares as %."""
    common = ["run", "national-pooled", "--population", "2000", "--days", "10"]
    short = invoke(*common, "--store", tmp_path / "s.duckdb")
    assert short.exit_code == 0, short.output
    assert len(short.stdout.splitlines()) <= 40
    for op in ("national", "court", "sesame", "city"):
        assert f"│ {op} " in short.stdout
    assert "cascade_wrongful" in short.stdout and "--all prints every one" in short.stdout
    full = invoke(*common, "--store", tmp_path / "s.duckdb", "--all")
    assert full.exit_code == 0, full.output
    assert len(full.stdout.splitlines()) > 200
    row = next(line for line in full.stdout.splitlines() if "national.grade_share.A " in line)
    assert "%" in row


def test_two_world_runs_are_compared_operator_by_operator(tmp_path: Path) -> None:
    """Issue 13, item 3: compare pairs each operator with itself, never another."""
    db = tmp_path / "w.duckdb"
    common = ["run", "china-2018", "--population", "1500", "--days", "30", "--store", db]
    a = json.loads(invoke(*common, "--json").stdout)
    b = json.loads(invoke(*common, "--set", "flows.0.delay_days=1", "--json").stdout)
    result = invoke("compare", a["run_id"], b["run_id"], "--store", db, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert list(payload["operators"]) == ["court", "sesame", "city", "cameras"]
    for op, comparison in payload["operators"].items():
        assert comparison["a"]["regime"] == comparison["b"]["regime"], op
    assert payload["differs"] == ["flows.0.delay_days: 7 -> 1"]
    assert "cascade_wrongful" in payload["world"]
    text = invoke("compare", a["run_id"], b["run_id"], "--store", db).stdout
    assert "operator sesame: its run in A and its run in B" in text
    assert "flows.0.delay_days: 7 -> 1" in text and "cascade_wrongful" in text
