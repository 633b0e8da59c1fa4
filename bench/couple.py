"""The liability stage (``settle.couple``) on the stored CSR graph and on the
procedural graph, at one population size, timed call by call, interleaved.

    python bench/couple.py [--regime national] [--size 10000000] [--reps 9]

Each graph gets its own population and day loop (same regime and seed), lives a few
days so that scores differ, then ``couple`` is timed ``reps`` times per graph, one
call of each in turn so both share the machine's load. Prints the median seconds a
call, agents per second, and the graph's bytes per agent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numba

from scsim.engine import settle
from scsim.engine.compile import compile_regime
from scsim.engine.run import DEFAULT_CHUNK, DayLoop
from scsim.population import build_population
from scsim.regime import load_regime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default="national")
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    n = args.size
    loops = {}
    for graph in ("stored", "procedural"):
        regime = load_regime(args.regime, overrides=[f"network.graph={graph}"])
        pop = build_population(regime, n, 1)
        loop = DayLoop(regime, compile_regime(regime, n), pop, 1, DEFAULT_CHUNK)
        for day in range(args.days):
            loop.step(day)
        loops[graph] = loop
    times: dict[str, list[float]] = {g: [] for g in loops}
    load0 = os.getloadavg()[0]
    for _ in range(args.reps):
        for graph, loop in loops.items():
            p, st = loop.pop, loop.state
            t = time.perf_counter()
            settle.couple(loop.c, st, loop.chunk, loop.old, p.indptr, p.indices, p.proc)
            times[graph].append(time.perf_counter() - t)
    load1 = os.getloadavg()[0]
    print(
        f"regime {args.regime}, {n:,} agents, {numba.get_num_threads()} threads, "
        f"load {load0:.1f} -> {load1:.1f}; couple, median of {args.reps}"
    )
    for graph, loop in loops.items():
        p = loop.pop
        graph_bytes = p.indptr.nbytes + p.indices.nbytes + loop.graph.nbytes()
        graph_bytes += p.proc.nbytes() if p.proc is not None else 0
        med = statistics.median(times[graph])
        print(
            f"{graph:>11s}: {med:.3f} s ({n / med:.3g} agents/s), "
            f"min {min(times[graph]):.3f}, graph {graph_bytes / n:.1f} bytes/agent"
        )


if __name__ == "__main__":
    main()
