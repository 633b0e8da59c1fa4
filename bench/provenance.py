"""The cost of provenance (event and list logs) and appeals, at 10M agents.

    python bench/provenance.py [--regime rongcheng] [--population 10000000] [--days 30]

Runs the same regime twice over the same population, interleaving days so both see
the same machine load: once bare (no logs, no appeals), once with the event and list
logs kept and appeals on (rate 0.3, decided after 30 days). Prints the median day of
each, their agent-days per second, and the ratio. Issue target: the cost is at most
30% of throughput.
"""

from __future__ import annotations

import argparse
import statistics
import time

from scsim.engine.compile import compile_regime
from scsim.engine.day import DayLoop
from scsim.engine.run import DEFAULT_CHUNK, simulate
from scsim.population import build_population
from scsim.regime import load_regime

APPEALS = ["appeals.rate=0.3", "appeals.delay_days=30"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default="rongcheng")
    parser.add_argument("--population", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()

    bare = load_regime(args.regime)
    full = load_regime(args.regime, overrides=APPEALS)
    simulate(full, population=1_000, days=3)  # compile the kernels
    pop = build_population(bare, args.population, seed=1)
    loops = {
        "bare": DayLoop(bare, compile_regime(bare, pop.n), pop, 1, DEFAULT_CHUNK, False),
        "provenance+appeals": DayLoop(
            full, compile_regime(full, pop.n), pop, 1, DEFAULT_CHUNK, True
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in loops}
    for day in range(args.days):
        for name, loop in loops.items():
            t = time.perf_counter()
            loop.step(day)
            times[name].append(time.perf_counter() - t)
    n = pop.n
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"regime {args.regime}, {n:,} agents, {args.days} days, days interleaved")
    for name, m in med.items():
        print(f"{name:>20}: median day {m:.3f} s, {n / m:.3g} agent-days/s")
    cost = med["provenance+appeals"] / med["bare"] - 1
    events = loops["provenance+appeals"].log
    kept = sum(p[0].size for p in events.parts) if events else 0
    print(
        f"{'cost':>20}: {cost:+.1%} of the bare day ({kept:,} events logged, "
        f"{kept * 22 / 1e6:.0f} MB)"
    )


if __name__ == "__main__":
    main()
