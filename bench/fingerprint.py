"""A fingerprint of every built-in regime and world: one hash per run of its daily frame,
final agents, event log, grade transitions and list log.

Changes that must not move a result (a restructuring, a faster kernel, a new store
column) are checked by printing the fingerprints before and after and comparing them:

    python bench/fingerprint.py > before.txt
    ... change the code ...
    python bench/fingerprint.py > after.txt && diff before.txt after.txt

The runs are small (the default 20,000 agents for 120 days), so the whole set takes
well under a minute once the kernels are compiled; `--population` and `--days` change
that, `--threads` checks that the thread count changes nothing.
"""

from __future__ import annotations

import argparse
import hashlib

import polars as pl

import scsim

FRAMES = ("daily", "agents", "events", "transitions", "list_moves")


def digest(frame: pl.DataFrame | None) -> str:
    """A short hash of a frame's values and column names (None for a frame not kept)."""
    if frame is None:
        return "-"
    h = hashlib.sha256(",".join(frame.columns).encode())
    h.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return h.hexdigest()[:12]


def fingerprint(name: str, population: int, days: int, seed: int, threads: int | None) -> str:
    run = scsim.simulate(
        scsim.load(name), population=population, days=days, seed=seed, threads=threads
    )
    parts = [f"{f}={digest(getattr(run, f, None))}" for f in FRAMES]
    return f"{name:<26} " + " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="regimes or worlds (default: every built-in)")
    parser.add_argument("--population", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    names = args.names or [*scsim.builtin_regimes(), *scsim.builtin_worlds()]
    for name in names:
        print(fingerprint(name, args.population, args.days, args.seed, args.threads), flush=True)


if __name__ == "__main__":
    main()
