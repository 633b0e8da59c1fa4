"""A worker process of the workbench: runs simulations and saves them to the store.

The web server never simulates in its own process: each worker is a long-lived
process (spawned, so it shares no threads or locks with the server) that keeps
Numba's kernels loaded between runs, takes one job at a time from its pipe, streams
the whole population's metrics day by day on a shared queue, and saves each finished
run itself, opening the store only for the save. Cancelling sets the worker's event;
the day loop checks it after every day.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
import traceback
from typing import Any

from scsim.errors import ScsimError

#: Days' points are sent at most this often (seconds): a 20,000-agent day takes a
#: millisecond, and a message a day would cost more than the day.
FLUSH_EVERY = 0.05
#: How long a save waits for the store while another process writes it (seconds).
SAVE_PATIENCE = 120.0
#: Runs of at most this many agents keep their per-agent frames (as the CLI does).
PER_AGENT_LIMIT = 10_000_000


class Cancelled(Exception):
    """The user cancelled the run."""


def main(tasks, results, cancel, slot: int, threads: int, store: str, warm: bool) -> None:
    """The worker's loop: a job dict at a time from ``tasks`` until ``None``."""
    import signal

    import numba

    # Ctrl+C in the terminal reaches the whole process group: the server stops its
    # workers itself (``jobs.Pool.close``), so a run is never cut by a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    if warm:
        _warm()
    results.put(("ready", slot))
    while True:
        try:
            job = tasks.recv()
        except EOFError:
            return
        if job is None:
            return
        results.put(("end", job["id"], *_run_job(job, results, cancel, store)))


def _warm() -> None:
    """Load the compiled kernels (from Numba's cache) before the first real run, so
    pressing run shows the first day without waiting for them."""
    import scsim

    with contextlib.suppress(Exception):
        scsim.simulate("rongcheng", population=2_000, days=2, keep_events=False)


def _run_job(job: dict, results, cancel, store: str) -> tuple[str, str | None, list[str]]:
    """(final state, error message, stored run ids) of one job."""
    saved: list[str] = []
    try:
        regime = load_source(job)
        for k in range(job["replicates"]):
            run = _one_run(job, regime, k, results, cancel)
            saved.append(_save(store, run, saved[0] if saved else None))
            results.put(("saved", job["id"], saved[-1]))
        return "done", None, saved
    except Cancelled:
        _forget(store, saved)
        return "cancelled", None, []
    except ScsimError as e:
        _forget(store, saved)
        return "failed", str(e), []
    except MemoryError:
        _forget(store, saved)
        return "failed", "the run ran out of memory; try fewer agents", []
    except Exception as e:  # a bug: the page says so, the console keeps the trace
        traceback.print_exc(file=sys.stderr)
        _forget(store, saved)
        return "failed", f"internal error ({type(e).__name__}: {e}); please report it", []


def load_source(job: dict):
    """The job's regime or world: a built-in name, or uploaded YAML text.

    The form's keys are paths into the resolved regime (shorthands written out, e.g.
    ``applies_to: blacklisted`` as a mapping), so a regime's overrides are applied to
    its resolved YAML rather than to the file as written. A world's overrides go
    through ``scsim.load`` (its operators are files of their own)."""
    import scsim
    from scsim.regime import Regime
    from scsim.regime.loader import regime_from_text

    overrides = job.get("overrides") or []
    if job.get("text") is not None:
        model = regime_from_text(job["text"], job.get("filename") or "upload.yaml")
    else:
        model = scsim.load(job["regime"])
    if not overrides:
        return model
    if not isinstance(model, Regime):
        return scsim.load(job["regime"], overrides)
    return regime_from_text(model.to_yaml(), f"resolved {model.name}", overrides)


def _one_run(job: dict, regime, k: int, results, cancel):
    """Replicate ``k`` of the job, its days streamed to ``results`` as they finish
    (a world's too: the operators' metrics under their prefixed names)."""
    import scsim

    job_id, days = job["id"], job["days"]
    sender = _Sender(results, job_id, k)

    def on_day(day: int, metrics: dict[str, float]) -> None:
        if day == 0:
            sender.start(list(metrics))
        sender.add(day, list(metrics.values()))
        if cancel.is_set():
            raise Cancelled

    small = job["population"] <= PER_AGENT_LIMIT
    keep = {"keep_events": small, "keep_agents": small}
    run = scsim.simulate(
        regime, population=job["population"], days=days, seed=job["seed"] + k,
        on_day=on_day, **keep,
    )  # fmt: skip
    sender.flush()
    return run


class _Sender:
    """Batches days' points onto the results queue, at most every FLUSH_EVERY s."""

    def __init__(self, results, job_id: str, replicate: int) -> None:
        self.results, self.job_id, self.replicate = results, job_id, replicate
        self.first = 0
        self.rows: list[list[float | None]] = []
        self.last = time.monotonic()

    def start(self, names: list[str]) -> None:
        self.results.put(("names", self.job_id, self.replicate, names))

    def add(self, day: int, row: list[float]) -> None:
        if not self.rows:
            self.first = day
        self.rows.append([v if math.isfinite(v) else None for v in row])
        if time.monotonic() - self.last >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.results.put(("days", self.job_id, self.replicate, self.first, self.rows))
            self.rows = []
        self.last = time.monotonic()


def _save(store: str, run: Any, batch: str | None) -> str:
    """Save, waiting while another process (a CLI run, another worker) holds the file."""
    import scsim

    deadline = time.monotonic() + SAVE_PATIENCE
    while True:
        try:
            with scsim.open_store(store) as s:
                return s.save(run, batch=batch)
        except ScsimError as e:
            if "lock" not in str(e).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _forget(store: str, saved: list[str]) -> None:
    """Remove the replicates of a batch that did not finish, as the CLI does."""
    if not saved:
        return
    import scsim

    with contextlib.suppress(ScsimError), scsim.open_store(store) as s:
        s.delete_batch(saved[0])
