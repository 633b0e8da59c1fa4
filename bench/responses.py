"""Throughput of a regime with all its responses on against the same regime with them
off (deterrence, chilling, gaming and distancing set to null), run side by side.

    python bench/responses.py [--regime national] [--n 10000000] [--days 10] [--reps 3]

The machine is shared: the two variants alternate (on, off, on, off, ...), each run
timing ``--days`` days after its own build, and the medians over the repetitions are
compared. Prints the load average before and after, each run's median seconds a day,
and the slowdown of the medians. Numba compilation is paid first, on small runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scsim.engine.run import simulate
from scsim.regime import load_regime
from throughput import measure


def responses_off(name: str) -> list[str]:
    """The overrides that switch every response of a regime off."""
    regime = load_regime(name)
    sets = []
    for b, beh in regime.behaviours.items():
        for key in ("deterrence", "chilled_by", "displaced_to", "gaming"):
            if getattr(beh, key) is not None:
                sets.append(f"behaviours.{b}.{key}=null")
    if regime.network.distancing is not None:
        sets.append("network.distancing=null")
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default="national")
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    off = responses_off(args.regime)
    variants = {"on": (), "off": tuple(off)}
    for sets in variants.values():  # compile the kernels of both variants
        simulate(load_regime(args.regime, list(sets)), population=2_000, days=3)
    print(f"regime {args.regime}, {args.n:,} agents, {args.days} days, {args.reps} reps")
    print(f"off: {' '.join(off)}")
    print(f"load average before: {os.getloadavg()}")
    days: dict[str, list[float]] = {"on": [], "off": []}
    for rep in range(args.reps):
        for name, sets in variants.items():
            r = measure(args.regime, args.n, args.days, overrides=sets)
            days[name].append(r["day_median_s"])
            load = os.getloadavg()[0]
            med, low = r["day_median_s"], r["day_min_s"]
            print(f"rep {rep} {name:>3}: median day {med:.3f} s (min {low:.3f}), load {load:.1f}")
    on, off_s = statistics.median(days["on"]), statistics.median(days["off"])
    print(f"load average after: {os.getloadavg()}")
    print(f"median day: on {on:.3f} s, off {off_s:.3f} s, on/off = {on / off_s:.3f}")


if __name__ == "__main__":
    main()
