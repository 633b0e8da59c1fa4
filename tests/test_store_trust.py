"""The store under attack (issue 13): foreign and damaged files, interruptions, size
limits, a busy store, killed batches, output errors, and what tells runs apart.

Signals, locks and limits are tried on real ``scsim`` processes: a helper script runs
the CLI's ``main`` after slowing or pausing the save at one point (and saying so on
stderr), so the test knows when to send the signal.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner, Result

import scsim
from scsim.cli import app
from scsim.store import open_store

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--population", "2000", "--days", "5"]
runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def must_not_simulate(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("simulated although the store is unusable")

    monkeypatch.setattr(scsim, "simulate", refuse, raising=False)


def stored_ids(path: Path) -> list[str]:
    with open_store(path, read_only=True) as s:
        return s.runs()["id"].to_list()


@pytest.fixture(scope="module")
def one_run_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one small real run (events and agents kept)."""
    path = tmp_path_factory.mktemp("store") / "s.duckdb"
    result = invoke("run", "rongcheng", *TINY, "--store", path, "--json")
    assert result.exit_code == 0, result.output
    return path


def copy_of(store: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.duckdb"
    target.write_bytes(store.read_bytes())
    return target


# -- foreign and damaged files (items 13, 17) -----------------------------------------


@pytest.mark.parametrize("tables", [["CREATE TABLE runs (x INTEGER)"], ["CREATE TABLE t (y INT)"]])
def test_a_foreign_duckdb_file_is_refused_before_simulating_and_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tables: list[str]
) -> None:
    foreign = tmp_path / "mine.duckdb"
    con = duckdb.connect(str(foreign))
    for statement in tables:
        con.execute(statement)
    con.close()
    before = digest(foreign)
    must_not_simulate(monkeypatch)
    for args in (["run", "rongcheng", *TINY], ["runs"], ["delete", "20260101-000000-abcdef"]):
        result = invoke(*args, "--store", foreign)
        assert result.exit_code == 2, result.output
        assert "not an scsim store" in result.stderr
        assert "Traceback" not in result.output
    assert digest(foreign) == before
    assert not list(tmp_path.glob("mine.duckdb.*"))


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "empty":  # `touch scsim.duckdb`: DuckDB refuses it, so does scsim
        path.write_bytes(b"")
        return
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
        return
    # every byte after DuckDB's three 4 KiB headers: whatever block is read fails its
    # checksum
    for i in range(3 * 4096 + 8, len(data), 7):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "checksum", "empty"])
def test_a_damaged_store_is_one_message_everywhere(
    one_run_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    (run_id,) = stored_ids(one_run_store)
    store = copy_of(one_run_store, tmp_path)
    damage(store, how)
    must_not_simulate(monkeypatch)
    commands = [
        ["runs"],
        ["run", "rongcheng", *TINY],
        ["export", run_id, "-o", tmp_path / "out"],
        ["explain", run_id, "3"],
        ["delete", run_id],
    ]
    for args in commands:
        result = invoke(*args, "--store", store)
        assert result.exit_code == 2, (args, result.output)
        assert "damaged or not a DuckDB file" in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output


# -- labels and what tells runs apart (item 5) ----------------------------------------


def test_runs_tells_a_builtin_an_edited_copy_and_a_set_variant_apart(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    edited = tmp_path / "rongcheng.yaml"
    edited.write_text(invoke("show", "rongcheng").stdout.replace("initial: 1000", "initial: 990"))
    made = {}
    for name, args in {
        "builtin": ["rongcheng"],
        "copy": [edited],
        "variant": ["rongcheng", "--set", "score.initial=900", "--label", "harsh start"],
    }.items():
        result = invoke("run", *args, *TINY, "--store", store, "--json")
        assert result.exit_code == 0, result.output
        made[name] = json.loads(result.stdout)["run_id"]
    with open_store(store, read_only=True) as s:
        rows = {r["id"]: r for r in s.runs().iter_rows(named=True)}
    hashes = {name: rows[i]["regime_hash"] for name, i in made.items()}
    assert len(set(hashes.values())) == 3
    assert rows[made["variant"]]["label"] == "harsh start"
    assert json.loads(rows[made["variant"]]["overrides"]) == ["score.initial=900"]

    listing = invoke("runs", "--store", store)
    assert listing.exit_code == 0, listing.output
    for h in hashes.values():
        assert f"#{h[:7]}" in listing.stdout
    assert "harsh start" in listing.stdout and "score.initial=900" in listing.stdout


def test_a_label_is_one_printable_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    must_not_simulate(monkeypatch)
    for bad in ("", "two\nlines", "x" * 201):
        result = invoke("run", "rongcheng", *TINY, "--label", bad, "--store", tmp_path / "s")
        assert result.exit_code == 2 and "--label" in result.stderr


# -- small things (item 9) --------------------------------------------------------------


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"scsim {scsim.__version__}\n"


def test_export_help_lists_the_files_it_writes() -> None:
    text = " ".join(invoke("export", "--help").stdout.split())
    for table in ("runs", "daily", "summary", "agents", "events", "transitions", "list_moves"):
        assert table in text
    assert "<run id>.<table>.parquet" in text


def test_delete_removes_runs_and_the_file_shrinks(one_run_store: Path, tmp_path: Path) -> None:
    store = copy_of(one_run_store, tmp_path)
    for seed in (1, 2):
        assert invoke("run", "rongcheng", *TINY, "--seed", seed, "--store", store).exit_code == 0
    first, *rest = stored_ids(store)
    size = store.stat().st_size
    result = invoke("delete", *rest, "--store", store)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"deleted 2 runs from {store}; the file went from")
    assert stored_ids(store) == [first]
    assert store.stat().st_size < size
    with open_store(store, read_only=True) as s:
        assert s.load(first).events is not None  # the kept run is whole
    unknown = invoke("delete", first, "20260101-000000-abcdef", "--store", store)
    assert unknown.exit_code == 2 and "no run" in unknown.stderr
    assert stored_ids(store) == [first]


def test_an_interrupted_first_run_leaves_no_store_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(scsim, "simulate", interrupted, raising=False)
    result = invoke("run", "rongcheng", *TINY, "--store", tmp_path / "s.duckdb")
    assert result.exit_code == 130
    assert list(tmp_path.iterdir()) == []


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    result = invoke("run", "rongcheng", "--population", "2000", "--days", "20",
                    "--store", tmp_path / "s.duckdb", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("day ")]
    assert lines == [f"day {d} of 20 ({d * 5}%)" for d in range(2, 21, 2)]


def test_compiling_is_said_while_it_happens(capsys: pytest.CaptureFixture[str]) -> None:
    import numba

    from scsim.cli import COMPILING, _progress_bar
    from scsim.engine.run import _compile_timer

    @numba.njit
    def fresh(x: int) -> int:  # a new function: always compiled, never cached
        return x + 1

    with _compile_timer() as spent, _progress_bar(3, enabled=False, lines=True) as progress:
        fresh(1)
        assert progress is not None
        progress(3, 3)
    err = capsys.readouterr().err
    assert err.splitlines()[0] == COMPILING + "..."
    assert sum(spent) > 0


def test_speed_leaves_compile_time_out() -> None:
    from conftest import simulate_city

    run = simulate_city(days=3)
    assert 0 <= run.compile_seconds <= run.seconds
    run.params["compile_seconds"] = run.seconds / 2
    assert run.agent_days_per_s == pytest.approx(run.population * 3 / (run.seconds / 2))


# -- output errors (item 14) ------------------------------------------------------------


@pytest.mark.parametrize("target", ["/dev/full", "/proc/scsim-export", "/proc/self"])
def test_export_output_errors_are_one_message(one_run_store: Path, target: str) -> None:
    (run_id,) = stored_ids(one_run_store)
    result = invoke("export", run_id, "-o", target, "--store", one_run_store)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output


@pytest.mark.parametrize("target", ["/dev/full", "/proc/scsim-report.html", "/proc/self/x.html"])
def test_report_output_errors_are_one_message(one_run_store: Path, target: str) -> None:
    (run_id,) = stored_ids(one_run_store)
    result = invoke("report", run_id, "-o", target, "--store", one_run_store)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output


# -- real processes: Ctrl-C, size limits, locks, kills (items 15, 19, 20) -------------

# Runs the CLI after patching one step of the save: PAUSE_AT names the step; the
# process says "PAUSED" on stderr there, then runs a long DuckDB query (so Ctrl-C
# lands inside DuckDB, as it does in a long save: tens of seconds, finite, so that a
# signal that arrives before DuckDB listens is still raised when it returns) or sleeps.
HELPER = textwrap.dedent(
    """
    import os, resource, sys, time
    import scsim.store.duck as duck
    import scsim.store.spool as spool

    where = os.environ.get("PAUSE_AT", "")

    def pause(con=None):
        print("PAUSED", file=sys.stderr, flush=True)
        if con is not None:
            con.execute(
                "SELECT count(*) FROM range(2000000000) WHERE hash(range) % 7 = 3"
            ).fetchall()
        else:
            time.sleep(600)

    if where == "insert":
        real_insert = duck.Store._insert_frame
        def slow_insert(self, table, *args):
            real_insert(self, table, *args)
            if table == "summary":
                pause(self._con)
        duck.Store._insert_frame = slow_insert
    if where == "second-replicate":
        real_add = spool.Lander.add
        def add(self, run):
            real_add(self, run)
            if len(self.ids) == 2:
                pause()
        spool.Lander.add = add
    if where == "fsize":
        real_land = spool.Lander.land
        def land(self, *args, **kwargs):
            limit = int(os.environ["FSIZE"])
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            return real_land(self, *args, **kwargs)
        spool.Lander.land = land

    from scsim.cli import main
    sys.argv = ["scsim", *sys.argv[1:]]
    main()
    """
)


def scsim_process(*args: str | Path, **env: str) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env}
    return subprocess.Popen(
        [sys.executable, "-c", HELPER, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )


def wait_for(proc: subprocess.Popen[str], marker: str) -> list[str]:
    """Read stderr lines until ``marker`` (the process must get there)."""
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"never reached {marker!r}: {''.join(seen)}")


@pytest.mark.parametrize("existing", [True, False])
def test_ctrl_c_during_the_save_stores_nothing(
    one_run_store: Path, tmp_path: Path, existing: bool
) -> None:
    store = copy_of(one_run_store, tmp_path) if existing else tmp_path / "new.duckdb"
    before = stored_ids(store) if existing else []
    proc = scsim_process("run", "rongcheng", *TINY, "--store", store, PAUSE_AT="insert")
    wait_for(proc, "PAUSED")
    time.sleep(1.0)  # inside the long query
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "interrupted; nothing was stored" in err and "Traceback" not in err
    if existing:
        assert stored_ids(store) == before
    else:
        assert not store.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["copy.duckdb"] if existing else [])


def test_a_file_size_limit_during_the_save_is_one_message(
    one_run_store: Path, tmp_path: Path
) -> None:
    store = copy_of(one_run_store, tmp_path)
    before = stored_ids(store)
    limit = 64 * 1024  # the write-ahead log of a run with its events is larger
    proc = scsim_process(
        "run", "rongcheng", "--population", "20000", "--days", "30", "--store", store,
        PAUSE_AT="fsize", FSIZE=str(limit),
    )  # fmt: skip
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 2, err
    assert "File too large" in err and "ulimit -f" in err and "Traceback" not in err
    assert "store is as it was" in err
    assert stored_ids(store) == before


def hold(store: Path) -> subprocess.Popen[str]:
    """Another process with a DuckDB connection (not read-only) open on ``store``."""
    proc = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, sys, time; c = duckdb.connect({str(store)!r}); "
         "print('HELD', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "HELD\n"
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    proc.communicate(timeout=60)  # closes its stdin: it exits and lets go


def test_a_busy_store_spools_the_batch_and_scsim_runs_takes_it_in(
    one_run_store: Path, tmp_path: Path
) -> None:
    store = copy_of(one_run_store, tmp_path)
    before = stored_ids(store)
    holder = hold(store)
    try:
        proc = scsim_process(
            "run", "rongcheng", *TINY, "--replicates", "2", "--store", store, "--json",
            SCSIM_STORE_WAIT="1",
        )  # fmt: skip
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        ids = json.loads(out)["replicates"]
        assert f"in use by another process (pid {holder.pid}" in err
        assert "readonly" not in err.lower() and "duckdb.org" not in err
        (spooled,) = tmp_path.glob("copy.duckdb.pending-*.duckdb")
        assert str(spooled) in " ".join(err.split())
        busy = invoke("runs", "--store", store)
        assert busy.exit_code == 2 and "in use by another process" in busy.stderr
    finally:
        release(holder)
    listing = invoke("runs", "--store", store)
    assert listing.exit_code == 0, listing.output
    assert stored_ids(store) == sorted(before + ids)
    assert not spooled.exists()
    with open_store(store, read_only=True) as s:
        assert s.batch_ids(ids[0]) == ids


def test_a_store_freed_within_the_wait_gets_the_run(one_run_store: Path, tmp_path: Path) -> None:
    store = copy_of(one_run_store, tmp_path)
    holder = hold(store)
    proc = scsim_process("run", "rongcheng", *TINY, "--store", store, "--json",
                         SCSIM_STORE_WAIT="600")  # fmt: skip
    try:
        wait_for(proc, "waiting up to 600 s")
    finally:
        release(holder)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert json.loads(out)["run_id"] in stored_ids(store)
    assert "kept in" not in err
    assert not list(tmp_path.glob("copy.duckdb.*"))


def test_a_batch_killed_between_replicates_leaves_nothing(
    one_run_store: Path, tmp_path: Path
) -> None:
    store = copy_of(one_run_store, tmp_path)
    before = stored_ids(store)
    proc = scsim_process("run", "rongcheng", *TINY, "--replicates", "3", "--store", store,
                         PAUSE_AT="second-replicate")  # fmt: skip
    wait_for(proc, "PAUSED")
    proc.kill()
    proc.communicate(timeout=60)
    assert stored_ids(store) == before
    assert list(tmp_path.glob("copy.duckdb.partial-*"))  # the dead batch's spool
    with open_store(store):  # the next write clears it away
        pass
    assert not list(tmp_path.glob("copy.duckdb.*"))
    assert stored_ids(store) == before


def test_a_store_that_fails_at_save_time_keeps_the_run_beside_it(
    one_run_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Damage found only when saving (a data block, not the catalog the early check
    reads): the finished run is kept in a pending file, an scsim store itself, and
    joins the store once it can be written again."""
    import scsim.store.spool as spool

    store = copy_of(one_run_store, tmp_path)
    before = stored_ids(store)

    def damaged(path: Path, *args: object, **kwargs: object) -> None:
        raise scsim.ScsimError(f"store {str(path)!r} is damaged or not a DuckDB file")

    monkeypatch.setattr(spool, "open_waiting", damaged)
    result = invoke("run", "rongcheng", *TINY, "--store", store)
    assert result.exit_code == 2, result.output
    (kept,) = tmp_path.glob("copy.duckdb.pending-*.duckdb")
    message = " ".join(result.stderr.split())
    assert "is damaged" in message and str(kept) in message and "Nothing is lost" in message
    (run_id,) = stored_ids(kept)
    monkeypatch.undo()
    assert invoke("runs", "--store", store).exit_code == 0  # the store is fine again
    assert stored_ids(store) == sorted([*before, run_id])
    assert not kept.exists()
