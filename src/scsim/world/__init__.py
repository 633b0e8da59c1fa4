"""Worlds: several regimes (operators) scoring one population, with the data flows
and joint sanctions between them. A regime alone is a world of one."""

from scsim.world.load import builtin_world_names, is_world, load, load_world
from scsim.world.schema import Flow, JointSanction, Operator, World

__all__ = [
    "Flow",
    "JointSanction",
    "Operator",
    "World",
    "builtin_world_names",
    "is_world",
    "load",
    "load_world",
]
