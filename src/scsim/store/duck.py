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

- ``scsim_meta``: ``schema_version``; a store written by another layout is refused
  with a clear error rather than misread. Version 1 (before events, transitions and
  batches) is upgraded in place, in one transaction, the first time it is opened for
  writing; opened read-only it is read as it is (no events, each run its own batch).

Run ids are ``YYYYmmdd-HHMMSS-<6 hex>`` (UTC, time of storing): they sort by time to
the second; runs stored within one second are in no particular order.

A run becomes visible only complete: everything is written in one transaction, so
readers see committed runs only and a failure midway leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from scsim.errors import ScsimError
from scsim.world import World

if TYPE_CHECKING:
    from scsim.engine.result import Run

SCHEMA_VERSION = 2
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
    batch VARCHAR
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

    # -- writing ---------------------------------------------------------------------

    def save(self, run: Run, *, batch: str | None = None, run_id: str | None = None) -> str:
        """Store ``run`` whole, in one transaction, and return (and set) its id.

        Either every table gets the run or none does: a failure at any point (or a
        KeyboardInterrupt) rolls the transaction back. ``batch`` is the id of a stored
        run this one replicates (the first of its batch); by default a run is its own.
        ``run_id``: the id to store it under, chosen before the run (a checkpointed run
        chooses it when it starts, so that a resume after a kill stores it once).
        """
        if self.read_only:
            raise ScsimError(f"store {self.path} is open read-only; cannot save a run")
        if batch is not None:
            self._run_row(batch)  # a batch is named by a stored run
        if run_id is not None and self.has_run(run_id):
            raise ScsimError(f"store {self.path} already holds a run {run_id!r}")
        while run_id is None or self.has_run(run_id):
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

        con = self._con
        con.begin()
        try:
            self._insert_run_row(run, run_id, layout, agents_table, batch or run_id)
            self._insert_frame(
                "daily",
                daily_long,
                f"SELECT {_quote_literal(run_id)}, day, grp, metric, value FROM {{src}}",
            )
            self._insert_frame(
                "summary",
                summary,
                f"SELECT {_quote_literal(run_id)}, metric, value, kind FROM {{src}}",
            )
            if agents_table is not None:
                self._create_agents(agents_table, run_id, run.agents)
            rid = _quote_literal(run_id)
            for name, frame in logs.items():
                if frame is not None and frame.height:
                    self._insert_frame(name, frame, _LOGS[name][0].format(rid=rid))
            con.commit()
        except BaseException:
            con.rollback()
            raise
        run.run_id = run_id
        return run_id

    def has_run(self, run_id: str) -> bool:
        """Whether a run of this id is stored (whole: a run is saved in one transaction)."""
        return bool(self._con.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchall())

    def delete_batch(self, batch: str) -> int:
        """Remove every run of replicate batch ``batch``, in one transaction; return how
        many. ``scsim run --replicates`` uses it so an interrupted batch leaves nothing
        behind, as an interrupted single run does."""
        if self.read_only:
            raise ScsimError(f"store {self.path} is open read-only; cannot delete runs")
        con = self._con
        rows = con.execute("SELECT id, agents_table FROM runs WHERE batch = ?", [batch]).fetchall()
        if not rows:
            return 0
        con.begin()
        try:
            for run_id, agents_table in rows:
                for table in ("daily", "summary", *_LOGS):
                    con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
                if agents_table:
                    con.execute(f"DROP TABLE IF EXISTS {_quote_ident(agents_table)}")
            con.execute("DELETE FROM runs WHERE batch = ?", [batch])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return len(rows)

    def _insert_run_row(
        self,
        run: Run,
        run_id: str,
        layout: dict[str, Any],
        agents_table: str | None,
        batch: str,
    ) -> None:
        regime = run.regime
        self._con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                regime.name,
                regime.content_hash(),
                regime.to_yaml(),
                json.dumps(run.params, default=_json_default, sort_keys=True),
                int(run.population),
                int(run.days),
                int(run.seed),
                _scsim_version(),
                str(run.started),
                str(run.finished),
                float(run.seconds),
                "complete",
                json.dumps(layout),
                agents_table,
                batch,
            ],
        )

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
        for a run made alone).
        """
        cols = ", ".join(_RUNS_COLUMNS)
        if self.version < 2:
            cols = cols.replace("batch", "id AS batch")
        return self._con.sql(f"SELECT {cols} FROM runs ORDER BY id").pl()

    def batch_ids(self, run_id: str) -> list[str]:
        """The ids of the replicate batch ``run_id`` belongs to, by seed (the first run
        of the batch first); ``[run_id]`` for a run made alone."""
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

    def export_parquet(self, run_id: str, directory: str | Path) -> list[Path]:
        """Write the run's rows of each table to ``directory`` as Parquet files.

        Files ``<run id>.<table>.parquet``: ``runs`` (its one row), ``daily`` (long form,
        as stored), ``summary``, if the run has agent columns ``agents``, and if it
        kept them ``events``, ``transitions`` and ``list_moves`` (possibly with no rows).
        The run id in the name lets many runs share a directory, and each file carries
        its run id column, so ``pl.read_parquet("dir/*.daily.parquet")`` stacks them.
        DuckDB streams them, so a run larger than memory exports too.
        """
        row = self._run_row(run_id)
        out = Path(directory)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ScsimError(f"cannot create export directory {out}: {e.strerror}") from e
        rid = _quote_literal(run_id)
        queries = {
            "runs": f"SELECT * FROM runs WHERE id = {rid}",
            "daily": f"SELECT * FROM daily WHERE run_id = {rid} ORDER BY day, grp, metric",
            "summary": f"SELECT * FROM summary WHERE run_id = {rid} ORDER BY metric",
        }
        if row["agents_table"]:
            queries["agents"] = f"SELECT * FROM {_quote_ident(row['agents_table'])}"
        layout = json.loads(row["layout"])
        if self.version >= 2:
            for table, (_, order) in _LOGS.items():
                if layout.get(table) is not None:
                    queries[table] = f"SELECT * FROM {table} WHERE run_id = {rid} ORDER BY {order}"
        written = []
        for name, query in queries.items():
            path = out / f"{run_id}.{name}.parquet"
            self._con.execute(f"COPY ({query}) TO {_quote_literal(str(path))} (FORMAT parquet)")
            written.append(path)
        return written


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


def open_store(path: str | Path = DEFAULT_PATH, *, read_only: bool = False) -> Store:
    """Open (creating if needed) the store at ``path``.

    ``read_only`` opens an existing store without taking the write lock, so several
    readers can look while nothing writes; a missing file is then an error rather than
    a new empty store.
    """
    p = Path(path)
    if not p.parent.is_dir():
        raise ScsimError(
            f"store path {str(p)!r}: directory {str(p.parent)!r} does not exist "
            "(create it first, or pass another --store)"
        )
    if p.is_dir():
        raise ScsimError(f"store path {str(p)!r} is a directory; pass a file path")
    if read_only and not p.exists():
        raise ScsimError(f"no store at {str(p)!r}; `scsim run` creates one")
    try:
        con = duckdb.connect(str(p), read_only=read_only)
    except (duckdb.IOException, duckdb.Error) as e:
        raise ScsimError(f"cannot open store {str(p)!r}: {e}") from e
    try:
        if not read_only:
            con.execute(_DDL)
            con.execute(
                "INSERT INTO scsim_meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                [str(SCHEMA_VERSION)],
            )
        found = _schema_version(con)
        if not read_only and found in _MIGRATIONS:
            _migrate(con, found)
            found = _schema_version(con)
    except duckdb.CatalogException as e:
        con.close()
        raise ScsimError(f"{str(p)!r} is a DuckDB file but not an scsim store") from e
    except BaseException:
        con.close()
        raise
    readable = {str(SCHEMA_VERSION), *_MIGRATIONS} if read_only else {str(SCHEMA_VERSION)}
    if found not in readable:
        con.close()
        raise ScsimError(
            f"store {str(p)!r} has schema version {found}, this scsim reads {SCHEMA_VERSION}"
        )
    return Store(p, con, read_only, version=int(found))


def _schema_version(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute("SELECT value FROM scsim_meta WHERE key = 'schema_version'").fetchall()
    return rows[0][0] if rows else None


def _migrate(con: duckdb.DuckDBPyConnection, found: str) -> None:
    """Upgrade a store from version ``found`` to ``SCHEMA_VERSION`` in one transaction."""
    con.begin()
    try:
        version = found
        while version in _MIGRATIONS:
            for statement in _MIGRATIONS[version]:
                con.execute(statement)
            version = str(int(version) + 1)
        con.execute(
            "UPDATE scsim_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
