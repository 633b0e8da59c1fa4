"""Synthetic populations from aggregate parameters (never person-level data)."""

from scsim.population.build import Population, build_population

__all__ = ["Population", "build_population"]
