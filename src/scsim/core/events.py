"""How a day's events are packed, and the key an observer draws an event by.

An event is one int64 (agent, behaviour, observer slot, index of the event in the
agent's day of that behaviour), so the sparse stages move one array. behave packs
events and observe reads them: both import this layout from here, below them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from scsim.limits import EVENT_INDEX_BITS

# Fields from the top: agent, behaviour, observer, index of the event in the day (16 bits).
_SHIFT_OBS = np.int64(16)
_SHIFT_BEH = np.int64(16 + EVENT_INDEX_BITS)
_SHIFT_AGENT = np.int64(16 + 2 * EVENT_INDEX_BITS)
_BYTE = np.int64((1 << EVENT_INDEX_BITS) - 1)
_WORD = np.int64(0xFFFF)
_EVENT_STRIDE = np.uint64(0xD1B54A32D192ED03)


@njit(inline="always", cache=True)
def event_key(beh_key, e, obs_key):
    """The draw index of event e of a behaviour as seen by an observer.

    Keys come from names, so reordering a file's behaviours or observers, or adding
    one, leaves every other draw as it was.
    """
    return beh_key + np.uint64(e) * _EVENT_STRIDE + obs_key


@njit(inline="always", cache=True)
def pack(agent, beh, obs, idx):
    return (
        (np.int64(agent) << _SHIFT_AGENT)
        | (np.int64(beh) << _SHIFT_BEH)
        | (np.int64(obs) << _SHIFT_OBS)
        | np.int64(idx)
    )


@njit(cache=True)
def unpack(packed):
    agent = (packed >> _SHIFT_AGENT).astype(np.int64)
    beh = (packed >> _SHIFT_BEH) & _BYTE
    obs = (packed >> _SHIFT_OBS) & _BYTE
    idx = packed & _WORD
    return agent, beh, obs, idx
