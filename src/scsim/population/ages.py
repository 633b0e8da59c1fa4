"""Ages from a hash: who is a child, who applies to university this year.

An agent's age is a hash of its id, uniform over 0..79 years (each one-year cohort
1.25 % of the population; China's are about 1.2 %), the same in every run and never
stored: a family sanction with ``applies_to.ages`` reads it where it needs it. Ages do
not advance during a run (runs are a few years at most; a cohort keeps its age).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scsim.core import rng

#: Ages are 0 .. MAX_AGE - 1.
MAX_AGE = 80
_KEY = rng.name_key("age")


@njit(inline="always", cache=True)
def age_of(i):
    """Agent i's age in whole years."""
    return np.int64(rng.unit(rng.agent_base(_KEY, np.int64(i))) * MAX_AGE)


def ages(n: int) -> np.ndarray:
    """Every agent's age (for metrics and tests), uint8."""
    out = np.empty(n, dtype=np.uint8)
    _fill(out)
    return out


@njit(parallel=True, cache=True)
def _fill(out):
    for i in prange(out.size):
        out[i] = age_of(i)
