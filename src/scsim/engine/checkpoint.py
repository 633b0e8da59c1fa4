"""Checkpoints: the run state written to disk, and read back to resume bit for bit.

A run's state is everything that changes between days; the population and the
compiled regimes are rebuilt from the regime, the population size and the seed
(they are deterministic), and draws are counter-based, so no generator state is
saved. :data:`RUN_STATE` lists, per operator, every field that carries over from one
day to the next (the documented layout is in ``docs/internals.md``, "Run state");
:data:`WORLD_STATE` the world's own. Fields a day recomputes before reading them
(the day's events, tallies, buffers) are not saved.

On disk, ``DIR/day-NNNNNN/`` holds one ``.npy`` file per array, ``regime.yaml`` (the
resolved regime or world, so a checkpoint needs nothing else to resume) and
``manifest.json`` (scsim version, state-format version, regime hash, population,
seed, days done, the run's options, and a CRC-32 per file). A checkpoint is written
into a hidden temporary directory, every file fsynced, then renamed into place and
the directory fsynced; only then is the previous one removed. A kill at any moment
leaves the last good checkpoint whole.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from scsim.errors import ScsimError

#: Bump when the saved fields or their meaning change: older checkpoints are refused.
STATE_FORMAT = 1
#: The default interval: a checkpoint when this much wall-clock time has passed
#: since the last (writing costs a few seconds at 10M agents, well under 5% of it) ...
DEFAULT_SECONDS = 600.0
#: ... or, when a write takes longer than 1/20 of that (above about 100M agents),
#: this many times the last write's time, so writing never costs more than 5%.
COST_FACTOR = 20.0
MANIFEST = "manifest.json"
REGIME_FILE = "regime.yaml"
PREFIX = "day-"

#: Every field of one operator's day loop that carries over between days, by
#: attribute path: (path, how it is stored). ``array``: one array, restored in place
#: when its shape holds (``graph.indices`` is the population's own and is tombstoned
#: in place); ``state``: every array of ``engine.state.State``; ``parts``: a list of
#: tuples of arrays (the logs), saved column by column; ``stack``: a list of equal
#: arrays; ``due``: a dict day -> list of tuples of arrays (things arriving on a day),
#: ``events_due`` the same with ``Events`` (records held back by an observer's latency).
RUN_STATE: tuple[tuple[str, str], ...] = (
    ("state", "state"),
    ("rehab", "array"),
    ("transitions", "stack"),
    ("observe_stage.coverage", "array"),
    ("observe_stage.urn", "array"),
    ("observe_stage.waiting", "array"),
    ("observe_stage.waiting_since", "array"),
    ("observe_stage.pending", "events_due"),
    ("appeals.due", "due"),
    ("log.parts", "parts"),
    ("list_log.parts", "parts"),
    ("graph.indices", "array"),
    ("graph._live", "array"),
    ("graph.group_degree", "array"),
    ("graph.proc.gone", "array"),  # procedural ties dropped (a bit per friend slot)
    ("resp.perc", "array"),
    ("resp.stamp", "array"),
    ("resp.bots", "array"),
    ("resp.bots_by", "array"),
    ("resp.botted", "array"),
    ("resp.pglob", "array"),
    ("resp.gmult", "array"),
)


class CheckpointError(ScsimError):
    """A checkpoint that cannot be resumed (another version or regime, damaged)."""


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


def _set(obj: Any, path: str, value: Any) -> None:
    *head, last = path.split(".")
    for part in head:
        obj = getattr(obj, part)
    current = getattr(obj, last)
    if isinstance(current, np.ndarray) and current.shape == value.shape:
        np.copyto(current, value)  # shared arrays (graph.indices, State) stay shared
    else:
        # a copy of an array: the saved one is mapped read-only
        setattr(obj, last, np.array(value) if isinstance(value, np.ndarray) else value)


def loop_arrays(loop: Any) -> dict[str, np.ndarray]:
    """One operator's run state as named arrays (see :data:`RUN_STATE`)."""
    out: dict[str, np.ndarray] = {}
    for path, kind in RUN_STATE:
        value = _get(loop, path)
        if value is None:
            continue
        if kind == "state":
            for field, arr in value._asdict().items():
                if isinstance(arr, np.ndarray):
                    out[f"state.{field}"] = arr
        elif kind == "array":
            out[path] = value
        elif kind == "stack":
            out[path] = np.stack(value) if value else np.zeros(0)
        elif kind == "parts":
            out.update(_columns(path, value))
        else:
            out.update(_due_columns(path, value))
    return out


def restore_loop(loop: Any, arrays: dict[str, np.ndarray]) -> None:
    """Put a saved run state into a freshly built day loop of the same run."""
    for path, kind in RUN_STATE:
        holder = _get(loop, path.rsplit(".", 1)[0]) if "." in path else loop
        if holder is None:
            continue
        if kind == "state":
            for field, arr in loop.state._asdict().items():
                if isinstance(arr, np.ndarray):
                    np.copyto(arr, arrays[f"state.{field}"])
        elif kind == "array":
            if path in arrays:
                _set(loop, path, arrays[path])
        elif kind == "stack":
            _set(loop, path, list(np.array(arrays[path])))
        elif kind == "parts":
            cols = _from_columns(path, arrays)
            _set(loop, path, [tuple(np.array(c) for c in cols)] if cols and cols[0].size else [])
        else:
            _set(loop, path, _from_due(path, arrays, _events if kind == "events_due" else _tuple))


def _events(*cols: np.ndarray) -> Any:
    from scsim.observe.stage import Events

    return Events(*cols)


def _tuple(*cols: np.ndarray) -> tuple[np.ndarray, ...]:
    return cols


def _columns(path: str, parts: list[tuple[np.ndarray, ...]]) -> dict[str, np.ndarray]:
    if not parts:
        return {f"{path}.n": np.zeros(0)}
    cols = [np.concatenate(col) for col in zip(*parts, strict=True)]
    return {f"{path}.{i}": col for i, col in enumerate(cols)}


def _from_columns(path: str, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    cols = []
    while f"{path}.{len(cols)}" in arrays:
        cols.append(arrays[f"{path}.{len(cols)}"])
    return cols


def _due_columns(path: str, due: dict[int, list[tuple]]) -> dict[str, np.ndarray]:
    """A dict day -> parts as a day column plus the parts' columns, in day order."""
    days, parts = [], []
    for day in sorted(due):
        for part in due[day]:
            days.append(np.full(len(part[0]), day, dtype=np.int64))
            parts.append(tuple(part))
    out = _columns(path, parts)
    out[f"{path}.day"] = np.concatenate(days) if days else np.zeros(0, dtype=np.int64)
    return out


def _from_due(path: str, arrays: dict[str, np.ndarray], make: Any) -> dict[int, list]:
    cols = _from_columns(path, arrays)
    days = arrays[f"{path}.day"]
    out: dict[int, list] = {}
    for day in np.unique(days):
        sel = days == day
        out[int(day)] = [make(*(col[sel] for col in cols))]
    return out


def world_arrays(sim: Any) -> dict[str, np.ndarray]:
    """A world's run state: each operator's, prefixed by its name, and the inbox."""
    out: dict[str, np.ndarray] = {}
    for name in sim.order:
        for key, arr in loop_arrays(sim.loops[name]).items():
            out[f"{name}/{key}"] = arr
        out.update(_due_columns(f"{name}/inbox", sim.inbox[name]))
    return out


def restore_world(sim: Any, arrays: dict[str, np.ndarray]) -> None:
    """Put a saved world state into a freshly built world loop of the same run."""
    for name in sim.order:
        prefix = f"{name}/"
        mine = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        restore_loop(sim.loops[name], mine)
        sim.inbox[name] = _from_due("inbox", mine, _events)


# -- on disk -----------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes | np.ndarray) -> int:
    """Write, fsync, and return the CRC-32 of what was written."""
    with open(path, "wb") as f:
        if isinstance(data, np.ndarray):
            np.save(f, np.ascontiguousarray(data), allow_pickle=False)
        else:
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return _crc(path)


def _crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            crc = zlib.crc32(block, crc)
    return crc


def _file_name(key: str) -> str:
    return key.replace("/", "~") + ".npy"


def write(
    directory: Path, day: int, arrays: dict[str, np.ndarray], regime_yaml: str, meta: dict
) -> Path:
    """Write a checkpoint of the state after ``day`` days, atomically, then drop the
    older ones. Returns the new checkpoint's directory."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{PREFIX}{day:06d}"
    tmp = directory / f".tmp-{PREFIX}{day:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    files = {REGIME_FILE: _write_file(tmp / REGIME_FILE, regime_yaml.encode("utf-8"))}
    names = {}
    for key, arr in arrays.items():
        names[key] = _file_name(key)
        files[names[key]] = _write_file(tmp / names[key], arr)
    manifest = {**meta, "state_format": STATE_FORMAT, "day": day, "arrays": names, "crc32": files}
    _write_file(tmp / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
    _fsync_dir(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    _fsync_dir(directory)
    for old in directory.iterdir():
        if old != final and (old.name.startswith(PREFIX) or old.name.startswith(".tmp-")):
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest(directory: Path) -> Path | None:
    """The newest complete checkpoint in ``directory`` (None when there is none)."""
    if not directory.is_dir():
        return None
    found = sorted(p for p in directory.iterdir() if p.name.startswith(PREFIX) and p.is_dir())
    return found[-1] if found else None


def peek(directory: Path) -> dict:
    """The newest checkpoint's manifest, unverified (what ``resume`` will be asked)."""
    where = latest(directory)
    if where is None:
        raise CheckpointError(
            f"{directory}: no checkpoint here (allowed: a directory written by "
            "`scsim run ... --checkpoint DIR`)"
        )
    try:
        manifest = json.loads((where / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{where}: the manifest is missing or damaged ({e})") from None
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{where}: the manifest is damaged (not a JSON object)")
    return manifest


def clear(directory: Path) -> None:
    """Remove the checkpoints of a run that is finished and stored."""
    for old in directory.iterdir():
        if old.name.startswith(PREFIX) or old.name.startswith(".tmp-"):
            shutil.rmtree(old, ignore_errors=True)


def read(directory: Path) -> tuple[dict, Path, dict[str, np.ndarray]]:
    """The manifest, the regime's YAML file and the arrays of the newest checkpoint,
    verified: anything missing, damaged or from another scsim is one CheckpointError."""
    from scsim import __version__

    manifest = peek(directory)
    where = latest(directory)
    assert where is not None
    if manifest.get("state_format") != STATE_FORMAT or manifest.get("version") != __version__:
        raise CheckpointError(
            f"{where}: written by scsim {manifest.get('version')} (state format "
            f"{manifest.get('state_format')}); this is scsim {__version__} (state format "
            f"{STATE_FORMAT}): a checkpoint resumes only with the scsim that wrote it"
        )
    needed = {"regime_hash": str, "population": int, "days": int, "seed": int, "day": int,
              "arrays": dict, "crc32": dict}  # fmt: skip
    missing = [k for k, kind in needed.items() if not isinstance(manifest.get(k), kind)]
    if missing:
        raise CheckpointError(
            f"{where}: the manifest lacks {', '.join(missing)} (damaged; it cannot be resumed)"
        )
    for name, crc in manifest["crc32"].items():
        path = where / name
        if not path.is_file():
            raise CheckpointError(f"{path}: missing from the checkpoint (it cannot be resumed)")
        if _crc(path) != crc:
            raise CheckpointError(
                f"{path}: damaged (its checksum differs from the manifest's; it cannot be resumed)"
            )
    # Mapped, not read: restoring copies them into the rebuilt run, so a resume of
    # 290M agents does not hold its state twice.
    arrays = {
        key: np.load(where / name, mmap_mode="r", allow_pickle=False)
        for key, name in manifest["arrays"].items()
    }
    return manifest, where / REGIME_FILE, arrays


class Schedule:
    """When to write: every ``every`` days, or (by default) when ``seconds`` of wall
    clock, or :data:`COST_FACTOR` times the last write's time if that is longer, have
    passed since the last checkpoint (or the start)."""

    def __init__(self, every: int | None = None, seconds: float = DEFAULT_SECONDS) -> None:
        self.every, self.gap = every, seconds
        self.seconds = seconds
        self.last = time.monotonic()

    def due(self, day: int) -> bool:
        """Whether to write after ``day`` days."""
        if self.every is not None:
            return day % self.every == 0
        return time.monotonic() - self.last >= self.gap

    def written(self, took: float) -> None:
        """A checkpoint was written, in ``took`` seconds."""
        self.last = time.monotonic()
        self.gap = max(self.seconds, COST_FACTOR * took)
