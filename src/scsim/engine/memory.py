"""How much memory a run will hold, known before it is made.

A run too big for the machine should be refused with the figure, not killed by the
kernel's out-of-memory killer an hour in. Two small probes of the same regime, on the
graph the full run would get, give the bytes per agent (their difference, so the
fixed-size parts do not count per agent); the population build holds temporaries on
top, about a quarter more at its peak (`bench/china_scale.py`: 4.1 GiB resident for
3.4 GiB of arrays at 60M agents of `national`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from scsim.errors import OptionError
from scsim.regime import Regime

#: Populations below this are not checked: they fit anywhere scsim runs.
CHECK_ABOVE = 5_000_000
PROBES = (100_000, 200_000)
BUILD_PEAK = 1.25
#: Python, numpy, numba and the compiled kernels, resident before any agent.
BASE_BYTES = 0.4 * 2**30
GIB = 2**30


def arrays(prefix: str, obj, seen: set[int], depth: int = 0) -> Iterator[tuple[str, np.ndarray]]:
    """(name, array) for every array reachable from ``obj``'s attributes or fields."""
    if depth > 3:
        return
    if hasattr(obj, "_asdict"):
        items = obj._asdict().items()
    elif hasattr(obj, "__dict__"):
        items = vars(obj).items()
    else:
        return
    for key, value in items:
        if isinstance(value, np.ndarray):
            if id(value) not in seen:
                seen.add(id(value))
                yield prefix + key, value
        elif key not in ("regime", "c", "pop") and (
            hasattr(value, "_asdict") or hasattr(value, "__dict__")
        ):
            yield from arrays(f"{prefix}{key}.", value, seen, depth + 1)


def held_bytes(
    regime: Regime | list[Regime], n: int, seed: int = 0, keep_rates: bool | None = None
) -> int:
    """Bytes of every array the day loops of ``n`` agents hold (population included):
    one regime's, or a world's operators' over their one population."""
    from scsim.engine.compile import compile_regime
    from scsim.engine.day import DayLoop
    from scsim.population import build_population

    regimes = regime if isinstance(regime, list) else [regime]
    pop = build_population(regimes[0], n, seed, keep_rates)
    seen: set[int] = set()
    found = [*arrays("pop.", pop, seen)]
    for r in regimes:
        loop = DayLoop(r, compile_regime(r, n), pop, seed, 1 << 14, keep_events=False)
        found += arrays("loop.", loop, seen)
    return sum(a.nbytes for _, a in found) + (pop.proc.nbytes() if pop.proc is not None else 0)


def bytes_per_agent(regime: Regime | list[Regime], n: int) -> float:
    """Bytes an agent of a run of ``n`` agents holds (of a world: its operators' over
    one population), on the graph that run gets and with its rates kept or derived as
    that run has them."""
    from scsim.population.build import keeps_rate_table, procedural

    regimes = regime if isinstance(regime, list) else [regime]
    kind = "procedural" if procedural(regimes[0], n) else "stored"
    probe = [
        r.model_copy(update={"network": r.network.model_copy(update={"graph": kind})})
        for r in regimes
    ]
    keep = keeps_rate_table(regimes[0], n)
    small, large = PROBES
    grown = held_bytes(probe, large, keep_rates=keep) - held_bytes(probe, small, keep_rates=keep)
    return grown / (large - small)


def available_bytes() -> int | None:
    """Memory the machine can give now (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(regime: Regime | list[Regime], n: int) -> None:
    """Refuse a population whose run (of one regime, or a world's operators) would not
    fit in the memory available now."""
    if n < CHECK_ABOVE:
        return
    free = available_bytes()
    if free is None:
        return
    per = bytes_per_agent(regime, n)
    need = BASE_BYTES + per * n * BUILD_PEAK
    if need <= free:
        return
    most = int((free - BASE_BYTES) / (per * BUILD_PEAK)) // 1_000_000 * 1_000_000
    raise OptionError(
        f"population: {n:,} agents of {_names(regime)} need about {need / GIB:,.1f} GiB "
        f"({per:.0f} bytes an agent, a quarter more while the population is built), "
        f"more than the {free / GIB:.1f} GiB available now (allowed here: at most about "
        f"{most:,} agents; docs/performance.md says where the bytes go)"
    )


def _names(regime: Regime | list[Regime]) -> str:
    regimes = regime if isinstance(regime, list) else [regime]
    return " + ".join(r.name for r in regimes)
