"""The limits every layer checks against, each in one place.

This module imports nothing from scsim, so the schema, the population builder, the
engine and the CLI all import their bounds *down* from here and cannot disagree.
"""

#: Most agents a run can simulate (agent ids are int32 in the logs and the graph).
MAX_POPULATION = 2_000_000_000
#: Most real people a population can stand for (``represents``): about the world's.
MAX_REPRESENTS = 10_000_000_000
#: Longest run, and longest span in days (terms, windows, delays): a century.
MAX_DAYS = 36_500
#: Largest seed (seeds are hashed as unsigned 64-bit words; kept positive for JSON).
MAX_SEED = 2**63 - 1
#: Bits of a behaviour's index, and of an observer's, in a packed event
#: (``core.events``): the schema's bounds on behaviours and observers come from them.
EVENT_INDEX_BITS = 8
