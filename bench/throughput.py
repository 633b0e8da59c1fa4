"""Throughput of the day loop and memory per agent, for a built-in regime.

    python bench/throughput.py [--regime rongcheng] [--sizes 1000000 10000000] [--days 30]
                               [--set network.graph=procedural ...]
                               [--against OTHER/src --rounds 3]

Prints, per population size: seconds to build the population, the median seconds of a
day and its agent-days per second (plus the spread over days), the whole loop's
agent-days per second, the bytes per agent of the population and the state, and the
bytes per tie of the friendship graph (CSR indptr and indices, and the live degree
kept for dropping ties, over the number of tie ends).
Numba compilation is paid before timing starts (a small warm-up run).

``--against OTHER/src`` compares this checkout's engine with another's (e.g. an
exported older commit) side by side: each round runs this script once per engine, in
a fresh process with that engine first on ``PYTHONPATH``, alternating which goes
first; then it prints the median over rounds of each engine's median day and their
ratio. On a shared, noisy machine only such interleaved figures compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

from scsim.engine.compile import compile_regime
from scsim.engine.run import DEFAULT_CHUNK, DayLoop, simulate
from scsim.population import build_population
from scsim.regime import load_regime


def measure(
    regime_name: str, n: int, days: int, seed: int = 1, overrides: tuple[str, ...] = ()
) -> dict[str, float]:
    regime = load_regime(regime_name, overrides=list(overrides))
    t0 = time.perf_counter()
    pop = build_population(regime, n, seed)
    build = time.perf_counter() - t0
    loop = DayLoop(regime, compile_regime(regime, n), pop, seed, DEFAULT_CHUNK)
    per_day = []
    t1 = time.perf_counter()
    for day in range(days):
        t = time.perf_counter()
        loop.step(day)
        per_day.append(time.perf_counter() - t)
    total = time.perf_counter() - t1
    return {
        "n": n,
        "build_s": build,
        "day_median_s": statistics.median(per_day),
        "day_min_s": min(per_day),
        "day_max_s": max(per_day),
        "loop_rate": n * days / total,
        "median_rate": n / statistics.median(per_day),
        "pop_bytes": pop.nbytes() / n,
        "state_bytes": (loop.state.nbytes() + loop.graph.nbytes()) / n,
        "graph_bytes": (pop.indptr.nbytes + pop.indices.nbytes + loop.graph.nbytes()) / n,
        # bytes per stored tie end; NaN for a procedural graph (no stored ties)
        "edge_bytes": (pop.indptr.nbytes + pop.indices.nbytes + loop.graph.nbytes())
        / pop.indices.size
        if pop.indices.size
        else float("nan"),
    }


def side_by_side(args: argparse.Namespace) -> None:
    """Alternate this engine and ``args.against`` in fresh processes; print medians."""
    here = str(Path(__file__).resolve().parents[1] / "src")
    engines = {"this": here, "against": str(Path(args.against).resolve())}
    days: dict[str, dict[int, list[float]]] = {k: {n: [] for n in args.sizes} for k in engines}
    for r in range(args.rounds):
        turn = list(engines) if r % 2 == 0 else list(engines)[::-1]
        for name in turn:
            env = {**os.environ, "PYTHONPATH": engines[name]}
            cmd = [sys.executable, __file__, "--regime", args.regime, "--days", str(args.days)]
            cmd += ["--sizes", *map(str, args.sizes), "--json"]
            cmd += [x for kv in args.set for x in ("--set", kv)]
            lines = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            for line in lines.stdout.splitlines():
                res = json.loads(line)
                days[name][res["n"]].append(res["day_median_s"])
                print(f"round {r} {name:>7} {res['n']:>12,} day {res['day_median_s']:.3f} s")
    print(f"regime {args.regime}, {args.days} days, {args.rounds} rounds; against {args.against}")
    for n in args.sizes:
        this, other = (statistics.median(days[k][n]) for k in engines)
        print(
            f"{n:>12,} median day: this {this:.3f} s, against {other:.3f} s, "
            f"ratio {this / other:.3f} (this {n / this:.3g}, against {n / other:.3g} agent-days/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default="rongcheng")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--set", action="append", default=[], help="dotted.key=value")
    parser.add_argument("--against", help="another checkout's src/: compare side by side")
    parser.add_argument("--rounds", type=int, default=3, help="with --against")
    parser.add_argument("--json", action="store_true", help="one JSON line per size")
    args = parser.parse_args()
    if args.against:
        side_by_side(args)
        return

    simulate(args.regime, population=1_000, days=3)  # compile the kernels
    if args.json:
        for n in args.sizes:
            print(json.dumps(measure(args.regime, n, args.days, overrides=tuple(args.set))))
        return
    print(
        f"regime {args.regime}, {args.days} days, {numba.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, numba {numba.__version__}, "
        f"numpy {np.__version__}"
    )
    print(
        f"{'agents':>12} {'build s':>8} {'day s (min/med/max)':>22} {'agent-days/s':>13} "
        f"{'(loop)':>10} {'B/agent':>8} {'(pop+graph / state)':>20} {'B/tie':>6}"
    )
    for n in args.sizes:
        r = measure(args.regime, n, args.days, overrides=tuple(args.set))
        print(
            f"{n:>12,} {r['build_s']:>8.2f} "
            f"{r['day_min_s']:>7.3f}/{r['day_median_s']:.3f}/{r['day_max_s']:.3f} "
            f"{r['median_rate']:>13.3g} {r['loop_rate']:>10.3g} "
            f"{r['pop_bytes'] + r['state_bytes']:>8.1f} "
            f"{r['pop_bytes']:>9.1f} ({r['graph_bytes']:.1f}) / {r['state_bytes']:.1f} "
            f"{r['edge_bytes']:>6.1f}"
        )


if __name__ == "__main__":
    main()
