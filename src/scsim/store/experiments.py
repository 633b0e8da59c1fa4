"""The store's experiment tables: what a sweep ran and what each run gave.

- ``experiments``: one row per experiment: its id, the file it came from, the
  resolved experiment and regime, the design's columns and points (JSON), the scsim
  version and the engine's fingerprint. ``content`` hashes the resolved file alone,
  so a second version of scsim running the same file is recognised (and refused a
  resume: its numbers could differ).
- ``sweep_runs``: one row per (experiment, point, replicate), written by the driver
  as each run lands, in its own transaction: an interrupted sweep leaves whole rows
  only, and the missing pairs are exactly what a resume runs. ``status`` is ``ok``
  (``metrics``: a JSON object, metric -> value, null for undefined) or ``failed``
  (``message`` says why).
- ``sweep_daily``: each run's daily frame, long form as the ``daily`` table, only for
  experiments that ask for it (``keep_daily``).

These tables are created on first use (``CREATE TABLE IF NOT EXISTS``): a store that
never ran a sweep has none, and older scsim versions ignore them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from scsim.errors import ScsimError

if TYPE_CHECKING:
    from scsim.experiment.load import Plan
    from scsim.store.duck import Store

DDL = """
CREATE TABLE IF NOT EXISTS experiments (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    spec JSON NOT NULL,
    regime_yaml VARCHAR NOT NULL,
    columns JSON NOT NULL,
    design JSON NOT NULL,
    points BIGINT NOT NULL,
    replicates INTEGER NOT NULL,
    scsim_version VARCHAR NOT NULL,
    engine VARCHAR NOT NULL,
    created VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_runs (
    experiment VARCHAR NOT NULL,
    point BIGINT NOT NULL,
    replicate INTEGER NOT NULL,
    seed BIGINT NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
    message VARCHAR,
    metrics JSON NOT NULL,
    seconds DOUBLE NOT NULL,
    engine_seconds DOUBLE,
    worker BIGINT,
    finished VARCHAR NOT NULL,
    PRIMARY KEY (experiment, point, replicate)
);
CREATE TABLE IF NOT EXISTS sweep_daily (
    experiment VARCHAR NOT NULL,
    point BIGINT NOT NULL,
    replicate INTEGER NOT NULL,
    day INTEGER NOT NULL,
    grp VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE
);
"""


def register(store: Store, plan: Plan, resume: bool) -> None:
    """Record the experiment (creating the tables on first use), or find it again.
    ``resume`` insists that it exists and was started by this scsim and engine."""
    con = store._con
    con.execute(DDL)
    if con.execute("SELECT 1 FROM experiments WHERE id = ?", [plan.id]).fetchall():
        return
    other = con.execute(
        "SELECT id, scsim_version, engine FROM experiments WHERE content = ? "
        "ORDER BY created DESC LIMIT 1",
        [plan.content],
    ).fetchall()
    if resume:
        if other:
            eid, version, engine = other[0]
            raise ScsimError(
                f"{plan.where}: experiment {eid} was run by scsim {version} (engine {engine}); "
                f"this is scsim {plan.version} (engine {plan.engine}), whose numbers may "
                "differ, so it cannot resume it (allowed: run without --resume to start "
                "the experiment afresh under this version)"
            )
        raise ScsimError(
            f"{plan.where}: nothing to resume: the store has no run of this experiment "
            "(allowed: run it without --resume)"
        )
    spec = plan.spec.model_dump(mode="json")
    con.execute(
        "INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            plan.id, plan.name, plan.where, plan.content, json.dumps(spec), plan.base.to_yaml(),
            json.dumps(plan.columns), json.dumps(plan.points), len(plan.points),
            plan.spec.replicates, plan.version, plan.engine,
            datetime.now(UTC).isoformat(timespec="seconds"),
        ],
    )  # fmt: skip


def done(store: Store, experiment: str) -> set[tuple[int, int]]:
    """The (point, replicate) pairs already stored, failed ones included."""
    rows = store._con.execute(
        "SELECT point, replicate FROM sweep_runs WHERE experiment = ?", [experiment]
    ).fetchall()
    return {(int(p), int(r)) for p, r in rows}


def write(store: Store, experiment: str, result: dict[str, Any]) -> None:
    """One run's row (and daily frame), in one transaction."""
    con = store._con
    metrics = {k: (v if v == v and abs(v) != float("inf") else None)
               for k, v in result["metrics"].items()}  # fmt: skip
    con.begin()
    try:
        con.execute(
            "INSERT INTO sweep_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                experiment, result["point"], result["replicate"], result["seed"],
                result["status"], result["message"], json.dumps(metrics), result["seconds"],
                result["engine_seconds"], result["worker"],
                datetime.now(UTC).isoformat(timespec="seconds"),
            ],
        )  # fmt: skip
        daily = result.get("daily")
        if daily is not None:
            long = daily.unpivot(index=["day", "group"], variable_name="metric")
            frame = long.rename({"group": "grp"}).with_columns(
                experiment=pl.lit(experiment),
                point=pl.lit(result["point"]),
                replicate=pl.lit(result["replicate"]),
            )
            con.register("scsim_sweep_daily", frame.select(
                "experiment", "point", "replicate", "day", "grp", "metric", "value"))  # fmt: skip
            con.execute("INSERT INTO sweep_daily SELECT * FROM scsim_sweep_daily")
            con.unregister("scsim_sweep_daily")
        con.commit()
    except BaseException:
        con.rollback()
        raise


def info(store: Store, experiment: str) -> dict[str, Any]:
    """The experiment's row, with its JSON columns parsed."""
    con = store._con
    if not _has_tables(con):
        raise ScsimError(f"no experiment {experiment!r} in this store: it has run no sweep")
    cur = con.execute("SELECT * FROM experiments WHERE id = ?", [experiment])
    row = cur.fetchone()
    if row is None:
        ids = [r[0] for r in con.execute("SELECT id FROM experiments ORDER BY created").fetchall()]
        raise ScsimError(
            f"no experiment {experiment!r} in this store (allowed: {', '.join(ids) or 'none'})"
        )
    out = dict(zip([d[0] for d in cur.description], row, strict=True))
    for key in ("spec", "columns", "design"):
        out[key] = json.loads(out[key])
    return out


def listing(store: Store) -> list[dict[str, Any]]:
    """The stored experiments, oldest first: id, name, regime, design, points,
    replicates, runs, done (ok), failed and when created."""
    if not _has_tables(store._con):
        return []
    rows = store._con.execute(
        "SELECT e.id, e.name, e.spec, e.points, e.replicates, e.created, "
        "count(*) FILTER (WHERE r.status = 'ok'), count(*) FILTER (WHERE r.status = 'failed') "
        "FROM experiments e LEFT JOIN sweep_runs r ON r.experiment = e.id "
        "GROUP BY ALL ORDER BY e.created, e.id"
    ).fetchall()
    out = []
    for eid, name, spec, points, replicates, created, done_, failed in rows:
        spec = json.loads(spec)
        out.append({"id": eid, "name": name, "regime": spec["regime"],
                    "design": spec["design"]["kind"], "points": points,
                    "replicates": replicates, "runs": points * replicates,
                    "done": done_, "failed": failed, "created": created})  # fmt: skip
    return out


def is_experiment(store: Store, name: str) -> bool:
    """Whether ``name`` is an experiment's id in the store."""
    con = store._con
    return _has_tables(con) and bool(
        con.execute("SELECT 1 FROM experiments WHERE id = ?", [name]).fetchall()
    )


def _has_tables(con: Any) -> bool:
    return bool(
        con.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_name = 'experiments'"
        ).fetchall()
    )


def frame(store: Store, experiment: str) -> pl.DataFrame:
    """The experiment as a tidy frame: one row per stored run (point, replicate, seed,
    status, message), one column per parameter, then one per metric."""
    meta = info(store, experiment)
    rows = store._con.execute(
        "SELECT point, replicate, seed, status, message, metrics FROM sweep_runs "
        "WHERE experiment = ? ORDER BY point, replicate",
        [experiment],
    ).fetchall()
    runs = pl.DataFrame(
        [r[:5] for r in rows],
        schema={"point": pl.Int64, "replicate": pl.Int64, "seed": pl.Int64,
                "status": pl.String, "message": pl.String},
        orient="row",
    )  # fmt: skip
    parsed = [json.loads(r[5]) for r in rows]
    names = list(dict.fromkeys(k for m in parsed for k in m))
    metrics = pl.DataFrame(
        {k: [m.get(k) for m in parsed] for k in names}, schema={k: pl.Float64 for k in names}
    )
    params = pl.DataFrame(
        {c: [meta["design"][p][j] for p in runs["point"]] for j, c in enumerate(meta["columns"])},
        strict=False,
    )
    return pl.concat([runs, params, metrics], how="horizontal")
