"""What a sweep costs over the engine's own time, how it scales with workers, and
whether the driver's memory stays flat over many points.

    python bench/sweep.py overhead [--runs 100] [--population 20000] [--days 365]
                                   [--workers 1 2] [--cold]
    python bench/sweep.py memory [--points 10000]

overhead: one local Ray; for each worker count, a fresh pool is warmed (each
worker's start printed: the first fills numba's cache, the others load it; ``--cold``
starts from an empty cache, so the first pays the whole compile), then a grid of
``--runs`` points of camera-city (the example regime) runs into a fresh store.
Prints the wall time, the engine's own seconds (summed over runs, from the store),
the per-run overhead
``(wall * workers - engine) / runs`` and the speed-up over one worker. The task's own
seconds (loading the regime with the point's overrides, the population cache, the
summary) are printed apart from the driver's (Ray round trips and store writes).

memory: a grid of ``--points`` tiny runs (100 people, 2 days), the driver's resident
memory printed every tenth of the way: results stream to the store, so it stays flat.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import ray

import scsim
from scsim.experiment import runner

ROOT = Path(__file__).resolve().parent.parent
CITY = ROOT / "examples" / "camera-city.yaml"


def experiment(folder: Path, name: str, points: int, population: int, days: int) -> Path:
    """A grid of ``points`` over one key (a rule's points, all runs alike in cost)."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nregime: {CITY}\npopulation: {population}\ndays: {days}\n"
        f"parameters:\n  rules.2.points: {{range: [1, 3], steps: {points}}}\n"
        "metrics: [mean_score, wrongfully_sanctioned]\n",
        encoding="utf-8",
    )
    return path


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def overhead(args: argparse.Namespace) -> None:
    if args.cold:  # the workers (started by this Ray) compile into an empty cache
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="scsim-numba-")
    ray.init(include_dashboard=False, log_to_driver=False)
    folder = Path(tempfile.mkdtemp(prefix="scsim-bench-"))
    base = None
    for workers in args.workers:
        runner._pool.update(session=None, actors=[])  # a fresh pool: its start-up timed
        warm = scsim.sweep(
            experiment(folder, f"warm{workers}", max(2, workers), 1000, 1),
            store=folder / f"warm{workers}.duckdb", workers=workers,
        )  # fmt: skip
        print(f"workers {workers}: start-up per new worker (with --cold, the first "
              "worker of the first pool compiles; the others load numba's cache): "
              + ", ".join(f"{s:.2f} s" for s in warm.warm_seconds))  # fmt: skip
        file = experiment(folder, f"bench{workers}", args.runs, args.population, args.days)
        store = folder / f"bench{workers}.duckdb"
        t0 = time.perf_counter()
        scsim.sweep(file, store=store, workers=workers)
        wall = time.perf_counter() - t0
        with scsim.open_store(store, read_only=True) as s:
            engine, task = s._con.execute(
                "SELECT sum(engine_seconds), sum(seconds) FROM sweep_runs"
            ).fetchone()
        per_run = (wall * workers - engine) / args.runs
        base = base or wall
        print(
            f"workers {workers}: {args.runs} runs of {args.population:,} x {args.days} days "
            f"in {wall:.1f} s; engine {engine / args.runs:.3f} s a run; overhead "
            f"{per_run:.3f} s a run ({per_run / (engine / args.runs):.1%}), of which in the "
            f"task {(task - engine) / args.runs:.3f} s; speed-up {base / wall:.2f}x"
        )
        for actor in runner._pool["actors"]:
            ray.kill(actor)
    ray.shutdown()


def memory(args: argparse.Namespace) -> None:
    ray.init(include_dashboard=False, log_to_driver=False)
    folder = Path(tempfile.mkdtemp(prefix="scsim-bench-"))
    file = experiment(folder, "memory", args.points, 100, 2)
    marks = {args.points * k // 10 for k in range(1, 11)}
    t0 = time.perf_counter()

    def progress(done: int, total: int, failed: int) -> None:
        if done in marks:
            print(f"{done:>6} of {total} runs landed, {time.perf_counter() - t0:6.1f} s: "
                  f"driver resident {rss_mib():.0f} MiB")  # fmt: skip

    print(f"driver resident before: {rss_mib():.0f} MiB (pid {os.getpid()})")
    scsim.sweep(file, store=folder / "memory.duckdb", progress=progress)
    ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    o = sub.add_parser("overhead")
    o.add_argument("--runs", type=int, default=100)
    o.add_argument("--population", type=int, default=20_000)
    o.add_argument("--days", type=int, default=365)
    o.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    o.add_argument("--cold", action="store_true", help="Start from an empty numba cache.")
    m = sub.add_parser("memory")
    m.add_argument("--points", type=int, default=10_000)
    args = ap.parse_args()
    overhead(args) if args.what == "overhead" else memory(args)


if __name__ == "__main__":
    main()
