"""Analysis over finished runs: paired comparisons, per-group impact, replicates.

Everything here reads ``Run`` frames only (never the engine's state), so a run loaded
from the store is analysed exactly like a fresh one.
"""
