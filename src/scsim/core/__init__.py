"""The bottom layer: what every other package imports *down* from, importing nothing
of scsim above it (the counter-based random numbers, the fixed-point unit).

``population``, ``metrics`` and ``engine`` all build on it, so none of them needs the
engine for a hash or a unit, and the package graph has no cycle through them.
"""
