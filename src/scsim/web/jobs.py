"""The workbench's queue of runs over a small pool of worker processes.

At most ``slots`` runs compute at once (by default one per two cores, so the page and
the machine stay responsive); the rest wait in order. The server's threads only move
messages: a reader thread takes what the workers report (days' points, saved run
ids, the end) and a watchdog restarts a worker that died or ignored a cancel, failing
its job with a message rather than leaving it running forever.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from scsim.web import worker

#: A cancelled run that has not stopped after this long (it may be building a large
#: population, where no day ends) has its worker restarted (seconds).
CANCEL_GRACE = 5.0
#: Finished jobs kept in memory with their points; older ones are in the store only.
KEEP_FINISHED = 50
TERMINAL = ("done", "failed", "cancelled")


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_slots() -> int:
    """One run at a time per two cores, at least one."""
    return max(1, cores() // 2)


@dataclass
class Job:
    """One request to run: its settings, where it is, and the points seen so far."""

    id: str
    request: dict[str, Any]
    label: str
    state: str = "queued"  # queued, running, cancelling, done, failed, cancelled
    names: list[str] = field(default_factory=list)
    #: (replicate, first day, rows of the whole population's metrics)
    batches: list[tuple[int, int, list[list[float | None]]]] = field(default_factory=list)
    replicate: int = 0
    day: int = 0  # days done in the current replicate
    run_ids: list[str] = field(default_factory=list)
    error: str | None = None
    cancel_asked: float | None = None

    @property
    def total_days(self) -> int:
        return self.request["days"] * self.request["replicates"]

    def status(self) -> dict[str, Any]:
        done = self.replicate * self.request["days"] + self.day
        if self.state == "done":
            done = self.total_days
        return {
            "id": self.id,
            "label": self.label,
            "state": self.state,
            "population": self.request["population"],
            "days": self.request["days"],
            "seed": self.request["seed"],
            "replicates": self.request["replicates"],
            "days_done": done,
            "progress": done / self.total_days,
            "run_ids": list(self.run_ids),
            "error": self.error,
        }


class _Slot:
    """One worker process and the ends of its pipe and cancel flag."""

    def __init__(self, ctx, index: int, results, threads: int, store: str, warm: bool) -> None:
        self.index = index
        self.conn, child = ctx.Pipe()
        self.cancel = ctx.Event()
        self.job: Job | None = None
        self.process = ctx.Process(
            target=worker.main,
            args=(child, results, self.cancel, index, threads, store, warm),
            name=f"scsim-worker-{index}",
            daemon=True,
        )
        self.process.start()
        child.close()

    def stop(self, timeout: float = 2.0) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        with contextlib.suppress(OSError):
            self.conn.close()


class Pool:
    """Runs jobs on ``slots`` worker processes; thread-safe."""

    def __init__(self, store: str, slots: int | None = None, warm: bool = True) -> None:
        self.store = store
        self.slots_wanted = slots or default_slots()
        self.warm = warm
        self.jobs: dict[str, Job] = {}
        self.waiting: deque[Job] = deque()
        self.lock = threading.RLock()
        self._ctx = mp.get_context("spawn")
        self._results = self._ctx.Queue()
        self._slots: list[_Slot] = []
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        # The cores are shared out: two runs on four cores get two threads each.
        self._threads_per_worker = max(1, cores() // self.slots_wanted)
        self._slots = [self._spawn(i) for i in range(self.slots_wanted)]
        for target in (self._read, self._watch):
            t = threading.Thread(target=target, daemon=True, name=f"scsim-{target.__name__}")
            t.start()
            self._threads.append(t)

    def _spawn(self, index: int) -> _Slot:
        return _Slot(
            self._ctx, index, self._results, self._threads_per_worker, self.store, self.warm
        )

    def close(self) -> None:
        self._closing.set()
        for slot in self._slots:
            slot.stop()
        for t in self._threads:
            t.join(2.0)
        self._results.close()
        self._results.join_thread()

    # -- requests ---------------------------------------------------------------------

    def submit(self, request: dict[str, Any], label: str) -> Job:
        job = Job(id=f"job-{secrets.token_hex(4)}", request=request, label=label)
        with self.lock:
            self.jobs[job.id] = job
            self.waiting.append(job)
            self._prune()
            self._dispatch()
        return job

    def cancel(self, job_id: str) -> Job | None:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.state in TERMINAL:
                return job
            if job.state == "queued":
                self.waiting.remove(job)
                job.state = "cancelled"
                return job
            job.state = "cancelling"
            job.cancel_asked = time.monotonic()
            for slot in self._slots:
                if slot.job is job:
                    slot.cancel.set()
            return job

    def counts(self) -> dict[str, int]:
        with self.lock:
            running = sum(1 for s in self._slots if s.job is not None)
            return {"running": running, "queued": len(self.waiting), "slots": len(self._slots)}

    # -- inside -----------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Give waiting jobs to idle live workers (the lock is held)."""
        for slot in self._slots:
            if not self.waiting:
                return
            if slot.job is None and slot.process.is_alive():
                job = self.waiting.popleft()
                slot.cancel.clear()
                try:
                    slot.conn.send({**job.request, "id": job.id})
                except OSError:  # it died just now: the watchdog replaces it
                    self.waiting.appendleft(job)
                    continue
                slot.job = job
                job.state = "running"

    def _prune(self) -> None:
        finished = [j for j in self.jobs.values() if j.state in TERMINAL]
        for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self.jobs[job.id]

    def _read(self) -> None:
        while not self._closing.is_set():
            try:
                message = self._results.get(timeout=0.25)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            with self.lock:
                self._handle(message)

    def _handle(self, message: tuple) -> None:
        kind, key, *rest = message
        if kind == "ready":
            return
        job = self.jobs.get(key)
        if job is None:
            return
        if kind == "names":
            replicate, names = rest
            job.replicate, job.day, job.names = replicate, 0, names
        elif kind == "days":
            replicate, first, rows = rest
            job.batches.append((replicate, first, rows))
            job.replicate, job.day = replicate, first + len(rows)
        elif kind == "saved":
            job.run_ids.append(rest[0])
        elif kind == "end":
            state, error, run_ids = rest
            job.state, job.error, job.run_ids = state, error, list(run_ids)
            self._release(job)

    def _release(self, job: Job) -> None:
        for slot in self._slots:
            if slot.job is job:
                slot.job = None
        self._dispatch()

    def _watch(self) -> None:
        """Restart workers that died, or that a cancel could not stop in time."""
        while not self._closing.wait(0.5):
            with self.lock:
                for i, slot in enumerate(self._slots):
                    job = slot.job
                    stuck = (
                        job is not None
                        and job.cancel_asked is not None
                        and time.monotonic() - job.cancel_asked > CANCEL_GRACE
                    )
                    if slot.process.is_alive() and not stuck:
                        continue
                    if stuck:
                        slot.process.terminate()
                    slot.process.join(1.0)
                    if job is not None and job.state not in TERMINAL:
                        if stuck:
                            job.state = "cancelled"
                        else:
                            job.state = "failed"
                            job.error = (
                                f"the worker process stopped (exit code "
                                f"{slot.process.exitcode}); the machine may have run out of "
                                "memory: try fewer agents or days"
                            )
                    slot.stop(0.1)
                    if not self._closing.is_set():
                        self._slots[i] = self._spawn(i)
                self._dispatch()
