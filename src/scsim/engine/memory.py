"""How much memory a run will hold, known before it is made.

A run too big for the machine should be refused with the figure, not killed by the
kernel's out-of-memory killer an hour in. Two small probes of the same regime, on the
graph the full run would get, give the bytes per agent (their difference, so the
fixed-size parts do not count per agent); the population build holds temporaries on
top, about a quarter more at its peak (`bench/china_scale.py`: 4.1 GiB resident for
3.4 GiB of arrays at 60M agents of `national`).

Two more things hold memory that the agent count does not show: the event log (every
recorded event, kept for ``explain``), which grows with rates, days and watchers rather
than with agents alone (a regime whose rates sit at the top of their allowed range
records billions of events in a year of 100,000 people), and each day's buffers of
true events. Both are estimated from the regime's rates.

"Available" is the least of what the machine, the process's limits and its control
group allow: ``MemAvailable``, ``ulimit -v`` (RLIMIT_AS) and ``ulimit -d``
(RLIMIT_DATA) less what the process already maps, and a cgroup v1 or v2 memory limit
less its usage (containers and batch schedulers set these; ``MemAvailable`` does not
see them).
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

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
#: Bytes a recorded event holds at the peak: 22 in the log while the run goes, then
#: the log joined into one array (22 more) and widened into the frame (41 a row).
EVENT_BYTES = 90
#: Bytes a true event of a day holds in the day's buffers (its packed draw, then the
#: columns of the events observed).
DAY_EVENT_BYTES = 48


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

    regimes = _listed(regime)
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

    regimes = _listed(regime)
    kind = "procedural" if procedural(regimes[0], n) else "stored"
    probe = [
        r.model_copy(update={"network": r.network.model_copy(update={"graph": kind})})
        for r in regimes
    ]
    keep = keeps_rate_table(regimes[0], n)
    small, large = PROBES
    grown = held_bytes(probe, large, keep_rates=keep) - held_bytes(probe, small, keep_rates=keep)
    return grown / (large - small)


def recorded_per_agent_day(regime: Regime) -> tuple[float, float]:
    """(true events, recorded events) a person-day, expected from the regime's rates:
    group multipliers weighted by share, each watcher's place-weighted coverage times
    detection, plus false accusations and a false match at most per comparison. An
    upper bound where responses (deterrence, chilling) lower rates."""
    shares = np.array([g.share for g in regime.groups]) if regime.groups else np.ones(1)
    shares = shares / shares.sum()
    places = regime.places or []
    weights = {p.name: p.share for p in places}
    total_place = sum(weights.values()) or 1.0
    true = recorded = 0.0
    for name, beh in regime.behaviours.items():
        mult = [g.rate_multiplier.get(name, 1.0) for g in regime.groups] or [1.0]
        rate = beh.rate * float(np.dot(shares, mult))
        seen = sum(_in_view(obs, weights, total_place) * obs.detection
                   for obs in regime.observers if name in obs.watches)  # fmt: skip
        true += rate
        recorded += rate * seen
    for obs in regime.observers:
        if obs.false_accusations is not None:
            recorded += obs.false_accusations.rate * max(
                [g.accusation_multiplier for g in regime.groups] or [1.0]
            )
    return true, recorded


def _in_view(obs, weights: dict[str, float], total: float) -> float:
    if isinstance(obs.coverage, dict):
        return sum(weights.get(p, 0.0) * c for p, c in obs.coverage.items()) / total
    return float(obs.coverage)


def available_bytes() -> int | None:
    """Memory this process can still get: the least of the machine's ``MemAvailable``,
    the rlimits and the cgroup limit (see :func:`limits`); None if none is known."""
    found = [v for v in limits().values() if v is not None]
    return min(found) if found else None


def limits(proc: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> dict:
    """What each bound leaves, in bytes (None: no such bound or unknown)."""
    status = _status(proc / "self" / "status")
    return {
        "available on the machine": _meminfo(proc / "meminfo"),
        "ulimit -v": _rlimit_left(resource.RLIMIT_AS, status.get("VmSize")),
        "ulimit -d": _rlimit_left(resource.RLIMIT_DATA, status.get("VmData")),
        "cgroup memory limit": cgroup_left(proc / "self" / "cgroup", cgroup_root),
    }


def _meminfo(path: Path) -> int | None:
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _status(path: Path) -> dict[str, int]:
    """``/proc/self/status`` sizes in bytes (VmSize: mapped; VmData: data segment)."""
    out = {}
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                out[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    return out


def _rlimit_left(which: int, used: int | None) -> int | None:
    soft, _ = resource.getrlimit(which)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(0, soft - (used or 0))


def cgroup_left(cgroup_file: Path, root: Path) -> int | None:
    """The tightest memory limit less usage over the process's cgroup and its
    parents, v2 (``memory.max``) or v1 (``memory.limit_in_bytes``); None if none."""
    try:
        lines = cgroup_file.read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    left = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            base, files = root, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base, files = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        for directory in _ancestors(base, path):
            limit, usage = (_read_int(directory / f) for f in files)
            if limit is not None and limit < 2**60:  # v1 writes "no limit" as ~2^63
                left.append(max(0, limit - (usage or 0)))
    return min(left) if left else None


def _ancestors(base: Path, path: str) -> list[Path]:
    """``base/path`` and each parent up to ``base`` (a container often sees its own
    cgroup mounted at ``base``, so the path's deeper levels may not exist)."""
    parts = [p for p in path.split("/") if p]
    return [base.joinpath(*parts[:k]) for k in range(len(parts), -1, -1)]


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def check_fits(
    regime: Regime | list[Regime], n: int, days: int = 1, keep_events: bool = False
) -> None:
    """Refuse a run (of one regime, or of a world's operators over one population)
    whose arrays, day buffers and event log would not fit in the memory this process
    can get now (the machine, its rlimits, its cgroup)."""
    rates = [recorded_per_agent_day(r) for r in _listed(regime)]
    true, recorded = (sum(col) for col in zip(*rates, strict=True))
    log = recorded * n * days * EVENT_BYTES if keep_events else 0.0
    day = true * n * DAY_EVENT_BYTES
    if n < CHECK_ABOVE and log + day < GIB:
        return  # fits anywhere scsim runs; not worth the probes
    bounds = {k: v for k, v in limits().items() if v is not None}
    free = available_bytes()
    if free is None:
        return
    per = bytes_per_agent(regime, n) if n >= CHECK_ABOVE else 0.0
    need = BASE_BYTES + per * n * BUILD_PEAK + day + log
    if need <= free:
        return
    tightest = min(bounds, key=bounds.get) if bounds else "available"
    name = " + ".join(r.name for r in _listed(regime))
    raise OptionError(_refusal(name, n, days, need, free, per, log, recorded, tightest))


def _listed(regime: Regime | list[Regime]) -> list[Regime]:
    return regime if isinstance(regime, list) else [regime]


def _refusal(name, n, days, need, free, per, log, recorded, tightest) -> str:
    parts = []
    if per:
        parts.append(f"{per:.0f} bytes an agent, a quarter more while the population is built")
    if log:
        parts.append(
            f"{log / GIB:,.1f} GiB for the event log: about {recorded * n * days:,.3g} "
            f"recorded events at {EVENT_BYTES} bytes"
        )
    text = (
        f"population: {n:,} agents of {name} for {days:,} day{'s' * (days != 1)} "
        "need about "
        f"{need / GIB:,.1f} GiB ({'; '.join(parts) or 'the day buffers'}), more than the "
        f"{free / GIB:.1f} GiB available now (the tightest bound: {tightest})"
    )
    if per * n * BUILD_PEAK >= log:
        most = int((free - BASE_BYTES) / (per * BUILD_PEAK)) // 1_000_000 * 1_000_000
        text += f" (allowed here: at most about {max(most, 0):,} agents"
    else:
        text += " (--no-events, or keep_events=False, keeps aggregates only; fewer days or"
        text += " agents also fit"
    return text + "; docs/performance.md says where the bytes go)"
