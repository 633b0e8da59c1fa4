"""The ceiling: how fast a minimal fused day kernel runs on this machine.

    python bench/fused_ceiling.py [--n 10000000] [--days 10]

Not scsim's engine: a yardstick for it. One parallel sweep a day does, per agent, what
every regime needs at least: one counter-based hash (does anything happen today?),
on the rare event day a second hash to pick the behaviour and its points, the score
clamped, the grade looked up, a day count in the lowest grade, and the tallies per
grade. Variants add network liability (each score moves 1 % towards the friends'
mean): friends on a ring lattice only (ten reads of nearby ids), or nine on the
lattice and one far friend (a random read, the cache miss a small world costs), read
one agent at a time or gathered 256 agents at a time (so the misses overlap). The
state is 4 bytes of score and 2 of days in grade, plus a 4-byte copy of yesterday's
scores when liability is on.

Prints the median day and agent-days/s per variant, so the engine's figures in
docs/performance.md can be read against what this machine can do at all.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
from numba import njit, prange

from scsim.core import rng

SCALE = 256
GRADE_MIN = np.array([1300, 1150, 1000, 850, 600], dtype=np.int64) * SCALE
POINTS = np.array([-100, -10, -5, -5, -20, -50, -10, -10, 1, 5], dtype=np.int64) * SCALE
RATES = np.array([5e-6, 2e-3, 3e-3, 5e-3, 3e-4, 2e-5, 2e-3, 2e-4, 5e-2, 1.5e-3])


@njit(inline="always")
def _day_one(i, s, key, lam, cum):
    h = rng.draw(rng.agent_base(key, i), np.uint64(0))
    if rng.unit(h) < lam:  # ~6 % of agent-days: one event (enough for a yardstick)
        u = rng.unit(rng.mix64(h)) * cum[-1]
        b = 0
        while cum[b] < u:
            b += 1
        s += POINTS[b]
    return max(s, 0)


@njit(inline="always")
def _grade(s):
    for k in range(GRADE_MIN.size):
        if s >= GRADE_MIN[k]:
            return k
    return GRADE_MIN.size


@njit(parallel=True, cache=True)
def day_plain(key, score, gdays, cum, lam, chunk, tallies):
    n = score.size
    for blk in prange(tallies.shape[0]):
        tallies[blk] = 0
        for i in range(blk * chunk, min(n, (blk + 1) * chunk)):
            s = _day_one(i, np.int64(score[i]), key, lam, cum)
            k = _grade(s)
            gdays[i] = min(gdays[i] + 1, 65535) if k == GRADE_MIN.size else 0
            score[i] = s
            tallies[blk, k] += 1


@njit(parallel=True, cache=True)
def day_liability(key, score, old, gdays, cum, lam, chunk, tallies, far_key, n_far):
    n = score.size
    for blk in prange(tallies.shape[0]):
        tallies[blk] = 0
        for i in range(blk * chunk, min(n, (blk + 1) * chunk)):
            tot = np.int64(0)
            for d in range(1, 6):
                up, down = i + d, i - d
                tot += old[up - n if up >= n else up] + old[down + n if down < 0 else down]
            cnt = 10 - n_far
            if n_far:
                tot -= old[i + 5 - n if i + 5 >= n else i + 5]  # the far friend replaces it
            for f in range(n_far):
                j = rng.draw(rng.agent_base(far_key, i), np.uint64(f)) % np.uint64(n)
                tot += old[j]
                cnt += 1
            s = np.int64(old[i])
            s += (tot // cnt - s) // 100
            s = _day_one(i, s, key, lam, cum)
            k = _grade(s)
            gdays[i] = min(gdays[i] + 1, 65535) if k == GRADE_MIN.size else 0
            score[i] = s
            tallies[blk, k] += 1


@njit(parallel=True, cache=True)
def day_liability_batched(key, score, old, gdays, cum, lam, chunk, tallies, far_key):
    # As day_liability with one far friend, but the far friends' scores of 256 agents
    # are gathered before any is used: the cache misses overlap instead of queueing.
    n = score.size
    for blk in prange(tallies.shape[0]):
        tallies[blk] = 0
        far = np.empty(256, dtype=np.int64)
        stop = min(n, (blk + 1) * chunk)
        for first in range(blk * chunk, stop, 256):
            last = min(stop, first + 256)
            for i in range(first, last):
                j = rng.draw(rng.agent_base(far_key, i), np.uint64(0)) % np.uint64(n)
                far[i - first] = old[j]
            for i in range(first, last):
                tot = far[i - first]
                for d in range(1, 6):
                    up, down = i + d, i - d
                    tot += old[up - n if up >= n else up] + old[down + n if down < 0 else down]
                tot -= old[i + 5 - n if i + 5 >= n else i + 5]
                s = np.int64(old[i])
                s += (tot // 10 - s) // 100
                s = _day_one(i, s, key, lam, cum)
                k = _grade(s)
                gdays[i] = min(gdays[i] + 1, 65535) if k == GRADE_MIN.size else 0
                score[i] = s
                tallies[blk, k] += 1


def measure(variant: str, n: int, days: int, chunk: int = 1 << 14) -> list[float]:
    score = np.full(n, 1000 * SCALE, dtype=np.int32)
    old = np.empty_like(score)
    gdays = np.zeros(n, dtype=np.uint16)
    cum = np.cumsum(RATES)
    lam = float(RATES.sum())
    tallies = np.zeros((-(-n // chunk), GRADE_MIN.size + 1), dtype=np.int64)
    times = []
    for day in range(days + 1):  # day 0 compiles
        key = rng.stage_key(1, day, rng.BEHAVE)
        t = time.perf_counter()
        if variant == "no neighbour reads":
            day_plain(key, score, gdays, cum, lam, chunk, tallies)
        elif "batched" in variant:
            np.copyto(old, score)
            day_liability_batched(key, score, old, gdays, cum, lam, chunk, tallies, key ^ 7)
        else:
            np.copyto(old, score)
            n_far = 1 if "far" in variant else 0
            day_liability(key, score, old, gdays, cum, lam, chunk, tallies, key ^ 7, n_far)
        times.append(time.perf_counter() - t)
        assert tallies.sum() == n
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=10)
    args = parser.parse_args()
    print(f"{args.n:,} agents, {args.days} days, {numba.get_num_threads()} threads")
    print(f"{'variant':42} {'day ms (median)':>16} {'agent-days/s':>14}")
    for variant in (
        "no neighbour reads",
        "liability, 10 lattice friends",
        "liability, 9 lattice + 1 far friend",
        "liability, 9 lattice + 1 far friend, batched",
    ):
        med = statistics.median(measure(variant, args.n, args.days))
        print(f"{variant:42} {med * 1e3:16.1f} {args.n / med:14.3g}")


if __name__ == "__main__":
    main()
