"""The ``scsim`` command, through typer's CliRunner, with real (small) simulations."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner, Result

import scsim
from conftest import JSON_KEYS
from scsim.cli import app
from scsim.store import open_store

SMALL = ["--population", "2000", "--days", "20"]

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def stored(path: Path) -> int:
    """How many runs the store at ``path`` holds (0 if there is no store)."""
    if not path.exists():
        return 0
    with open_store(path, read_only=True) as s:
        return s.runs().height


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """One real run stored through the CLI, shared by the tests that read it."""
    db = tmp_path_factory.mktemp("store") / "s.duckdb"
    result = invoke("run", "rongcheng", *SMALL, "--seed", "7", "--store", db, "--json")
    return db, result


def test_json_prints_exactly_one_object_matching_the_store(
    json_run: tuple[Path, Result],
) -> None:
    db, result = json_run
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.count("\n") == 1 and out.endswith("}\n")
    payload = json.loads(out)
    assert set(payload) == JSON_KEYS
    assert payload["regime"] == "rongcheng"
    assert (payload["population"], payload["days"], payload["seed"]) == (2000, 20, 7)
    assert payload["seconds"] > 0
    busy = payload["seconds"] - payload["compile_seconds"]  # compiling is not speed
    assert 0 <= payload["compile_seconds"] < payload["seconds"]
    assert payload["agent_days_per_s"] == pytest.approx(2000 * 20 / busy)

    with open_store(db, read_only=True) as s:
        assert s.runs()["id"].to_list() == [payload["run_id"]]
        run = s.load(payload["run_id"])
    assert set(payload["metrics"]) == set(run.summary)
    assert "mean_score" in payload["metrics"]
    for name, value in run.summary.items():
        if math.isfinite(value):
            assert payload["metrics"][name] == value, name
        else:
            assert payload["metrics"][name] is None, name


def test_run_prints_a_grouped_summary(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    result = invoke("run", "rongcheng", *SMALL, "--store", db)
    assert result.exit_code == 0, result.output
    with open_store(db, read_only=True) as s:
        (run_id,) = s.runs()["id"].to_list()
    out = result.stdout
    for text in [run_id, "agent-days/s", "seconds", "mean_score", "grade_share.AAA"]:
        assert text in out
    assert re.search(r"grade_share\.A .*\d%", out)  # shares as percentages
    for section in ["score", "grades", "events"]:
        assert section in out
    assert out.index("mean_score") < out.index("grade_share.AAA") < out.index("events_true")


BAD_OPTIONS = [
    (["rongcheng", "--population", "0"], "--population"),
    (["rongcheng", "--population", "2000000001"], "--population"),
    (["rongcheng", "--days", "-1"], "--days"),
    (["rongcheng", "--days", "36501"], "--days"),
    (["rongcheng", "--seed", "x"], "--seed"),
    (["rongcheng", "--seed", "-1"], "--seed"),
    (["rongcheng", "--threads", "0"], "--threads"),
    (["no_such_regime"], "no_such_regime"),
    (["rongcheng", "--set", "score.bogus=1"], "score.bogus"),
    (["rongcheng", "--set", "score.initial"], "--set"),
    (["rongcheng", "--set", "score.initial=lots"], "score.initial"),
]


@pytest.mark.parametrize(("args", "named"), BAD_OPTIONS)
def test_bad_option_exits_2_with_a_message_and_stores_nothing(
    tmp_path: Path, args: list[str], named: str
) -> None:
    db = tmp_path / "s.duckdb"
    regime, *options = args
    result = invoke("run", regime, *SMALL, *options, "--store", db)  # the last value wins
    assert result.exit_code == 2, result.output
    assert named in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert stored(db) == 0


def test_missing_store_directory_exits_2_before_simulating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("simulated although the store path is bad")

    monkeypatch.setattr(scsim, "simulate", must_not_run, raising=False)
    db = tmp_path / "no" / "such" / "s.duckdb"
    result = invoke("run", "rongcheng", *SMALL, "--store", db, "--json")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert "--store" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert not (tmp_path / "no").exists()


def test_unknown_command_exits_2() -> None:
    result = invoke("frobnicate")
    assert result.exit_code == 2
    assert "frobnicate" in result.stderr


def test_keyboard_interrupt_exits_130_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(scsim, "simulate", interrupted, raising=False)
    db = tmp_path / "s.duckdb"
    result = invoke("run", "rongcheng", *SMALL, "--store", db)
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "nothing was stored" in result.stderr
    assert stored(db) == 0


def test_a_bug_is_not_dressed_up_as_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(scsim, "simulate", broken, raising=False)
    result = invoke("run", "rongcheng", *SMALL, "--store", "unused.duckdb")
    assert isinstance(result.exception, ZeroDivisionError)
    assert result.exit_code == 1


def test_regimes_lists_the_builtins_with_descriptions() -> None:
    result = invoke("regimes")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(scsim.builtin_regimes()) + len(scsim.builtin_worlds())
    (rongcheng,) = [line for line in lines if line.startswith("rongcheng — ")]
    assert rongcheng == f"rongcheng — {scsim.load_regime('rongcheng').description}"
    (china,) = [line for line in lines if line.startswith("china-2018 (world) — ")]
    assert china.endswith(scsim.load_world("china-2018").description)


def test_show_output_loads_back(tmp_path: Path) -> None:
    result = invoke("show", "rongcheng", "--set", "score.initial=900")
    assert result.exit_code == 0, result.output
    path = tmp_path / "shown.yaml"
    path.write_text(result.stdout)
    back = scsim.load_regime(path)
    assert back == scsim.load_regime("rongcheng", ["score.initial=900"])
    assert back.score.initial == 900


def test_validate_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(invoke("show", "rongcheng").stdout)
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: rongcheng\n"


def test_validate_a_bad_file_names_file_and_line(tmp_path: Path) -> None:
    good = invoke("show", "rongcheng").stdout
    path = tmp_path / "bad.yaml"
    path.write_text(good.replace("score:\n", "score:\n  favourite_colour: red\n", 1))
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "bad.yaml:" in result.stderr and "favourite_colour" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_validate_a_missing_file(tmp_path: Path) -> None:
    result = invoke("validate", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "nope.yaml" in result.stderr and "no such file" in result.stderr


def test_runs_lists_what_the_store_holds(json_run: tuple[Path, Result]) -> None:
    db, run = json_run
    run_id = json.loads(run.stdout)["run_id"]
    result = invoke("runs", "--store", db)
    assert result.exit_code == 0, result.output
    assert run_id in result.stdout and "rongcheng" in result.stdout


def test_runs_on_an_empty_and_a_missing_store(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    open_store(db).close()
    result = invoke("runs", "--store", db)
    assert result.exit_code == 0
    assert "no runs" in result.stdout
    result = invoke("runs", "--store", tmp_path / "missing.duckdb")
    assert result.exit_code == 2
    assert "no store" in result.stderr
    assert not (tmp_path / "missing.duckdb").exists()


def test_export_writes_parquet_with_the_stored_rows(
    json_run: tuple[Path, Result], tmp_path: Path
) -> None:
    db, run = json_run
    run_id = json.loads(run.stdout)["run_id"]
    out = tmp_path / "export"
    result = invoke("export", run_id, "--store", db, "-o", out)
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert {p.name for p in paths} == {
        f"{run_id}.{table}.parquet"
        for table in ("runs", "daily", "summary", "agents", "events", "transitions", "list_moves")
    }
    with open_store(db, read_only=True) as s:
        stored_run = s.load(run_id)
    assert pl.read_parquet(out / f"{run_id}.runs.parquet")["id"].to_list() == [run_id]
    daily = pl.read_parquet(out / f"{run_id}.daily.parquet")  # the names of run.daily
    assert daily.columns == ["run_id", *stored_run.daily.columns]
    assert_frame_equal(
        daily.drop("run_id"), stored_run.daily.with_columns(pl.col("group").cast(pl.String))
    )
    assert pl.read_parquet(out / f"{run_id}.agents.parquet").height == 2000
    assert stored_run.events is not None
    events = pl.read_parquet(out / f"{run_id}.events.parquet")
    assert events.height == stored_run.events.height


def test_export_of_an_unknown_run_says_how_to_list(
    json_run: tuple[Path, Result], tmp_path: Path
) -> None:
    db, _ = json_run
    result = invoke("export", "20000101-000000-000000", "--store", db, "-o", tmp_path)
    assert result.exit_code == 2
    assert "scsim runs" in result.stderr


def test_the_installed_script_prints_no_traceback(tmp_path: Path) -> None:
    """The real entry point, in a real process: rich and typer as a user sees them."""
    script = Path(sys.executable).parent / "scsim"
    for args in (["run", "no_such_regime"], ["run", "rongcheng", "--days", "0"]):
        proc = subprocess.run(
            [str(script), *args, "--store", str(tmp_path / "s.duckdb")],
            capture_output=True,
            text=True,
            timeout=600,  # a guard against a hang, not a timing assert
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert stored(tmp_path / "s.duckdb") == 0


def test_json_keeps_stray_output_off_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = scsim.simulate

    def chatty(*args: object, **kwargs: object) -> object:
        print("compiling kernels...")  # a library talking on stdout
        return real(*args, **kwargs)

    monkeypatch.setattr(scsim, "simulate", chatty)
    db = tmp_path / "s.duckdb"
    result = invoke("run", "rongcheng", *SMALL, "--store", db, "--json")
    assert result.exit_code == 0, result.output
    assert "compiling kernels..." in result.stderr
    assert set(json.loads(result.stdout)) == JSON_KEYS


def test_progress_bar_reports_days_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from scsim.cli import _progress_bar

    with _progress_bar(3, enabled=True) as progress:
        assert progress is not None
        for day in range(1, 4):
            progress(day, 3)
    with _progress_bar(3, enabled=False) as progress:
        assert progress is None
    assert capsys.readouterr().out == ""


def test_a_large_run_stores_aggregates_only_unless_asked(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    args = ["run", "rongcheng", *SMALL, "--store", str(store), "--json"]
    lean = json.loads(invoke(*args, "--no-events", "--no-agents").stdout)
    full = json.loads(invoke(*args).stdout)
    assert lean["metrics"] == full["metrics"]
    with open_store(store) as s:
        assert s.load(lean["run_id"]).agents.width == 0
        assert s.load(lean["run_id"]).events is None
        assert s.load(full["run_id"]).agents.height == 2000
    refused = invoke("explain", lean["run_id"], "3", "--store", str(store))
    assert refused.exit_code == 2 and "no provenance" in refused.output
