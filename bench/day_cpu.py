"""CPU time of a day and of its behave stage, one process, for side-by-side runs.

    NUMBA_NUM_THREADS=1 PYTHONPATH=<engine>/src python bench/day_cpu.py REGIME AGENTS DAYS LABEL
                                                                       [derived]

Prints LABEL, the agents, the median CPU time (``time.process_time``) of a day
(``DayLoop.step``) over days 1 to DAYS - 1, and of the behave stage alone run again on
the same day; ``derived``: the per-agent rates derived on demand, as above the
rate-table budget (China scale), rather than kept. CPU time, unlike wall-clock time,
hardly moves when other processes share the cores; alternate engines by running this
in turn with each on PYTHONPATH.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from scsim.engine.compile import compile_regime
from scsim.engine.run import DEFAULT_CHUNK, DayLoop
from scsim.population import build_population
from scsim.regime import load_regime


def main() -> None:
    name, n, days, label = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    regime = load_regime(name)
    pop = build_population(regime, n, 1, keep_rates=sys.argv[5:] != ["derived"])
    loop = DayLoop(regime, compile_regime(regime, n), pop, 1, DEFAULT_CHUNK)
    loop.step(0)  # compiles what the cache does not hold
    day, behave = [], []
    for d in range(1, days):
        t = time.process_time()
        loop.step(d)
        day.append(time.process_time() - t)
        t = time.process_time()
        loop.behave(d)
        behave.append(time.process_time() - t)
    print(
        f"{label} {n} day cpu ms {np.median(day) * 1000:.1f} behave {np.median(behave) * 1000:.1f}"
    )


if __name__ == "__main__":
    main()
