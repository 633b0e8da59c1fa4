"""What a calibration costs: wall time, runs, and seconds per run, into a fresh store.

    python bench/calibrate.py [examples/targets/court-blacklist.yaml] [--workers 2]

Prints the machine's load before and after (the machine may be shared), the wall
time, the runs (design waves, then the predictive runs), the mean seconds a run took
on its worker (from the store), and the share of the prior left before each wave.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import scsim

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("targets", nargs="?", default=ROOT / "examples/targets/court-blacklist.yaml")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(f"load before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "cal.duckdb"
        t0 = time.perf_counter()
        result = scsim.calibrate(args.targets, store=store, workers=args.workers)
        wall = time.perf_counter() - t0
        with scsim.open_store(store, read_only=True) as s:
            (per_run,) = s._con.execute(
                "SELECT avg(seconds) FROM calibration_runs WHERE calibration = ?", [result.id]
            ).fetchone()
    print(f"load after: {os.getloadavg()}")
    print(f"{result.id}: {result.runs} runs in {wall:,.0f} s wall ({per_run:.1f} s a run "
          f"on its worker, {args.workers} workers); prior share left before each wave: "
          + ", ".join(f"{s:.3g}" for s in result.shares))  # fmt: skip


if __name__ == "__main__":
    main()
