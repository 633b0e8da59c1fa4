"""Cold and warm start of the README's run: how long the first run on a machine
spends compiling kernels, measured by the run itself (``compile_seconds``).

Runs ``scsim run rongcheng --population 100000 --days 365 --json`` twice in fresh
processes with an empty ``NUMBA_CACHE_DIR`` (a first install: every kernel compiles),
then once more on the cache the first run wrote (every later run). Prints, for each,
the run's seconds, the compile seconds and the speed without compiling, with the
machine's load average before and after (compile time is single-threaded and suffers
most on a busy machine).

    python bench/cold_compile.py [--population N] [--days D]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str], cache: Path, store: Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", "from scsim.cli import main; main()", *args,
         "--store", str(store), "--json"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    out = json.loads(proc.stdout)
    out["process_seconds"] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    opts = parser.parse_args()
    args = ["run", "rongcheng", "--population", str(opts.population), "--days", str(opts.days)]
    with tempfile.TemporaryDirectory(prefix="scsim-cold-") as tmp:
        cache, store = Path(tmp) / "numba", Path(tmp) / "s.duckdb"
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for label in ("cold (empty cache)", "warm (cached)"):
            r = run(args, cache, store)
            print(
                f"{label:20s} process {r['process_seconds']:7.1f} s  run {r['seconds']:7.1f} s"
                f"  compiling {r['compile_seconds']:7.1f} s  "
                f"{r['agent_days_per_s']:.3g} agent-days/s without compiling"
            )
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
