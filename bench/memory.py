"""Bytes per agent, array by array, of a built-in regime's population, state, graph
and day-loop buffers (docs/performance.md, "Bytes per agent").

    python bench/memory.py [--regime national] [--size 1000000] [--graph stored]

Builds the population and the day loop, lives one day (so buffers that grow on the
first day are counted), then walks the arrays the loop holds and prints each one's
dtype, shape and bytes per agent, largest first, with totals per part.
"""

from __future__ import annotations

import argparse

from scsim.engine.compile import compile_regime
from scsim.engine.memory import arrays
from scsim.engine.run import DEFAULT_CHUNK, DayLoop
from scsim.population import build_population
from scsim.regime import load_regime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default="national")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--graph", default=None, choices=["auto", "stored", "procedural"])
    args = parser.parse_args()
    n = args.size
    more = [f"network.graph={args.graph}"] if args.graph else []
    regime = load_regime(args.regime, overrides=more)
    pop = build_population(regime, n, 1)
    loop = DayLoop(regime, compile_regime(regime, n), pop, 1, DEFAULT_CHUNK)
    loop.step(0)
    seen: set[int] = set()
    rows = list(arrays("pop.", pop, seen)) + list(arrays("loop.", loop, seen))
    rows = [(name, a) for name, a in rows if a.nbytes >= n / 1000]
    print(f"regime {args.regime}, {n:,} agents, graph {args.graph or 'auto'}: bytes per agent")
    total = 0.0
    for name, a in sorted(rows, key=lambda r: -r[1].nbytes):
        total += a.nbytes / n
        print(f"{name:28s} {a.dtype!s:8s} {a.shape!s:22s} {a.nbytes / n:8.2f}")
    print(f"{'total':28s} {'':8s} {'':22s} {total:8.2f}")


if __name__ == "__main__":
    main()
