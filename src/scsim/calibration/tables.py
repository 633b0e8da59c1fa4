"""The store's calibration tables: the history that lets a calibration resume.

- ``calibrations``: one row per calibration: its id, file, resolved targets and
  regime, scsim version and engine fingerprint.
- ``calibration_waves``: each wave's unit design points (JSON) as drawn, and the
  share of the prior the earlier waves had not ruled out. A wave's points are stored
  before its first run, so a resumed calibration runs the same points.
- ``calibration_runs``: one row per (wave, point, replicate), written as each run
  lands, in its own transaction: its seed, status, and each figure's simulated value
  (targets and validation figures, JSON).

Created on first use (``CREATE TABLE IF NOT EXISTS``), outside the run tables' schema.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scsim.errors import ScsimError

if TYPE_CHECKING:
    from scsim.calibration.load import Calibration
    from scsim.store.duck import Store

DDL = """
CREATE TABLE IF NOT EXISTS calibrations (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    spec JSON NOT NULL,
    regime_yaml VARCHAR NOT NULL,
    scsim_version VARCHAR NOT NULL,
    engine VARCHAR NOT NULL,
    created VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS calibration_waves (
    calibration VARCHAR NOT NULL,
    wave INTEGER NOT NULL,
    points JSON NOT NULL,
    share DOUBLE NOT NULL,
    PRIMARY KEY (calibration, wave)
);
CREATE TABLE IF NOT EXISTS calibration_runs (
    calibration VARCHAR NOT NULL,
    wave INTEGER NOT NULL,
    point BIGINT NOT NULL,
    replicate INTEGER NOT NULL,
    seed BIGINT NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
    message VARCHAR,
    figures JSON NOT NULL,
    seconds DOUBLE NOT NULL,
    finished VARCHAR NOT NULL,
    PRIMARY KEY (calibration, wave, point, replicate)
);
"""


def register(store: Store, cal: Calibration, resume: bool) -> None:
    """Record the calibration, or find it again; ``resume`` insists it exists."""
    con = store._con
    con.execute(DDL)
    if con.execute("SELECT 1 FROM calibrations WHERE id = ?", [cal.id]).fetchall():
        return
    if resume:
        raise ScsimError(
            f"{cal.where}: nothing to resume: the store has no calibration {cal.id} (a "
            "changed file, regime or scsim version starts afresh; allowed: run it "
            "without --resume)"
        )
    con.execute(
        "INSERT INTO calibrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            cal.id, cal.name, cal.where, cal.content,
            json.dumps(cal.spec.model_dump(mode="json")), cal.base.to_yaml(),
            cal.version, cal.engine, datetime.now(UTC).isoformat(timespec="seconds"),
        ],
    )  # fmt: skip


def wave(store: Store, cal: Calibration, w: int) -> tuple[list[list[float]], float] | None:
    """A stored wave's unit points and share, or None."""
    rows = store._con.execute(
        "SELECT points, share FROM calibration_waves WHERE calibration = ? AND wave = ?",
        [cal.id, w],
    ).fetchall()
    return (json.loads(rows[0][0]), float(rows[0][1])) if rows else None


def add_wave(store: Store, cal: Calibration, w: int, points: list[list[float]], share: float):
    store._con.execute(
        "INSERT INTO calibration_waves VALUES (?, ?, ?, ?)",
        [cal.id, w, json.dumps(points), share],
    )


def runs(store: Store, cal: Calibration, w: int) -> dict[tuple[int, int], dict[str, Any] | None]:
    """A wave's stored runs: (point, replicate) -> figures (None if it failed)."""
    rows = store._con.execute(
        "SELECT point, replicate, status, figures FROM calibration_runs "
        "WHERE calibration = ? AND wave = ?",
        [cal.id, w],
    ).fetchall()
    return {(int(p), int(r)): (json.loads(f) if s == "ok" else None) for p, r, s, f in rows}


def write(store: Store, cal: Calibration, w: int, result: dict[str, Any]) -> None:
    store._con.execute(
        "INSERT INTO calibration_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            cal.id, w, result["point"], result["replicate"], result["seed"], result["status"],
            result["message"], json.dumps(result.get("figures", {})), result["seconds"],
            datetime.now(UTC).isoformat(timespec="seconds"),
        ],
    )  # fmt: skip
