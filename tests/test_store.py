"""The results store: round trips, listing, atomicity, Parquet export, clear errors."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import scsim.store.duck as duck
from scsim.engine.result import Run
from scsim.errors import ScsimError
from scsim.store import Store, new_run_id, open_store


class FakeRegime:
    """The part of the regime contract the store uses (name, YAML, hash)."""

    def __init__(self, name: str = "fake", description: str = "A fake regime.") -> None:
        self.name = name
        self.description = description

    def to_yaml(self) -> str:
        return f"name: {self.name}\ndescription: {self.description}\n"

    def content_hash(self) -> str:
        return hashlib.sha256(self.to_yaml().encode()).hexdigest()

    @classmethod
    def from_yaml(cls, text: str) -> FakeRegime:
        fields = dict(line.split(": ", 1) for line in text.strip().splitlines())
        return cls(fields["name"], fields["description"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeRegime) and other.to_yaml() == self.to_yaml()


def make_run(days: int = 5, n: int = 7, seed: int = 3, regime: object | None = None) -> Run:
    """A small hand-built run with the shapes the engine promises (wide daily, groups)."""
    groups = ["all", "g0", "g1"]
    rows = [(d, g) for d in range(days) for g in groups]
    daily = pl.DataFrame(
        {
            "day": pl.Series([d for d, _ in rows], dtype=pl.Int32),
            "group": [g for _, g in rows],
            "mean_score": [1000.0 - d * 1.5 - i for i, (d, _) in enumerate(rows)],
            "grade_share.A": [0.5 + 0.01 * d for d, _ in rows],
            "blacklisted": pl.Series([d * 2 for d, _ in rows], dtype=pl.Int64),
            "events_true.jaywalking": pl.Series([d + 1 for d, _ in rows], dtype=pl.Int64),
            "disparate_impact.flight_ban": [math.nan if d == 0 else 1.25 for d, _ in rows],
        }
    )
    agents = pl.DataFrame(
        {
            "score": pl.Series([1000 - i for i in range(n)], dtype=pl.Int32),
            "grade": pl.Series(["A", "B", "D"] * n, dtype=pl.Enum(["A", "B", "D"]))[:n],
            "days_listed": pl.Series([i % 3 for i in range(n)], dtype=pl.UInt16),
            "blacklisted": [i % 2 == 0 for i in range(n)],
            "group": [f"g{i % 2}" for i in range(n)],
        }
    )
    summary = {
        "mean_score": 990.5,
        "grade_share.A": 0.54,
        "blacklisted": 8.0,
        "events_true.jaywalking": 15.0,
        "disparate_impact.flight_ban": 1.25,
    }
    return Run(
        regime=regime or FakeRegime(),
        population=n,
        days=days,
        seed=seed,
        daily=daily,
        agents=agents,
        summary=summary,
        stocks=frozenset({"mean_score", "grade_share.A", "blacklisted"}),
        seconds=0.25,
        started="2026-11-23T13:00:00+00:00",
        finished="2026-11-23T13:00:00.250000+00:00",
        params={"threads": 2, "chunk_size": None},
    )


@pytest.fixture
def fake_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rebuild stored regimes as FakeRegime: these tests are about the store alone."""
    monkeypatch.setattr(duck, "_regime_from_yaml", FakeRegime.from_yaml)


@pytest.fixture
def store(tmp_path: Path, fake_loader: None) -> Store:
    with open_store(tmp_path / "runs.duckdb") as s:
        yield s


def test_run_id_is_short_sortable_and_unique() -> None:
    # 24 random bits: 1000 ids in one second collide about 3% of the time (birthday
    # bound), so uniqueness is the store's job (next test), not the id's alone.
    ids = {new_run_id() for _ in range(1000)}
    assert len(ids) >= 995
    one = next(iter(ids))
    date, time, tail = one.split("-")
    assert len(date) == 8 and len(time) == 6 and len(tail) == 6
    int(tail, 16)
    from datetime import UTC, datetime

    early = new_run_id(datetime(2026, 1, 1, tzinfo=UTC))
    late = new_run_id(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert early < late


def test_save_draws_again_when_an_id_is_taken(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = store.save(make_run(seed=1))
    fresh = "20260101-000000-abcdef"
    drawn = iter([taken, taken, fresh])
    monkeypatch.setattr(duck, "new_run_id", lambda: next(drawn))
    assert store.save(make_run(seed=2)) == fresh
    assert store.runs()["id"].to_list() == sorted([taken, fresh])


def test_save_then_load_round_trips(store: Store) -> None:
    run = make_run()
    run_id = store.save(run)
    assert run.run_id == run_id

    back = store.load(run_id)
    assert_frame_equal(back.daily, run.daily)
    assert_frame_equal(back.agents, run.agents)
    assert back.summary == run.summary
    assert list(back.summary) == list(run.summary)
    assert back.stocks == run.stocks
    assert back.regime == run.regime
    assert (back.population, back.days, back.seed) == (run.population, run.days, run.seed)
    assert (back.started, back.finished, back.seconds) == (run.started, run.finished, 0.25)
    assert back.params == run.params
    assert back.run_id == run_id


def test_daily_is_stored_long_with_one_schema(store: Store) -> None:
    run_id = store.save(make_run(days=2))
    con = store._con
    cols = [r[0] for r in con.execute("DESCRIBE daily").fetchall()]
    assert cols == ["run_id", "day", "grp", "metric", "value"]
    (count,) = con.execute("SELECT count(*) FROM daily WHERE run_id = ?", [run_id]).fetchall()[0]
    assert count == 2 * 3 * 5  # days x groups x metrics
    kinds = dict(con.execute("SELECT metric, kind FROM summary").fetchall())
    assert kinds["mean_score"] == "stock" and kinds["events_true.jaywalking"] == "flow"


def test_runs_lists_every_run_oldest_first(store: Store) -> None:
    assert store.runs().height == 0
    assert store.runs().columns == duck._RUNS_COLUMNS
    a = store.save(make_run(seed=1))
    b = store.save(make_run(seed=2, days=3, regime=FakeRegime("other")))
    runs = store.runs()
    assert runs["id"].to_list() == sorted([a, b])
    assert runs.columns == [
        "id",
        "regime",
        "population",
        "days",
        "seed",
        "status",
        "started",
        "finished",
        "seconds",
        "batch",
        "label",
        "overrides",
        "regime_hash",
    ]
    assert runs["batch"].to_list() == runs["id"].to_list()  # each run its own batch
    row = runs.filter(pl.col("id") == b).row(0, named=True)
    assert row["regime"] == "other" and row["days"] == 3 and row["seed"] == 2
    assert row["status"] == "complete"


def test_runs_survive_reopening(tmp_path: Path, fake_loader: None) -> None:
    path = tmp_path / "s.duckdb"
    with open_store(path) as s:
        run_id = s.save(make_run())
    with open_store(path, read_only=True) as s:
        assert s.runs()["id"].to_list() == [run_id]
        assert_frame_equal(s.load(run_id).daily, make_run().daily)


def _tables(store: Store) -> dict[str, int]:
    names = [r[0] for r in store._con.execute("SHOW TABLES").fetchall()]
    return {n: store._con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}


@pytest.mark.parametrize("step", ["_insert_frame", "_create_agents"])
def test_failure_midway_leaves_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    kept = store.save(make_run(seed=1))
    before = _tables(store)
    real = getattr(Store, step)
    calls = []

    def failing(self: Store, *args: object) -> None:
        calls.append(args)
        if step == "_create_agents" or len(calls) == 2:  # after daily went in
            real(self, *args)
            raise RuntimeError("disk on fire")
        real(self, *args)

    monkeypatch.setattr(Store, step, failing)
    run = make_run(seed=2)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.save(run)
    assert run.run_id is None
    assert _tables(store) == before
    assert store.runs()["id"].to_list() == [kept]
    monkeypatch.undo()
    # the store still works after the rollback
    store._con  # noqa: B018
    assert len(store.runs()) == 1


def test_keyboard_interrupt_midway_leaves_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: Store, *args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "_create_agents", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.save(make_run())
    assert _tables(store) == {
        "scsim_meta": 1,
        "runs": 0,
        "daily": 0,
        "summary": 0,
        "events": 0,
        "transitions": 0,
        "list_moves": 0,
    }


def test_readers_see_committed_runs_only(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = Store._create_agents

    def peek(self: Store, *args: object) -> None:
        real(self, *args)
        other = self._con.cursor()  # a second connection to the same database
        seen.append(other.execute("SELECT count(*) FROM runs").fetchall()[0][0])
        seen.append(other.execute("SELECT count(*) FROM daily").fetchall()[0][0])
        other.close()

    monkeypatch.setattr(Store, "_create_agents", peek)
    store.save(make_run())
    assert seen == [0, 0]
    assert len(store.runs()) == 1


def test_export_parquet_has_the_same_rows(store: Store, tmp_path: Path) -> None:
    run = make_run()
    run_id = store.save(run)
    store.save(make_run(seed=9))  # another run must not leak into the export
    paths = store.export_parquet(run_id, tmp_path / "out" / "nested")
    assert [p.name for p in paths] == [
        f"{run_id}.runs.parquet",
        f"{run_id}.daily.parquet",
        f"{run_id}.summary.parquet",
        f"{run_id}.agents.parquet",
    ]
    runs = pl.read_parquet(paths[0])
    assert runs["id"].to_list() == [run_id]
    assert runs["seed"].to_list() == [run.seed]

    daily = pl.read_parquet(paths[1])  # the columns of run.daily, after run_id
    assert daily.columns == ["run_id", *run.daily.columns]
    assert set(daily["run_id"]) == {run_id}
    assert_frame_equal(daily.drop("run_id"), run.daily)

    summary = pl.read_parquet(paths[2])
    assert dict(zip(summary["metric"], summary["value"], strict=True)) == run.summary

    agents = pl.read_parquet(paths[3])
    # Parquet keeps the values; an Enum comes back as its strings
    assert_frame_equal(
        agents.drop("run_id"), run.agents.with_columns(pl.col("grade").cast(pl.String))
    )


def test_run_without_agent_columns(store: Store) -> None:
    run = make_run()
    run.agents = pl.DataFrame()
    run_id = store.save(run)
    assert store.load(run_id).agents.width == 0
    assert len(store.export_parquet(run_id, store.path.parent / "x")) == 3


def test_exports_of_several_runs_share_a_directory(store: Store, tmp_path: Path) -> None:
    ids = [store.save(make_run(seed=s)) for s in (1, 2)]
    for run_id in ids:
        store.export_parquet(run_id, tmp_path)
    runs = pl.read_parquet(tmp_path / "*.runs.parquet")
    assert sorted(runs["id"]) == sorted(ids)
    daily = pl.read_parquet(tmp_path / "*.daily.parquet")
    assert daily.height == 2 * make_run().daily.height


def test_unknown_run_id_says_how_to_list(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ScsimError, match="scsim runs"):
        store.load("20260101-000000-abcdef")
    with pytest.raises(ScsimError, match="no run"):
        store.export_parquet("nope", tmp_path)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScsimError, match="does not exist"):
        open_store(tmp_path / "no" / "such" / "s.duckdb")
    assert not (tmp_path / "no").exists()


def test_read_only_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(ScsimError, match="no store"):
        open_store(tmp_path / "s.duckdb", read_only=True)
    assert not (tmp_path / "s.duckdb").exists()


def test_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ScsimError, match="damaged or not a DuckDB file"):
        open_store(junk)
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).close()
    with pytest.raises(ScsimError, match="not an scsim store"):
        open_store(foreign, read_only=True)
    with pytest.raises(ScsimError, match="is a directory"):
        open_store(tmp_path)


def test_duplicate_day_group_rows_are_a_bug_not_data(store: Store) -> None:
    run = make_run()
    run.daily = pl.concat([run.daily, run.daily.head(1)])
    with pytest.raises(ValueError, match="one row per day and group"):
        store.save(run)
    assert store.runs().height == 0


def test_real_regime_comes_back_from_its_stored_yaml(tmp_path: Path) -> None:
    from scsim.regime import load_regime

    regime = load_regime("rongcheng", ["score.initial=950"])
    with open_store(tmp_path / "s.duckdb") as s:
        back = s.load(s.save(make_run(regime=regime)))
    assert back.regime == regime
    assert back.regime.content_hash() == regime.content_hash()
    assert back.regime.score.initial == 950


def test_largest_seed_and_population_fit(store: Store) -> None:
    run = make_run(seed=2**63 - 1)
    run.population = 2_000_000_000
    back = store.load(store.save(run))
    assert (back.seed, back.population) == (2**63 - 1, 2_000_000_000)


# -- events, transitions, replicate batches, schema upgrade ----------------------------


def make_logged_run(seed: int = 3, events: int = 4) -> Run:
    """A fake run that kept an event log and grade transitions (engine dtypes)."""
    run = make_run(seed=seed)
    beh = pl.Enum(["jaywalking", "charity"])
    obs = pl.Enum(["cameras", "none"])
    grades = pl.Enum(["A", "B", "D"])
    run.events = pl.DataFrame(
        {
            "day_happened": pl.Series(list(range(events)), dtype=pl.Int32),
            "day_recorded": pl.Series([d + 1 for d in range(events)], dtype=pl.Int32),
            "doer": pl.Series([1, 2, 3, 4][:events], dtype=pl.Int64),
            "agent": pl.Series([1, 5, 3, 4][:events], dtype=pl.Int64),
            "behaviour": pl.Series(["jaywalking", "charity"] * events, dtype=beh)[:events],
            "observer": pl.Series(["cameras"] * events, dtype=obs),
            "false": [False, True, False, False][:events],
            "points": [-5.0, 5.0, -5.0, -5.0][:events],
        }
    )
    run.transitions = pl.DataFrame(
        {
            "day": pl.Series([1, 2], dtype=pl.Int64),
            "from_grade": pl.Series(["A", "B"], dtype=grades),
            "to_grade": pl.Series(["B", "D"], dtype=grades),
            "agents": pl.Series([3, 1], dtype=pl.Int64),
        }
    )
    run.list_moves = pl.DataFrame(
        {
            "day": pl.Series([2, 9], dtype=pl.Int32),
            "agent": pl.Series([4, 4], dtype=pl.Int64),
            "list": pl.Series(["blacklist", "blacklist"], dtype=pl.Enum(["blacklist"])),
            "move": pl.Series(
                ["entered_by_grade", "left"], dtype=pl.Enum(["entered_by_grade", "left"])
            ),
        }
    )
    return run


def test_events_and_transitions_round_trip(store: Store) -> None:
    run = make_logged_run()
    back = store.load(store.save(run))
    assert back.events is not None and back.transitions is not None
    assert_frame_equal(back.events, run.events)
    assert_frame_equal(back.transitions, run.transitions)
    assert_frame_equal(back.list_moves, run.list_moves)
    rows = store._con.execute('SELECT behaviour, "false" FROM events ORDER BY doer').fetchall()
    assert rows[1] == ("charity", True)  # names as strings, one table for every regime


def test_a_run_without_a_log_and_one_with_an_empty_log_stay_different(store: Store) -> None:
    without = make_run()  # events None: made with keep_events=False
    assert store.load(store.save(without)).events is None
    empty = make_logged_run(events=0)
    back = store.load(store.save(empty))
    assert back.events is not None and back.events.height == 0
    assert back.events.schema == empty.events.schema


def test_failure_while_writing_the_log_leaves_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Store._insert_frame

    def failing(self: Store, table: str, *args: object) -> None:
        real(self, table, *args)
        if table == "list_moves":  # the last write of a save
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(Store, "_insert_frame", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.save(make_logged_run())
    assert set(_tables(store).values()) == {0, 1}  # only scsim_meta's row
    assert _tables(store)["scsim_meta"] == 1


def test_real_run_events_round_trip_exactly(tmp_path: Path) -> None:
    from conftest import simulate_city

    run = simulate_city(days=40)
    assert run.events is not None and run.events.height > 100
    with open_store(tmp_path / "s.duckdb") as s:
        back = s.load(s.save(run))
    assert_frame_equal(back.events, run.events)
    assert_frame_equal(back.transitions, run.transitions)
    assert_frame_equal(back.list_moves, run.list_moves)
    assert_frame_equal(back.daily, run.daily)
    assert_frame_equal(back.agents, run.agents)


def test_replicate_batches(store: Store) -> None:
    alone = store.save(make_run(seed=1))
    first = store.save(make_run(seed=7))
    later = [store.save(make_run(seed=s), batch=first) for s in (9, 8)]
    assert store.batch_ids(later[0]) == [first, later[1], later[0]]  # by seed
    assert [r.seed for r in store.load_batch(first)] == [7, 8, 9]
    assert store.batch_ids(alone) == [alone]
    runs = store.runs()
    assert runs.filter(pl.col("batch") == first).height == 3
    with pytest.raises(ScsimError, match="no run"):
        store.save(make_run(), batch="20260101-000000-abcdef")


def test_delete_removes_every_table_of_a_run(store: Store) -> None:
    kept = store.save(make_logged_run(seed=1))
    before = _tables(store)
    first = store.save(make_logged_run(seed=7))
    second = store.save(make_logged_run(seed=8), batch=first)
    assert store.delete([first, second]) == 2
    assert _tables(store) == before
    assert store.runs()["id"].to_list() == [kept]
    with pytest.raises(ScsimError, match="no run"):
        store.delete([kept, first])  # one unknown id: nothing is deleted
    assert store.runs()["id"].to_list() == [kept]


def test_delete_batch_removes_every_run_of_it(store: Store) -> None:
    kept = store.save(make_logged_run(seed=1))
    before = _tables(store)
    first = store.save(make_logged_run(seed=7))
    store.save(make_logged_run(seed=8), batch=first)
    assert store.delete_batch(first) == 2
    assert _tables(store) == before
    assert store.runs()["id"].to_list() == [kept]
    assert store.delete_batch(first) == 0


def test_export_includes_events_and_transitions(store: Store, tmp_path: Path) -> None:
    run_id = store.save(make_logged_run())
    paths = store.export_parquet(run_id, tmp_path)
    assert [p.name.split(".")[1] for p in paths] == [
        "runs",
        "daily",
        "summary",
        "agents",
        "events",
        "transitions",
        "list_moves",
    ]
    events = pl.read_parquet(paths[4])
    assert events.height == 4 and set(events["run_id"]) == {run_id}


def _downgrade_to_v1(path: Path) -> None:
    """Turn a current store into the layout of schema version 1 (before batches)."""
    _downgrade_to_v2(path)
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE runs DROP COLUMN batch")
    for table in ("events", "transitions", "list_moves"):
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE scsim_meta SET value = '1' WHERE key = 'schema_version'")
    con.close()


def _downgrade_to_v2(path: Path) -> None:
    """Turn a current store into the layout of schema version 2 (before labels)."""
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE runs DROP COLUMN label")
    con.execute("ALTER TABLE runs DROP COLUMN overrides")
    con.execute("UPDATE scsim_meta SET value = '2' WHERE key = 'schema_version'")
    con.close()


def test_version_2_store_gets_labels_when_written(tmp_path: Path, fake_loader: None) -> None:
    path = tmp_path / "v2.duckdb"
    with open_store(path) as s:
        old = s.save(make_run(seed=1))
    _downgrade_to_v2(path)
    with open_store(path, read_only=True) as s:
        assert s.version == 2
        row = s.runs().row(0, named=True)
        assert (row["label"], row["overrides"]) == (None, "[]")
    with open_store(path) as s:
        assert s.version == duck.SCHEMA_VERSION
        new = s.save(make_run(seed=2), label="harsher", overrides=["score.initial=900"])
        runs = s.runs()
    assert runs["id"].to_list() == sorted([old, new])
    labelled = runs.filter(pl.col("id") == new).row(0, named=True)
    assert labelled["label"] == "harsher"
    assert labelled["overrides"] == '["score.initial=900"]'
    assert labelled["regime_hash"] == FakeRegime().content_hash()


def test_version_1_store_is_read_as_is_and_upgraded_when_written(
    tmp_path: Path, fake_loader: None
) -> None:
    path = tmp_path / "old.duckdb"
    with open_store(path) as s:
        old = s.save(make_run(seed=1))
    _downgrade_to_v1(path)

    with open_store(path, read_only=True) as s:  # read as it is: nothing written
        assert s.version == 1
        assert s.runs()["batch"].to_list() == [old]
        assert s.load(old).events is None
        assert s.batch_ids(old) == [old]
        assert len(s.export_parquet(old, tmp_path / "x")) == 4

    with open_store(path) as s:  # upgraded in place
        assert s.version == duck.SCHEMA_VERSION
        assert s.runs()["batch"].to_list() == [old]
        new = s.save(make_logged_run(seed=2), batch=old)
        assert s.batch_ids(old) == [old, new]
        assert_frame_equal(s.load(old).daily, make_run(seed=1).daily)
    con = duckdb.connect(str(path), read_only=True)
    version = con.execute("SELECT value FROM scsim_meta").fetchall()
    con.close()
    assert version == [(str(duck.SCHEMA_VERSION),)]


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    open_store(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE scsim_meta SET value = '99'")
    con.close()
    for read_only in (True, False):
        with pytest.raises(ScsimError, match="schema version 99"):
            open_store(path, read_only=read_only)


def test_a_failed_commit_of_the_file_is_one_message(tmp_path: Path) -> None:
    """Under ``ulimit -f`` DuckDB may fail at the insert (an IO error) or only at the
    commit (a TransactionException naming the file): both are the same message."""
    commit = duckdb.TransactionException(
        'TransactionContext Error: Failed to commit: Could not write file "s.duckdb.wal": '
        "File too large"
    )
    assert duck._is_file_error(commit)
    message = str(duck.store_error(tmp_path / "s.duckdb", commit, "save the run"))
    assert "File too large" in message and "ulimit -f" in message
    assert "store is as it was" in message
    assert not duck._is_file_error(duckdb.BinderException("Binder Error: a bug of ours"))
