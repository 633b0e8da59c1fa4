"""Runs that land in the store whole, even when the store is busy.

DuckDB lets one process write a file at a time, and a reader that is not read-only
(a notebook, ``duckdb scsim.duckdb``) holds the lock too. A run that took hours must
not be thrown away because someone is looking at the store when it finishes, and a
replicate batch must not be left half-stored by a kill between two of its runs. So:

- The runs of a batch are saved one by one into a *spool*: a private scsim store
  next to the real one, ``<store>.partial-<pid>-<hex>.duckdb``, that nobody else
  opens. A kill leaves only that file, which is never read as a result (a later
  write removes it once its process is gone).
- When the batch is complete, the spool is renamed ``<store>.pending-<run id>.duckdb``
  (a rename is atomic) and the store is opened for writing, waiting a bounded time
  for its lock; opening it for writing takes in every pending spool, each in one
  transaction, and deletes it. If the lock is still held when the wait is over, the
  runs stay in the pending file, safe, and the next write (``scsim runs`` tries one)
  takes them in.

A single run is saved straight into the store (one transaction already makes it
whole); it goes through a spool only when the store stays busy or cannot take it
(damaged, say): the pending file is an scsim store itself (``scsim runs --store``
reads it) and joins the store once the store can be written again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from scsim.errors import ScsimError
from scsim.store.duck import (
    Store,
    StoreBusy,
    _quote_ident,
    _quote_literal,
    _transaction,
    open_store,
    remove_store_files,
)

if TYPE_CHECKING:
    from scsim.engine.result import Run

#: How long a finished run waits for a busy store before it is spooled (seconds);
#: the environment variable ``SCSIM_STORE_WAIT`` changes it.
DEFAULT_WAIT = 120.0
_LOG_TABLES = ("daily", "summary", "events", "transitions", "list_moves")


def store_wait() -> float:
    """The bounded wait for a busy store, from ``SCSIM_STORE_WAIT`` or the default."""
    text = os.environ.get("SCSIM_STORE_WAIT")
    try:
        return max(0.0, float(text)) if text else DEFAULT_WAIT
    except ValueError:
        raise ScsimError(
            f"SCSIM_STORE_WAIT={text!r}: expected seconds to wait for a busy store, e.g. 60"
        ) from None


def pending(path: Path) -> list[Path]:
    """The spool files of finished runs waiting to be taken into the store at ``path``."""
    return sorted(path.parent.glob(f"{glob_escape(path.name)}.pending-*.duckdb"))


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def open_waiting(path: Path, wait: float, on_wait=None) -> Store:
    """Open the store for writing, retrying while another process holds it, for at
    most ``wait`` seconds; ``on_wait(message)`` is told once that we are waiting."""
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            return open_store(path)
        except StoreBusy as e:
            if time.monotonic() >= deadline:
                raise
            if on_wait is not None and not told:
                on_wait(f"{e}; waiting up to {wait:.0f} s for it")
                told = True
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def ingest_pending(store: Store) -> list[str]:
    """Take every pending spool next to ``store`` into it, each in one transaction,
    then delete the spool; return the run ids taken in. Also removes partial spools
    whose process is gone (a batch killed midway: its runs are not results)."""
    _remove_orphans(store.path)
    ids: list[str] = []
    for spool in pending(store.path):
        ids += _ingest(store, spool)
        remove_store_files(spool)
    return ids


def _ingest(store: Store, spool: Path) -> list[str]:
    con = store._con
    alias = "_scsim_spool"
    try:
        con.execute(f"ATTACH {_quote_literal(str(spool))} AS {alias} (READ_ONLY)")
    except duckdb.Error as e:
        raise ScsimError(
            f"runs waiting in {str(spool)!r} cannot be read ({str(e).splitlines()[0]}); "
            "move that file away to use the store"
        ) from None
    try:
        rows = con.execute(
            f"SELECT id, agents_table FROM {alias}.runs "
            "WHERE id NOT IN (SELECT id FROM main.runs) ORDER BY id"
        ).fetchall()
        new = _quote_literal_list([run_id for run_id, _ in rows])
        with _transaction(con):
            columns = ", ".join(
                _quote_ident(r[0]) for r in con.execute(f"DESCRIBE {alias}.runs").fetchall()
            )
            con.execute(
                f"INSERT INTO main.runs ({columns}) SELECT {columns} FROM {alias}.runs "
                f"WHERE id IN {new}"
            )
            for table in _LOG_TABLES:
                con.execute(
                    f"INSERT INTO main.{table} SELECT * FROM {alias}.{table} WHERE run_id IN {new}"
                )
            for _, agents in rows:
                if agents:
                    name = _quote_ident(agents)
                    con.execute(f"CREATE TABLE main.{name} AS SELECT * FROM {alias}.{name}")
    finally:
        con.execute(f"DETACH {alias}")
    return [run_id for run_id, _ in rows]


def _quote_literal_list(values: list[str]) -> str:
    return "(" + ", ".join(_quote_literal(v) for v in values) + ")" if values else "(NULL)"


def _remove_orphans(path: Path) -> None:
    for spool in path.parent.glob(f"{glob_escape(path.name)}.partial-*.duckdb"):
        pid = spool.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            remove_store_files(spool)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lander:
    """Store the runs of one command (one run, or a replicate batch) whole or not at
    all, waiting for a busy store and spooling the runs when it stays busy.

    ``add`` each run as it finishes, then ``land``; ``discard`` on failure or
    interruption (nothing of the batch is left, and a store file this command created
    is removed again if it holds no runs).
    """

    def __init__(
        self,
        path: Path,
        *,
        replicates: int,
        label: str | None = None,
        overrides: list[str] | None = None,
    ) -> None:
        self.path = path
        self.replicates = replicates
        self.meta = {"label": label, "overrides": overrides}
        self.ids: list[str] = []
        self._held: Run | None = None
        self._spool: Store | None = None
        self._spool_path = path.with_name(
            f"{path.name}.partial-{os.getpid()}-{secrets.token_hex(3)}.duckdb"
        )
        self._existed = path.exists()
        self._ready: Path | None = None

    def add(self, run: Run) -> None:
        """Keep a finished run: in memory when it is the only one, else in the spool."""
        if self.replicates == 1:
            self._held = run
            return
        if self._spool is None:
            self._spool = open_store(self._spool_path)
        batch = self.ids[0] if self.ids else None
        self.ids.append(self._spool.save(run, batch=batch, **self.meta))

    def land(self, wait: float, on_wait=None) -> tuple[Path | None, ScsimError | None]:
        """Put the runs into the store. Returns ``(None, None)`` when they are in it;
        else the pending spool file that keeps them and, unless the store was only
        busy, the error that kept them out (a damaged store, say): a finished run is
        never thrown away while it can be written somewhere."""
        if self._held is not None:
            try:
                with open_waiting(self.path, wait, on_wait) as store:
                    self.ids = [store.save(self._held, **self.meta)]
                return None, None
            except ScsimError as e:
                failure = e
            try:
                self._spool = open_store(self._spool_path)
                self.ids = [self._spool.save(self._held, **self.meta)]
            except ScsimError:
                raise failure from None  # nowhere to keep it (a size limit, a full disk)
        assert self._spool is not None
        self._spool.close()
        self._spool = None
        ready = self.path.with_name(f"{self.path.name}.pending-{self.ids[0]}.duckdb")
        os.replace(self._spool_path, ready)
        self._ready = ready
        try:
            open_waiting(self.path, wait, on_wait).close()
        except StoreBusy:
            return ready, None
        except ScsimError as e:
            return ready, e
        return (None, None) if not ready.exists() else (ready, None)

    def discard(self) -> None:
        """Forget the runs: remove the spool, and a store file this command made."""
        if self._spool is not None:
            with contextlib.suppress(duckdb.Error):
                self._spool.close()
        remove_store_files(self._spool_path)
        if self._ready is not None:  # interrupted while the store took it in
            remove_store_files(self._ready)
        if not self._existed and self.path.exists():
            _remove_if_empty(self.path)


def _remove_if_empty(path: Path) -> None:
    try:
        with open_store(path, read_only=True) as store:
            empty = store.runs().height == 0
    except ScsimError:
        return
    if empty:
        remove_store_files(path)
