"""Where a day's time goes, stage by stage, for a built-in regime.

    python bench/profile_day.py [--regime national] [--n 10000000] [--days 6] [--set k=v]

Wraps the day loop's stages (and the kernels inside score and settle) with timers and
prints each one's median over the days after the first (compilation and first-day
growth excluded), in ms and ns per agent. Events are not kept (as at scale).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

from scsim.engine import scoring, settle
from scsim.engine.compile import compile_regime
from scsim.engine.run import DEFAULT_CHUNK, DayLoop
from scsim.observe import kernels as observe_kernels
from scsim.population import build_population
from scsim.regime import load_regime


def timed(obj, attr: str, label: str, times: dict) -> None:
    inner = getattr(obj, attr)

    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        out = inner(*args, **kwargs)
        times[label].append(time.perf_counter() - t)
        return out

    setattr(obj, attr, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default="national")
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    regime = load_regime(args.regime, args.overrides)
    pop = build_population(regime, args.n, 1)
    loop = DayLoop(regime, compile_regime(regime, args.n), pop, 1, DEFAULT_CHUNK, False)
    times: dict[str, list[float]] = collections.defaultdict(list)
    for stage in ("behave", "score", "settle", "respond", "record", "family", "gini"):
        timed(loop, stage, stage, times)
    timed(loop, "observe_stage", "observe", times)
    timed(observe_kernels, "route", "  observe: route", times)
    timed(observe_kernels, "match", "  observe: match", times)
    timed(scoring, "apply_events", "  score: apply_events", times)
    timed(settle, "couple", "  settle: couple (liability)", times)
    timed(settle, "settle", "  settle: the sweep", times)
    timed(loop.graph, "distance", "  respond: distancing", times)
    for day in range(args.days):
        t = time.perf_counter()
        loop.step(day)
        times["whole day"].append(time.perf_counter() - t)
    print(f"{args.regime}, {args.n:,} agents, median of days 1-{args.days - 1}")
    print(f"{'stage':32} {'ms':>9} {'ns/agent':>9}")
    order = ["behave", "observe", "  observe: route", "  observe: match", "score",
             "  score: apply_events", "settle",
             "  settle: couple (liability)", "  settle: the sweep", "respond",
             "  respond: distancing", "record", "family", "gini", "whole day"]  # fmt: skip
    for label in order:
        if label in times:
            med = statistics.median(times[label][1:] or times[label])
            print(f"{label:32} {med * 1e3:9.1f} {med * 1e9 / args.n:9.1f}")
    day = statistics.median(times["whole day"][1:])
    print(f"agent-days/s {args.n / day:.3g}")


if __name__ == "__main__":
    main()
