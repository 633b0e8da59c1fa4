"""The list-mask rule, once for whole-population (NumPy) readers.

An agent's list mask has bit ``l`` set when it is on list ``l`` (its day count on it
is above 0); compiled tables such as ``Compiled.active[s, grade, mask]`` are indexed
by it. The per-agent kernels in ``engine.settle`` and ``engine.network`` apply the
same rule inside their loops.
"""

from __future__ import annotations

import numpy as np


def list_masks(listed: np.ndarray) -> np.ndarray:
    """int64[n]: each agent's list mask, from one copy's day counts ``listed[L, n]``."""
    mask = np.zeros(listed.shape[-1], dtype=np.int64)
    for li in range(listed.shape[0]):
        mask |= (listed[li] > 0).astype(np.int64) << li
    return mask
