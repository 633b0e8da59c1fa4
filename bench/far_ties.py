"""The cost of the procedural graph's far ties: every agent's far friends computed once,
as the liability stage does each day, at several population sizes.

    python bench/far_ties.py [--sizes 40000000 340000000] [--degree 10] [--locality 0.9] [--reps 3]

Prints, per size, the Feistel domain over ``n`` (the expected number of networks a
cycle walk evaluates) and the median time of a pass over all agents, in ms and ns an
agent. No memory but the keys and one int64 an agent for the result.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
from numba import njit, prange

from scsim.population import procedural


@njit(parallel=True, cache=True)
def _all_far(keys, n, out):
    for i in prange(n):
        s = np.int64(0)
        for k in range(keys.size):
            s += procedural.far(keys[k], n, i)
        out[i] = s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[40_000_000, 340_000_000])
    parser.add_argument("--degree", type=int, default=10)
    parser.add_argument("--locality", type=float, default=0.9)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(f"threads {numba.get_num_threads()}, degree {args.degree}, locality {args.locality}")
    print(f"{'agents':>14} {'far':>4} {'domain/n':>9} {'pass ms':>9} {'ns/agent':>9}")
    for n in args.sizes:
        g = procedural.procedural_graph(np.uint64(1), n, args.degree, args.locality)
        out = np.empty(n, dtype=np.int64)
        _all_far(g.keys, n, out)  # compile and touch
        times = []
        for _ in range(args.reps):
            t = time.perf_counter()
            _all_far(g.keys, n, out)
            times.append(time.perf_counter() - t)
        sec = statistics.median(times)
        ratio = 2 ** procedural._bits(n) / n
        print(f"{n:>14,} {g.keys.size:>4} {ratio:>9.2f} {sec * 1e3:>9.0f} {sec / n * 1e9:>9.1f}")


if __name__ == "__main__":
    main()
