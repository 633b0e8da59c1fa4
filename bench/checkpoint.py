"""What a checkpoint costs: its size and write time against the time of a day.

    python bench/checkpoint.py [--regime national] [--sizes 1000000 10000000] [--days 3]
                               [--set network.graph=procedural ...]

Per population size: the median seconds of a day, the bytes of a checkpoint (per
agent and in all), the seconds to write it (write, fsync, rename, checksums) and to
read and verify it, and the share of a run's time checkpointing takes at the default
interval (one write per ``DEFAULT_SECONDS`` of wall clock) and at one every 30 days.
Runs aggregates only (no event log), as a run of this size does by default.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numba

from scsim.engine import checkpoint as ckpt
from scsim.engine.compile import compile_regime
from scsim.engine.run import DEFAULT_CHUNK, simulate, world_of_one
from scsim.engine.world import WorldLoop
from scsim.population import build_population
from scsim.regime import load_regime


def measure(name: str, n: int, days: int, overrides: list[str], where: Path) -> dict:
    regime = load_regime(name, overrides=overrides)
    compile_regime(regime, n)
    pop = build_population(regime, n, 1)
    sim = WorldLoop(world_of_one(regime), pop, 1, DEFAULT_CHUNK, keep_events=False)
    per_day = []
    for day in range(days):
        t = time.perf_counter()
        sim.step(day)
        per_day.append(time.perf_counter() - t)
    t = time.perf_counter()
    arrays = ckpt.world_arrays(sim)
    done = ckpt.write(where, days, arrays, regime.to_yaml(), {"version": "bench"})
    write_s = time.perf_counter() - t
    size = sum(f.stat().st_size for f in done.iterdir())
    t = time.perf_counter()
    for name_, crc in ckpt.peek(where)["crc32"].items():
        assert ckpt._crc(done / name_) == crc
    verify_s = time.perf_counter() - t
    shutil.rmtree(done)
    day_s = statistics.median(per_day)
    return {
        "day_s": day_s,
        "bytes": size,
        "write_s": write_s,
        "verify_s": verify_s,
        "cost_default": write_s / (ckpt.DEFAULT_SECONDS + write_s),
        "cost_30_days": write_s / (30 * day_s + write_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default="national")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="dotted.key=value")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    simulate(args.regime, population=1_000, days=2)  # compile the kernels
    print(f"regime {args.regime} {' '.join(args.set)}, {numba.get_num_threads()} threads")
    print(
        f"{'agents':>12} {'day s':>7} {'ckpt MB':>9} {'B/agent':>8} {'write s':>8} "
        f"{'MB/s':>6} {'verify s':>9} {'cost @10min':>12} {'cost @30d':>10}"
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in args.sizes:
            r = measure(args.regime, n, args.days, args.set, Path(tmp) / str(n))
            print(
                f"{n:>12,} {r['day_s']:>7.2f} {r['bytes'] / 1e6:>9.1f} {r['bytes'] / n:>8.1f} "
                f"{r['write_s']:>8.2f} {r['bytes'] / 1e6 / r['write_s']:>6.0f} "
                f"{r['verify_s']:>9.2f} {r['cost_default']:>11.2%} {r['cost_30_days']:>9.2%}",
                flush=True,
            )


if __name__ == "__main__":
    main()
