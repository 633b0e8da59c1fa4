"""Counter-based randomness: every draw is a hash of (seed, day, stage, agent, k).

A draw depends only on who, when and what, never on which thread or chunk made it,
so results are identical for any thread count, chunk size or resume point. Behaviour
draws are keyed by the behaviour's *name*, not its position in the file, so two
regimes that share a behaviour see the same true events (common random numbers).
"""

from __future__ import annotations

import zlib

import numpy as np
from numba import njit, prange

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53

# Stage ids: part of every key, fixed forever (changing one changes every result).
BEHAVE = 1
OBSERVE = 2
MATCH = 3
CAPACITY = 4
POP_GROUP = 101
POP_RATE = 102
POP_HOUSEHOLD = 103
POP_GRAPH = 104
POP_ENROL = 105
POP_PLACE = 106
POP_GALLERY = 107  # who is enrolled in each searching observer's gallery
CURE = 5
ACCUSE = 6
APPEAL = 7
SERIOUS = 8
ATTRIBUTE = 9
DEPLOY = 10
DISTANCE = 11
ASSORTATIVITY = 12
GAMING = 13
OPERATOR = 14
FLOW = 15
JOINT = 16


@njit(inline="always", cache=True)
def mix64(z: np.uint64) -> np.uint64:
    """The splitmix64 finaliser: a bijection on 64 bits with full avalanche."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always", cache=True)
def agent_base(key: np.uint64, agent: np.int64) -> np.uint64:
    """The per-agent hash of a (seed, day, stage) key; draws for k hang off it."""
    return mix64(key ^ (np.uint64(agent) * GOLDEN))


@njit(inline="always", cache=True)
def draw(base: np.uint64, k: np.uint64) -> np.uint64:
    """The k-th 64-bit draw of an agent's stream."""
    return mix64(base + (k + np.uint64(1)) * GOLDEN)


@njit(inline="always", cache=True)
def unit(h: np.uint64) -> float:
    """A uniform in [0, 1) from the top 53 bits of a hash."""
    return np.float64(h >> _S11) * _TO_UNIT


def stage_key(seed: int, day: int, stage: int) -> np.uint64:
    """The key of one stage of one day of one run (computed once per day, in Python)."""
    z = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        z = _mix64_py(z ^ (np.uint64(stage) * GOLDEN))
        z = _mix64_py(z + np.uint64(day + 1) * GOLDEN)
    return z


def _mix64_py(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def unit_py(key: np.uint64) -> float:
    """A uniform in [0, 1) from a key, in Python (for once-a-day draws)."""
    with np.errstate(over="ignore"):
        return float(_mix64_py(key) >> _S11) * _TO_UNIT


def name_key(name: str) -> np.uint64:
    """A stable 64-bit key for a behaviour (or other) name, for common random numbers."""
    lo = zlib.crc32(name.encode())
    hi = zlib.crc32(name.encode()[::-1] + b"scsim")
    return np.uint64((hi << 32) | lo)


@njit(parallel=True, cache=True)
def _uniforms(key, n):
    out = np.empty(n)
    for i in prange(n):
        out[i] = unit(draw(agent_base(key, i), np.uint64(0)))
    return out


def uniforms(key: np.uint64, n: int) -> np.ndarray:
    """One uniform per agent for a (seed, stage) key: per-agent attributes."""
    return _uniforms(key, n)
