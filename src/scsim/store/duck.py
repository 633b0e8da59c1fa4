"""The results store: one embedded DuckDB file that keeps every finished run.

Why this layout:

- ``runs``: one row per run, with the *resolved* regime YAML and its content hash, so
  a stored run can be re-simulated or audited without the file it came from.
- ``daily``: long form ``(run_id, day, grp, metric, value)``. Regimes differ in their
  metric names (``grade_share.<grade>``, ``sanctioned.<sanction>`` ...), so a wide table
  would need a schema per regime; the long form keeps one schema for all runs and makes
  cross-run queries (``WHERE metric = 'blacklisted'``) plain SQL. The wide frame's
  column order, dtypes and group order are kept in ``runs.layout`` (JSON) so ``load``
  gives back the frame the engine produced.
- ``summary``: ``(run_id, metric, value, kind)`` with ``kind`` ``'stock'`` or ``'flow'``.
- agents: the final state has columns that depend on the regime (one score per
  operator, one flag per sanction ...), so each run gets its own table
  ``agents_<run id>`` (``run_id`` plus the engine's columns, types preserved), named
  in ``runs.agents_table``. A run without agent columns has no such table.
- ``events``: every recorded event, long form with ``run_id`` (the engine's columns;
  behaviour and observer names as strings, their Enum categories in ``runs.layout``).
  Unlike agents, its columns do not depend on the regime, so all runs share one table
  and "false matches across every run" is one query. ``layout["events"]`` is null for
  a run made with ``keep_events=False`` (no log), and an empty list of rows otherwise.
- ``transitions``: ``(run_id, day, from_grade, to_grade, agents)``, the grade changes.
- ``list_moves``: ``(run_id, day, agent, list, move)``, every entry onto and exit from
  a list with its cause, so ``run.explain(agent)`` works on a stored run.
- ``runs.batch``: the id of the first run of a replicate batch (``scsim run
  --replicates K``: seeds S..S+K-1); a run on its own is its own batch.

- ``runs.label`` (the user's words, ``scsim run --label``) and ``runs.overrides`` (the
  ``--set`` strings, a JSON list): what tells a built-in, an edited copy and a variant
  apart, with ``regime_hash``.

- ``scsim_meta``: ``schema_version``; a store written by another layout is refused
  with a clear error rather than misread. Older versions (1: before events,
  transitions and batches; 2: before labels) are upgraded in place, in one
  transaction, the first time they are opened for writing; opened read-only they are
  read as they are (no events, each run its own batch, no labels).

Only scsim's own stores are opened: an existing DuckDB file without ``scsim_meta`` is
refused before anything is written into it, and a file DuckDB cannot read (truncated,
failed checksum) is one clear error wherever it is found.

Run ids are ``YYYYmmdd-HHMMSS-<6 hex>`` (UTC, time of storing): they sort by time to
the second; runs stored within one second are in no particular order.

A run becomes visible only complete: everything is written in one transaction, so
readers see committed runs only and a failure midway leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from scsim.errors import ScsimError
from scsim.world import World

if TYPE_CHECKING:
    from scsim.engine.result import Run

SCHEMA_VERSION = 3
DEFAULT_PATH = "scsim.duckdb"

_DDL = """
CREATE TABLE IF NOT EXISTS scsim_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id VARCHAR PRIMARY KEY,
    regime VARCHAR NOT NULL,
    regime_hash VARCHAR NOT NULL,
    regime_yaml VARCHAR NOT NULL,
    params JSON NOT NULL,
    population BIGINT NOT NULL,
    days INTEGER NOT NULL,
    seed BIGINT NOT NULL,
    scsim_version VARCHAR NOT NULL,
    started VARCHAR NOT NULL,
    finished VARCHAR NOT NULL,
    seconds DOUBLE NOT NULL,
    status VARCHAR NOT NULL,
    layout JSON NOT NULL,
    agents_table VARCHAR,
    batch VARCHAR,
    label VARCHAR,
    overrides JSON
);
CREATE TABLE IF NOT EXISTS daily (
    run_id VARCHAR NOT NULL,
    day INTEGER NOT NULL,
    grp VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE
);
CREATE TABLE IF NOT EXISTS summary (
    run_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    kind VARCHAR NOT NULL CHECK (kind IN ('stock', 'flow'))
);
CREATE TABLE IF NOT EXISTS events (
    run_id VARCHAR NOT NULL,
    day_happened INTEGER NOT NULL,
    day_recorded INTEGER NOT NULL,
    doer BIGINT NOT NULL,
    agent BIGINT NOT NULL,
    behaviour VARCHAR NOT NULL,
    observer VARCHAR NOT NULL,
    "false" BOOLEAN NOT NULL,
    points DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS transitions (
    run_id VARCHAR NOT NULL,
    day INTEGER NOT NULL,
    from_grade VARCHAR NOT NULL,
    to_grade VARCHAR NOT NULL,
    agents BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS list_moves (
    run_id VARCHAR NOT NULL,
    day INTEGER NOT NULL,
    agent BIGINT NOT NULL,
    list VARCHAR NOT NULL,
    move VARCHAR NOT NULL
);
"""

# Upgrades, by the version they start from; each runs inside one transaction after
# ``_DDL`` (which creates the tables a version adds).
_MIGRATIONS = {
    "1": [
        "ALTER TABLE runs ADD COLUMN batch VARCHAR",
        "UPDATE runs SET batch = id",
    ],
    "2": [
        "ALTER TABLE runs ADD COLUMN label VARCHAR",
        "ALTER TABLE runs ADD COLUMN overrides JSON",
    ],
}

# The run's logs: long tables shared by every run, with how to insert a run's frame
# (Enum columns become their names) and the order an export lists them in. A run
# stored before a log existed has no entry for it in its layout: it loads as None.
_LOGS = {
    "events": (
        "SELECT {rid}, day_happened, day_recorded, doer, agent, CAST(behaviour AS VARCHAR), "
        'CAST(observer AS VARCHAR), "false", points FROM {{src}}',
        "day_recorded",
    ),
    "transitions": (
        "SELECT {rid}, day, CAST(from_grade AS VARCHAR), CAST(to_grade AS VARCHAR), agents "
        "FROM {{src}}",
        "day, from_grade, to_grade",
    ),
    "list_moves": (
        'SELECT {rid}, day, agent, CAST("list" AS VARCHAR), CAST(move AS VARCHAR) FROM {{src}}',
        "day, agent",
    ),
}

_RUNS_COLUMNS = [
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


def new_run_id(now: datetime | None = None) -> str:
    """A short id that sorts by the time the run was stored: ``YYYYmmdd-HHMMSS-<6 hex>``.

    The random tail keeps ids unique when several runs are stored in the same second.
    """
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _agents_table_name(run_id: str) -> str:
    return "agents_" + run_id.replace("-", "_")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _scsim_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scsim")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


def _dtype_spec(dtype: pl.DataType) -> Any:
    """A JSON form of a column's polars dtype, for what Arrow/DuckDB do not keep."""
    if isinstance(dtype, pl.Enum):
        return {"enum": dtype.categories.to_list()}
    return str(dtype)


def _dtype_from_spec(spec: Any) -> pl.DataType | None:
    """Back from :func:`_dtype_spec`; ``None`` when the plain name is not a dtype."""
    if isinstance(spec, dict):
        return pl.Enum(spec["enum"])
    dtype = getattr(pl, spec, None)
    if isinstance(dtype, type) and issubclass(dtype, pl.DataType):
        return dtype()
    return None


def _schema_spec(frame: pl.DataFrame) -> list[list[Any]]:
    return [[name, _dtype_spec(dtype)] for name, dtype in frame.schema.items()]


def _restore_dtypes(frame: pl.DataFrame, spec: list[list[Any]]) -> pl.DataFrame:
    """Cast columns back to the dtypes they had before the trip through DuckDB (an
    Enum comes back as a string, a count stored as DOUBLE as a float)."""
    casts = []
    for name, type_spec in spec:
        dtype = _dtype_from_spec(type_spec)
        if dtype is not None and frame.schema[name] != dtype:
            casts.append(pl.col(name).cast(dtype))
    return frame.with_columns(casts) if casts else frame


def _json_default(value: Any) -> Any:
    """Let ``params`` hold NumPy scalars and paths without the engine converting them."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class Store:
    """A DuckDB file of finished runs. Open it with :func:`open_store`.

    Use it as a context manager (or call :meth:`close`) so the file lock is released:
    DuckDB lets one process write a file at a time.
    """

    def __init__(
        self,
        path: Path,
        con: duckdb.DuckDBPyConnection,
        read_only: bool,
        version: int = SCHEMA_VERSION,
    ) -> None:
        self.path = path
        self.read_only = read_only
        self.version = version  # an old store opened read-only keeps its version
        self._con = con

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Release the file (and its lock)."""
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextlib.contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn DuckDB's file errors (a damaged file, a full disk, a file size limit)
        into one message that says what it means for the user's runs."""
        try:
            yield
        except duckdb.Error as e:
            if not _is_file_error(e):
                raise
            raise store_error(self.path, e, doing) from None
        except RuntimeError as e:  # Ctrl-C inside DuckDB: "Query interrupted"
            if "interrupted" not in str(e).lower():
                raise
            raise KeyboardInterrupt from None

    # -- writing ---------------------------------------------------------------------

    def save(
        self,
        run: Run,
        *,
        batch: str | None = None,
        label: str | None = None,
        overrides: list[str] | None = None,
    ) -> str:
        """Store ``run`` whole, in one transaction, and return (and set) its id.

        Either every table gets the run or none does: a failure at any point (or a
        KeyboardInterrupt) rolls the transaction back. ``batch`` is the id of a stored
        run this one replicates (the first of its batch); by default a run is its own.
        ``label`` and ``overrides`` (the ``--set`` strings) are kept to tell runs apart.
        """
        with self._guard("save the run"):
            return self._save(run, batch, label, overrides)

    def _save(
        self, run: Run, batch: str | None, label: str | None, overrides: list[str] | None
    ) -> str:
        if self.read_only:
            raise ScsimError(f"store {self.path} is open read-only; cannot save a run")
        if batch is not None:
            self._run_row(batch)  # a batch is named by a stored run
        run_id = new_run_id()
        while self._con.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchall():
            run_id = new_run_id()  # taken: 1 in 16M for two runs in one second

        daily_long, layout = _daily_long(run.daily)
        layout["summary"] = list(run.summary)
        layout["agents"] = _schema_spec(run.agents)
        logs = {name: _log_frame(run, name) for name in _LOGS}
        if hasattr(run, "world"):  # a world's logs: the operator goes into the names
            logs = {name: _prefix_operator(frame) for name, frame in logs.items()}
        for name, frame in logs.items():
            layout[name] = None if frame is None else _schema_spec(frame)
        summary = _summary_frame(run)
        has_agents = run.agents.width > 0
        agents_table = _agents_table_name(run_id) if has_agents else None
        row = {
            "layout": layout,
            "agents_table": agents_table,
            "batch": batch or run_id,
            "label": label,
            "overrides": list(overrides or []),
        }
        rid = _quote_literal(run_id)
        with _transaction(self._con):
            self._insert_run_row(run, run_id, row)
            self._insert_frame(
                "daily", daily_long, f"SELECT {rid}, day, grp, metric, value FROM {{src}}"
            )
            self._insert_frame(
                "summary", summary, f"SELECT {rid}, metric, value, kind FROM {{src}}"
            )
            if agents_table is not None:
                self._create_agents(agents_table, run_id, run.agents)
            for name, frame in logs.items():
                if frame is not None and frame.height:
                    self._insert_frame(name, frame, _LOGS[name][0].format(rid=rid))
        run.run_id = run_id
        return run_id

    def delete(self, run_ids: list[str]) -> int:
        """Remove the runs ``run_ids`` (every table of each), in one transaction, and
        return how many. Unknown ids are refused before anything is removed."""
        with self._guard("delete runs"):
            if self.read_only:
                raise ScsimError(f"store {self.path} is open read-only; cannot delete runs")
            tables = {run_id: self._run_row(run_id)["agents_table"] for run_id in run_ids}
            with _transaction(self._con):
                for run_id, agents_table in tables.items():
                    self._delete_one(run_id, agents_table)
            return len(tables)

    def delete_batch(self, batch: str) -> int:
        """Remove every run of replicate batch ``batch`` in one transaction; return how
        many (0 for an unknown batch)."""
        with self._guard("delete runs"):
            rows = self._con.execute("SELECT id FROM runs WHERE batch = ?", [batch]).fetchall()
        return self.delete([r[0] for r in rows]) if rows else 0

    def _delete_one(self, run_id: str, agents_table: str | None) -> None:
        for table in ("daily", "summary", *_LOGS):
            self._con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
        if agents_table:
            self._con.execute(f"DROP TABLE IF EXISTS {_quote_ident(agents_table)}")
        self._con.execute("DELETE FROM runs WHERE id = ?", [run_id])

    def compact(self) -> tuple[int, int]:
        """Rewrite the file without the space deleted runs left (DuckDB reuses freed
        blocks but never gives them back); return the file's size before and after.

        The copy is made next to the store and put in its place while this connection
        still holds the lock, so no other writer can slip in between.
        """
        with self._guard("compact the store"):
            self._con.execute("CHECKPOINT")
            before = self.path.stat().st_size
            tmp = self.path.with_name(f"{self.path.name}.compact-{secrets.token_hex(4)}")
            try:
                self._con.execute(f"ATTACH {_quote_literal(str(tmp))} AS _scsim_compact")
                db = self._con.execute("SELECT current_database()").fetchall()[0][0]
                self._con.execute(f"COPY FROM DATABASE {_quote_ident(db)} TO _scsim_compact")
                self._con.execute("DETACH _scsim_compact")
                tmp.replace(self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._con.close()
            self._con = _connect(self.path, read_only=False)
            return before, self.path.stat().st_size

    def _insert_run_row(self, run: Run, run_id: str, row: dict[str, Any]) -> None:
        regime = run.regime
        values = {
            "id": run_id,
            "regime": regime.name,
            "regime_hash": regime.content_hash(),
            "regime_yaml": regime.to_yaml(),
            "params": json.dumps(run.params, default=_json_default, sort_keys=True),
            "population": int(run.population),
            "days": int(run.days),
            "seed": int(run.seed),
            "scsim_version": _scsim_version(),
            "started": str(run.started),
            "finished": str(run.finished),
            "seconds": float(run.seconds),
            "status": "complete",
            "layout": json.dumps(row["layout"]),
            "agents_table": row["agents_table"],
            "batch": row["batch"],
            "label": row["label"],
            "overrides": json.dumps(row["overrides"]),
        }
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        self._con.execute(f"INSERT INTO runs ({names}) VALUES ({marks})", list(values.values()))

    def _insert_frame(self, table: str, frame: pl.DataFrame, select: str) -> None:
        """Bulk insert through Arrow (no Python loop over rows)."""
        src = f"_scsim_src_{table}"
        self._con.register(src, frame.to_arrow())
        try:
            self._con.execute(f"INSERT INTO {table} " + select.format(src=src))
        finally:
            self._con.unregister(src)

    def _create_agents(self, table: str, run_id: str, agents: pl.DataFrame) -> None:
        src = "_scsim_src_agents"
        self._con.register(src, agents.to_arrow())
        try:
            self._con.execute(
                f"CREATE TABLE {_quote_ident(table)} AS "
                f"SELECT {_quote_literal(run_id)} AS run_id, * FROM {src}"
            )
        finally:
            self._con.unregister(src)

    # -- reading ---------------------------------------------------------------------

    def runs(self) -> pl.DataFrame:
        """What the store holds, one row per run, oldest first.

        ``batch`` is the id of the first run of the run's replicate batch (its own id
        for a run made alone); ``label`` the user's label (or null), ``overrides`` the
        ``--set`` strings as a JSON list, ``regime_hash`` the resolved regime's hash.
        """
        cols = ", ".join(_RUNS_COLUMNS)
        if self.version < 2:
            cols = cols.replace("batch", "id AS batch")
        if self.version < 3:
            cols = cols.replace("label", "NULL::VARCHAR AS label")
            cols = cols.replace("overrides", "'[]'::JSON AS overrides")
        with self._guard("list the runs"):
            return self._con.sql(f"SELECT {cols} FROM runs ORDER BY id").pl()

    def batch_ids(self, run_id: str) -> list[str]:
        """The ids of the replicate batch ``run_id`` belongs to, by seed (the first run
        of the batch first); ``[run_id]`` for a run made alone."""
        with self._guard(f"read run {run_id}"):
            return self._batch_ids(run_id)

    def _batch_ids(self, run_id: str) -> list[str]:
        self._run_row(run_id)
        if self.version < 2:
            return [run_id]
        rows = self._con.execute(
            "SELECT id FROM runs WHERE batch = (SELECT batch FROM runs WHERE id = ?) "
            "ORDER BY seed, id",
            [run_id],
        ).fetchall()
        return [r[0] for r in rows]

    def load_batch(self, run_id: str) -> list[Run]:
        """Every run of ``run_id``'s replicate batch, by seed."""
        return [self.load(i) for i in self.batch_ids(run_id)]

    def _run_row(self, run_id: str) -> dict[str, Any]:
        cur = self._con.execute("SELECT * FROM runs WHERE id = ?", [run_id])
        rows = cur.fetchall()  # fetchall completes the result; DuckDB 2 wants that
        if not rows:
            listing = (
                "scsim runs"
                if self.path == Path(DEFAULT_PATH)
                else f"scsim runs --store {self.path}"
            )
            raise ScsimError(
                f"no run {run_id!r} in store {self.path}; see the stored runs with "
                f"`{listing}` (or `open_store(path).runs()`)"
            )
        return dict(zip([d[0] for d in cur.description], rows[0], strict=True))

    def load(self, run_id: str) -> Run:
        """The stored run, with its regime rebuilt from the stored resolved YAML."""
        with self._guard(f"read run {run_id}"):
            return self._load(run_id)

    def _load(self, run_id: str) -> Run:
        from scsim.engine.result import Run

        row = self._run_row(run_id)
        layout = json.loads(row["layout"])
        long = self._con.sql(
            "SELECT day, grp, metric, value FROM daily WHERE run_id = ?", params=[run_id]
        ).pl()
        daily = _daily_wide(long, layout)
        summary_rows = self._con.execute(
            "SELECT metric, value, kind FROM summary WHERE run_id = ?", [run_id]
        ).fetchall()
        summary = {m: (math.nan if v is None else float(v)) for m, v, _ in summary_rows}
        stocks = frozenset(m for m, _, kind in summary_rows if kind == "stock")
        order = layout.get("summary", list(summary))
        summary = {m: summary[m] for m in order if m in summary}
        if row["agents_table"]:
            agents = self._con.sql(
                f"SELECT * EXCLUDE (run_id) FROM {_quote_ident(row['agents_table'])}"
            ).pl()
            agents = _restore_dtypes(agents, layout["agents"])
        else:
            agents = pl.DataFrame()
        regime = _regime_from_yaml(row["regime_yaml"])
        if isinstance(regime, World):
            from scsim.engine.result import world_from_frames

            logs = {name: self._load_log(name, run_id, layout) for name in _LOGS}
            return world_from_frames(
                regime, row, daily, agents, summary, stocks, run_id,
                **{name: _split_operator(frame) for name, frame in logs.items()},
            )  # fmt: skip
        return Run(
            regime=regime,
            population=row["population"],
            days=row["days"],
            seed=row["seed"],
            daily=daily,
            agents=agents,
            summary=summary,
            stocks=stocks,
            seconds=row["seconds"],
            started=row["started"],
            finished=row["finished"],
            params=json.loads(row["params"]),
            run_id=run_id,
            **{name: self._load_log(name, run_id, layout) for name in _LOGS},
        )

    def _load_log(self, table: str, run_id: str, layout: dict[str, Any]) -> pl.DataFrame | None:
        """A run's rows of one log (``events`` ...), with the engine's dtypes back.

        DuckDB returns a plain filtered scan in insertion order, so rows come back in
        the engine's order without a sequence column.
        """
        spec = layout.get(table)
        if spec is None or self.version < 2:
            return None
        columns = ", ".join(_quote_ident(name) for name, _ in spec)
        frame = self._con.sql(
            f"SELECT {columns} FROM {table} WHERE run_id = ?", params=[run_id]
        ).pl()
        if frame.height == 0:
            return pl.DataFrame(
                [pl.Series(name, [], dtype=_dtype_from_spec(t) or pl.Float64) for name, t in spec]
            )
        return _restore_dtypes(frame, spec)

    def experiment(self, experiment_id: str) -> pl.DataFrame:
        """A sweep's runs as a tidy frame (``scsim.store.experiments.frame``)."""
        from scsim.store.experiments import frame

        return frame(self, experiment_id)

    def export_parquet(self, run_id: str, directory: str | Path) -> list[Path]:
        """Write the run's rows of each table to ``directory`` as Parquet files.

        Files ``<run id>.<table>.parquet``: ``runs`` (its one row), ``daily`` (the
        columns of ``run.daily``: ``day``, ``group`` and one per metric, after a
        ``run_id`` column), ``summary``, if the run has agent columns ``agents``, and if
        it kept them ``events``, ``transitions`` and ``list_moves`` (possibly with no
        rows). The run id in the name lets many runs share a directory, and each file
        carries its run id column, so ``pl.read_parquet("dir/*.daily.parquet")`` stacks
        them. DuckDB streams the large tables, so a run larger than memory exports too.
        """
        with self._guard(f"read run {run_id}"):
            row = self._run_row(run_id)
            out = Path(directory)
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ScsimError(f"cannot create export directory {out}: {e.strerror}") from e
            written = []
            for name, query in self._export_queries(run_id, row).items():
                path = out / f"{run_id}.{name}.parquet"
                try:
                    if name == "daily":
                        self._daily_export(run_id, row).write_parquet(path)
                    else:
                        target = _quote_literal(str(path))
                        self._con.execute(f"COPY ({query}) TO {target} (FORMAT parquet)")
                except (OSError, duckdb.IOException) as e:
                    raise _output_error(path, e) from None
                written.append(path)
            return written

    def _export_queries(self, run_id: str, row: dict[str, Any]) -> dict[str, str]:
        rid = _quote_literal(run_id)
        queries = {
            "runs": f"SELECT * FROM runs WHERE id = {rid}",
            "daily": "",  # wide, as run.daily: built by _daily_export
            "summary": f"SELECT * FROM summary WHERE run_id = {rid} ORDER BY metric",
        }
        if row["agents_table"]:
            queries["agents"] = f"SELECT * FROM {_quote_ident(row['agents_table'])}"
        layout = json.loads(row["layout"])
        if self.version >= 2:
            for table, (_, order) in _LOGS.items():
                if layout.get(table) is not None:
                    queries[table] = f"SELECT * FROM {table} WHERE run_id = {rid} ORDER BY {order}"
        return queries

    def _daily_export(self, run_id: str, row: dict[str, Any]) -> pl.DataFrame:
        """``run.daily`` as the engine made it, with the run id first (Enum columns as
        strings: Parquet readers without polars know no Enum)."""
        long = self._con.sql(
            "SELECT day, grp, metric, value FROM daily WHERE run_id = ?", params=[run_id]
        ).pl()
        wide = _daily_wide(long, json.loads(row["layout"]))
        enums = [c for c, t in wide.schema.items() if isinstance(t, pl.Enum | pl.Categorical)]
        return wide.with_columns([pl.col(c).cast(pl.String) for c in enums]).select(
            pl.lit(run_id).alias("run_id"), pl.all()
        )


_OUTPUT_REASONS = ("Permission denied", "No space left", "File too large", "Read-only file")


def _output_error(path: Path, e: BaseException) -> ScsimError:
    """A failed write of an export file: which file, and why in the system's words."""
    reason = getattr(e, "strerror", None) or next(
        (r for r in _OUTPUT_REASONS if r.lower() in str(e).lower()), str(e).splitlines()[0]
    )
    return ScsimError(f"cannot write {path}: {reason}")


def _daily_long(daily: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The engine's wide daily frame as long rows, and what it takes to rebuild it."""
    metrics = [c for c in daily.columns if c not in ("day", "group")]
    keys = [c for c in ("day", "group") if c in daily.columns]
    dup = daily.select(keys).filter(pl.struct(keys).is_duplicated())
    if dup.height:
        # Long form keys values by (day, group); two rows with one key cannot be told
        # apart. That breaks the Run contract, so it is a bug, not a user error.
        raise ValueError(
            f"run.daily has {dup.height} rows sharing a (day, group) key, first "
            f"{dup.row(0)}; the Run contract is one row per day and group"
        )
    layout: dict[str, Any] = {
        "daily": _schema_spec(daily),
        "groups": daily.get_column("group").cast(pl.String).unique(maintain_order=True).to_list()
        if "group" in daily.columns
        else [],
    }
    frame = daily.select(
        pl.col("day").cast(pl.Int32),
        (pl.col("group").cast(pl.String) if "group" in daily.columns else pl.lit("all")).alias(
            "grp"
        ),
        *(pl.col(m).cast(pl.Float64) for m in metrics),
    )
    long = frame.unpivot(
        index=["day", "grp"], on=metrics, variable_name="metric", value_name="value"
    )
    return long, layout


def _daily_wide(long: pl.DataFrame, layout: dict[str, Any]) -> pl.DataFrame:
    """Inverse of :func:`_daily_long`: same columns, order, dtypes and row order."""
    spec = layout["daily"]
    columns = [name for name, _ in spec]
    if long.height == 0:
        return pl.DataFrame(
            [pl.Series(name, [], dtype=_dtype_from_spec(t) or pl.Float64) for name, t in spec]
        )
    wide = long.pivot(on="metric", index=["day", "grp"], values="value")
    ranks = {g: i for i, g in enumerate(layout["groups"])}
    wide = (
        wide.with_columns(pl.col("grp").replace_strict(ranks, default=len(ranks)).alias("_rank"))
        .sort("day", "_rank")
        .drop("_rank")
        .rename({"grp": "group"})
    )
    return _restore_dtypes(wide.select(columns), spec)


def _log_frame(run: Run, name: str) -> pl.DataFrame | None:
    """``run.events``, ``run.transitions`` or ``run.list_moves``; ``None`` when the run
    did not keep it (or comes from an engine without it)."""
    frame = getattr(run, name, None)
    return frame if isinstance(frame, pl.DataFrame) else None


def _summary_frame(run: Run) -> pl.DataFrame:
    names = list(run.summary)
    return pl.DataFrame(
        {
            "metric": pl.Series(names, dtype=pl.String),
            "value": pl.Series([float(run.summary[n]) for n in names], dtype=pl.Float64),
            "kind": pl.Series(
                ["stock" if n in run.stocks else "flow" for n in names], dtype=pl.String
            ),
        }
    )


# Columns of a world's logs that name something of one operator: stored as
# "<operator>:<name>" in the shared tables, split again on loading.
_OPERATOR_COLUMNS = ("observer", "list", "from_grade", "to_grade")


def _prefix_operator(frame: pl.DataFrame | None) -> pl.DataFrame | None:
    if frame is None:
        return None
    op = pl.col("operator")
    named = [c for c in _OPERATOR_COLUMNS if c in frame.columns]
    return frame.with_columns(
        [pl.concat_str([op, pl.lit(":"), pl.col(c).cast(pl.String)]).alias(c) for c in named]
    ).drop("operator")


def _split_operator(frame: pl.DataFrame | None) -> pl.DataFrame | None:
    if frame is None:
        return None
    named = [c for c in _OPERATOR_COLUMNS if c in frame.columns]
    first = pl.col(named[0]).str.split_exact(":", 1)
    return frame.select(
        first.struct.field("field_0").alias("operator"),
        *[
            pl.col(c).str.split_exact(":", 1).struct.field("field_1").alias(c)
            if c in named
            else pl.col(c)
            for c in frame.columns
        ],
    )


def _regime_from_yaml(text: str) -> Any:
    """Rebuild a regime (or a world) from its stored resolved YAML through the
    public loader."""
    from scsim.world import load

    with tempfile.TemporaryDirectory(prefix="scsim-") as tmp:
        path = Path(tmp) / "regime.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load(str(path))
        except ScsimError as e:
            raise ScsimError(
                f"the stored regime no longer loads with this version of scsim: {e}"
            ) from e


class StoreBusy(ScsimError):
    """Another process holds the store's lock (DuckDB lets one process write)."""


# DuckDB's errors that mean the file, not scsim's SQL: a damaged or truncated file (an
# IO or plain ``Error`` such as "Corrupt database file"), a full disk, a size limit.
_FILE_ERRORS = (
    duckdb.IOException,
    duckdb.InternalException,
    duckdb.SerializationException,
    duckdb.FatalException,
)
_PLAIN_ERROR = duckdb.Error


# What a failed commit (a TransactionException) says when the file, not the SQL, failed.
_FILE_WORDS = ("could not write", "could not read", "file too large", "no space left",
               "permission denied", "corrupt")  # fmt: skip


def _is_file_error(e: BaseException) -> bool:
    if isinstance(e, _FILE_ERRORS) or type(e) is _PLAIN_ERROR:
        return True
    text = str(e).lower()
    return isinstance(e, duckdb.TransactionException) and any(w in text for w in _FILE_WORDS)


def store_error(path: Path, e: BaseException, doing: str) -> ScsimError:
    """One message for a DuckDB error on the store's file, naming the file and what the
    user's runs are left as. DuckDB's own lock message names a CLI flag scsim has
    not; it is replaced."""
    text = str(e)
    where = repr(str(path))
    lock = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", text)
    if "Could not set lock" in text:
        holder = f" (pid {lock.group(2)}, {lock.group(1)})" if lock else ""
        return StoreBusy(
            f"store {where} is in use by another process{holder}; DuckDB lets one process "
            "write a store at a time (readers too block a writer): close it, or pass "
            "another --store"
        )
    for reason in ("File too large", "No space left on device", "Permission denied"):
        if reason.lower() in text.lower() and doing.startswith(("save", "delete", "compact")):
            hint = " (a file size limit: see `ulimit -f`)" if reason == "File too large" else ""
            return ScsimError(
                f"could not {doing} in store {where}: {reason}{hint}. The store is as it "
                "was before (DuckDB rolled the change back); nothing was stored"
            )
    first = text.splitlines()[0] if text else type(e).__name__
    return ScsimError(
        f"store {where} is damaged or not a DuckDB file; could not {doing} "
        f"(DuckDB: {first}). Restore it from a copy, or pass another --store"
    )


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed whole or rolled back. Ctrl-C inside DuckDB surfaces
    as its "Query interrupted" error; it is a KeyboardInterrupt again here, and a
    rollback that finds the transaction already aborted is not a second error."""
    con.begin()
    try:
        yield
        con.commit()
    except BaseException as e:
        with contextlib.suppress(duckdb.Error, RuntimeError):
            con.rollback()
        if not isinstance(e, KeyboardInterrupt) and "interrupted" in str(e).lower():
            raise KeyboardInterrupt from None
        raise


def _connect(p: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection without DuckDB's progress bar (it would write a long save's
    progress into ``--json``'s stdout)."""
    try:
        con = duckdb.connect(str(p), read_only=read_only)
    except duckdb.Error as e:
        if not _is_file_error(e) and "lock" not in str(e):
            raise
        raise store_error(p, e, "open it") from None
    con.execute("SET enable_progress_bar = false")
    return con


def check_path(path: str | Path) -> Path:
    """The store path as a Path, refused early when no store can ever be made there."""
    p = Path(path)
    if not p.parent.is_dir():
        raise ScsimError(
            f"store path {str(p)!r}: directory {str(p.parent)!r} does not exist "
            "(create it first, or pass another --store)"
        )
    if p.is_dir():
        raise ScsimError(f"store path {str(p)!r} is a directory; pass a file path")
    return p


def check_store(path: str | Path) -> None:
    """Refuse, before any simulating, a store path that a run could not be saved to:
    a missing directory, a foreign or damaged DuckDB file, a newer schema. Creates
    nothing (a missing store is made when the first run is saved). A store busy with
    another process passes: saving waits for it."""
    p = check_path(path)
    if not p.exists():
        return
    try:
        open_store(p, read_only=True).close()
    except StoreBusy:
        pass


def open_store(path: str | Path = DEFAULT_PATH, *, read_only: bool = False) -> Store:
    """Open (creating if needed) the store at ``path``.

    ``read_only`` opens an existing store without taking the write lock, so several
    readers can look while nothing writes; a missing file is then an error rather than
    a new empty store. An existing file that is not an scsim store is refused before
    anything is written into it. Opened for writing, a store takes in the runs that
    waited in spool files next to it (:mod:`scsim.store.spool`).
    """
    p = check_path(path)
    if read_only and not p.exists():
        raise ScsimError(f"no store at {str(p)!r}; `scsim run` creates one")
    new = not p.exists()
    con = _connect(p, read_only)
    try:
        found = _prepare(con, p, read_only, new)
    except BaseException as e:
        con.close()
        if _is_file_error(e):
            raise store_error(p, e, "open it") from None
        raise
    store = Store(p, con, read_only, version=int(found))
    if not read_only:
        from scsim.store.spool import ingest_pending

        try:
            ingest_pending(store)
        except BaseException:
            store.close()
            raise
    return store


def _prepare(con: duckdb.DuckDBPyConnection, p: Path, read_only: bool, new: bool) -> str:
    """Check the file is an scsim store (creating one in a new file), upgrade an old
    one opened for writing, and return its schema version."""
    if new and not read_only:
        with _transaction(con):
            con.execute(_DDL)
            con.execute(
                "INSERT INTO scsim_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    if "scsim_meta" not in tables:
        listed = ", ".join(sorted(tables)[:5]) + (" ..." if len(tables) > 5 else "")
        holds = f"its tables: {listed}" if tables else "it has no tables"
        raise ScsimError(
            f"{str(p)!r} is a DuckDB file but not an scsim store ({holds}); scsim "
            "never writes into another program's database: pass another --store"
        )
    found = _schema_version(con)
    if not read_only and found in _MIGRATIONS:
        con.execute(_DDL)  # the tables a newer version adds
        _migrate(con, found)
        found = _schema_version(con)
    readable = {str(SCHEMA_VERSION), *_MIGRATIONS} if read_only else {str(SCHEMA_VERSION)}
    if found not in readable:
        raise ScsimError(
            f"store {str(p)!r} has schema version {found}, this scsim reads {SCHEMA_VERSION}"
        )
    return found


def _schema_version(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute("SELECT value FROM scsim_meta WHERE key = 'schema_version'").fetchall()
    return rows[0][0] if rows else None


def _migrate(con: duckdb.DuckDBPyConnection, found: str) -> None:
    """Upgrade a store from version ``found`` to ``SCHEMA_VERSION`` in one transaction."""
    with _transaction(con):
        version = found
        while version in _MIGRATIONS:
            for statement in _MIGRATIONS[version]:
                con.execute(statement)
            version = str(int(version) + 1)
        con.execute(
            "UPDATE scsim_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
        )


def remove_store_files(path: Path) -> None:
    """Delete a store file and its write-ahead log (a store scsim made and then found
    nothing to keep in)."""
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
