"""The regime file format: schema, loader and the built-in regimes.

A regime is read once, validated into frozen pydantic models, and then compiled by the
engine into flat arrays; nothing downstream reads YAML or dicts.
"""

from scsim.regime.loader import builtin_names, load_regime
from scsim.regime.schema import (
    AppliesTo,
    Behaviour,
    Blacklist,
    EnterOnEvent,
    EnterOnGrade,
    Exit,
    Grade,
    Group,
    Households,
    Network,
    Observer,
    Regime,
    Rule,
    Sanction,
    Score,
)

__all__ = [
    "AppliesTo",
    "Behaviour",
    "Blacklist",
    "EnterOnEvent",
    "EnterOnGrade",
    "Exit",
    "Grade",
    "Group",
    "Households",
    "Network",
    "Observer",
    "Regime",
    "Rule",
    "Sanction",
    "Score",
    "builtin_names",
    "load_regime",
]
