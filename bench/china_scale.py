"""China at scale: the `national` regime over 1.4 billion agents, a few days of it.

    python bench/china_scale.py [--population 1400000000] [--days 3] [--budget-gib 20]

Each run is a child process (so its peak resident memory is its own): first two small
probes measure the resident bytes per agent (the slope between them, so Python's and
Numba's fixed hundreds of MB do not count per agent), then the target run if the
projection fits the budget and the machine's available memory; otherwise the largest
population that fits, and the target's projected memory. Printed per run: agents,
days, build seconds, the median day, agent-days/s, peak resident GiB, and the wall
time a whole year would take at that rate. Runs keep aggregates only (no per-agent
frames, no event log), as `scsim run` does above 10M agents.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

GIB = 1024**3


def child(regime_name: str, n: int, days: int, graph: str, keep_rates: bool) -> None:
    """One run, in this process; prints one JSON line."""
    import numpy as np

    from scsim.engine.compile import compile_regime
    from scsim.engine.run import DEFAULT_CHUNK, DayLoop
    from scsim.population import build_population
    from scsim.regime import load_regime

    regime = load_regime(regime_name, [f"network.graph={graph}"])
    t0 = time.perf_counter()
    pop = build_population(regime, n, 1, keep_rates)
    loop = DayLoop(regime, compile_regime(regime, n), pop, 1, DEFAULT_CHUNK, keep_events=False)
    build = time.perf_counter() - t0
    per_day = []
    for day in range(days):
        t = time.perf_counter()
        row = loop.step(day)
        per_day.append(time.perf_counter() - t)
    assert np.isfinite(row[0, 0])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"n": n, "days": days, "build_s": build, "per_day": per_day, "peak": peak}))


def run_child(regime: str, n: int, days: int, graph: str, keep: bool) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--regime", regime, "--population", str(n),
         "--days", str(days), "--graph", graph, "--keep-rates", str(int(keep))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        return {"n": n, "failed": out.stderr.strip().splitlines()[-1:] or [str(out.returncode)]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def show(r: dict) -> None:
    if "failed" in r:
        print(f"{r['n']:>14,}  failed: {r['failed']}")
        return
    med = statistics.median(r["per_day"][1:] or r["per_day"])
    year = med * 365 / 60
    print(
        f"{r['n']:>14,} {r['days']:>5} {r['build_s']:>9.1f} {med:>9.2f} "
        f"{r['n'] / med:>12.3g} {r['peak'] / GIB:>9.2f} {year:>12.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default="national")
    parser.add_argument("--population", type=int, default=1_400_000_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--budget-gib", type=float, default=20.0)
    parser.add_argument("--probes", type=int, nargs=2, default=[4_000_000, 16_000_000])
    parser.add_argument(
        "--graph",
        default="procedural",
        help="network.graph for every run, probes included (1.4B agents need procedural)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep-rates", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.regime, args.population, args.days, args.graph, bool(args.keep_rates))
        return

    print(f"{platform.processor() or platform.machine()}, {platform.python_version()}")
    print(f"regime {args.regime}, graph {args.graph}, budget {args.budget_gib:g} GiB, "
          f"available now {available() / GIB:.1f} GiB")  # fmt: skip
    print(f"{'agents':>14} {'days':>5} {'build s':>9} {'day s':>9} {'agent-d/s':>12} "
          f"{'peak GiB':>9} {'year, min':>12}")  # fmt: skip
    from scsim.population.build import keeps_rate_table
    from scsim.regime import load_regime

    # Probes keep or derive the rates as the target run would (the table is 4 bytes an
    # agent and varying behaviour).
    keep = keeps_rate_table(load_regime(args.regime), args.population)
    probes = [run_child(args.regime, n, 3, args.graph, keep) for n in args.probes]
    for r in probes:
        show(r)
    if any("failed" in r for r in probes):
        return
    (n0, p0), (n1, p1) = ((r["n"], r["peak"]) for r in probes)
    per_agent = (p1 - p0) / (n1 - n0)
    base = p0 - per_agent * n0
    need = base + per_agent * args.population
    limit = min(args.budget_gib * GIB, available() * 0.9)
    print(
        f"resident bytes per agent {per_agent:.1f} (+{base / GIB:.2f} GiB fixed): "
        f"{args.population:,} agents need {need / GIB:.1f} GiB"
    )
    n = args.population
    if need > limit:
        n = int((limit - base) / per_agent) // 10_000_000 * 10_000_000
        print(
            f"MISS: {args.population:,} agents do not fit in {limit / GIB:.1f} GiB; "
            f"running the largest that does, {n:,}"
        )
    show(
        run_child(
            args.regime, n, args.days, args.graph, keeps_rate_table(load_regime(args.regime), n)
        )
    )


if __name__ == "__main__":
    main()
