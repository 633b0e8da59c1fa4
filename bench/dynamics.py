"""Throughput with the social dynamics on, beside the engine alone, at one size.

    python bench/dynamics.py [--size 10000000] [--days 20]

Three day loops over the same population size and seed: ``rongcheng`` as built in
(engine only); ``rongcheng`` with network liability and distancing on (friend
deductions, a penalty per friend in grade C or D, agents dropping ties to friends
under a sanction); and the worst case, where every agent is shunned and costs its
friends points (grade A or below). Their days are interleaved (one day of each in
turn), so all see the same load on a shared machine; the table gives median agent-days per second.
Numba compilation is paid before timing (a small warm-up run of each).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numba
import numpy as np

from scsim.engine.compile import compile_regime
from scsim.engine.run import DEFAULT_CHUNK, DayLoop, simulate
from scsim.population import build_population
from scsim.regime import load_regime

DYNAMICS = [
    "network.liability=0.0",
    "network.friend_deductions=0.1",
    "network.low_friend_penalty={grade: C, points: 1}",
    "network.distancing={rate: 0.02, from: [loan_restrictions]}",
]
# The worst case: every agent (grade A or below) is shunned and costs its friends points.
EVERYONE = [
    "network.liability=0.0",
    "network.friend_deductions=0.1",
    "network.low_friend_penalty={grade: A, points: 0.01}",
    "network.distancing={rate: 0.02, from: {low_grade: A}}",
]


def loop_for(overrides: list[str], n: int, seed: int) -> tuple[DayLoop, float]:
    regime = load_regime("rongcheng", overrides=overrides)
    pop = build_population(regime, n, seed)
    loop = DayLoop(regime, compile_regime(regime, n), pop, seed, DEFAULT_CHUNK, keep_events=False)
    extra = loop.graph.nbytes() + loop.lows.nbytes
    return loop, (pop.nbytes() + loop.state.nbytes() + extra) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=20)
    args = parser.parse_args()
    n, seed = args.size, 1
    simulate("rongcheng", population=2_000, days=3)
    simulate(load_regime("rongcheng", overrides=DYNAMICS), population=2_000, days=3)
    simulate(load_regime("rongcheng", overrides=EVERYONE), population=2_000, days=3)
    print(
        f"rongcheng, {n:,} agents, {args.days} days interleaved, {numba.get_num_threads()} "
        f"threads, {platform.processor() or platform.machine()}, numba {numba.__version__}, "
        f"numpy {np.__version__}, load average before {os.getloadavg()[0]:.2f}"
    )
    loops = {
        "engine only": loop_for([], n, seed),
        "with dynamics": loop_for(DYNAMICS, n, seed),
        "all shunned": loop_for(EVERYONE, n, seed),
    }
    times: dict[str, list[float]] = {name: [] for name in loops}
    for day in range(args.days):
        for name, (loop, _) in loops.items():
            t = time.perf_counter()
            loop.step(day)
            times[name].append(time.perf_counter() - t)
    print(f"load average after {os.getloadavg()[0]:.2f}")
    print(f"{'':>14} {'day s (min/med/max)':>22} {'agent-days/s':>13} {'B/agent':>8}")
    for name, (_, nbytes) in loops.items():
        ts = times[name]
        med = statistics.median(ts)
        print(
            f"{name:>14} {min(ts):>7.3f}/{med:.3f}/{max(ts):>.3f} {n / med:>13.3g} {nbytes:>8.1f}"
        )
    for name in ("with dynamics", "all shunned"):
        loop = loops[name][0]
        live = int(np.asarray(loop.graph.live, dtype=np.int64).sum())
        print(f"{name}: tie ends live at the end {live:,} of {loop.pop.indptr[-1]:,}")


if __name__ == "__main__":
    main()
