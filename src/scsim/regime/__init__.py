"""The regime file format: schema, loader and the built-in regimes.

A regime is read once, validated into frozen pydantic models, and then compiled by the
engine into flat arrays; nothing downstream reads YAML or dicts.
"""

from scsim.regime.loader import builtin_names, load_regime
from scsim.regime.schema import (
    Appeals,
    AppliesTo,
    Behaviour,
    Blacklist,
    Cure,
    Enrolment,
    EnterOnEvent,
    EnterOnGrade,
    Exit,
    FalseAccusations,
    Grade,
    Group,
    Households,
    ListSpec,
    Network,
    Observer,
    Place,
    Regime,
    Rule,
    Sanction,
    Score,
)

__all__ = [
    "Appeals",
    "AppliesTo",
    "Behaviour",
    "Blacklist",
    "Cure",
    "Enrolment",
    "EnterOnEvent",
    "EnterOnGrade",
    "Exit",
    "FalseAccusations",
    "Grade",
    "Group",
    "Households",
    "ListSpec",
    "Network",
    "Observer",
    "Place",
    "Regime",
    "Rule",
    "Sanction",
    "Score",
    "builtin_names",
    "load_regime",
]
