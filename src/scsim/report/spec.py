"""What a report shows, independent of how it is drawn.

A chart is data plus words: a title, axis labels with units, and a one-sentence
reading computed from the same numbers. The HTML report draws it with plotly and the
figures for papers with matplotlib; both read this spec, so the two cannot tell
different stories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from scsim.report.plain import Table

Kind = Literal["line", "area", "bar", "hist", "sankey"]


@dataclass(frozen=True)
class Series:
    """One line, stacked band or set of bars: a name, x values and y values.

    ``lo`` and ``hi`` (a line over replicates): the 95% interval around ``y``, drawn
    as a band."""

    name: str
    x: Sequence[float | str]
    y: Sequence[float]
    lo: Sequence[float] | None = None
    hi: Sequence[float] | None = None


@dataclass(frozen=True)
class Chart:
    """One figure.

    ``line``: series over x; ``area``: series stacked (shares); ``bar``: grouped bars
    (categories on x); ``hist``: one series of bin counts at bin centres, bars of
    ``bin_width``; ``sankey``: ``links`` (from node, to node, value) over ``nodes``.
    """

    key: str
    title: str
    reading: str
    kind: Kind
    x_label: str
    y_label: str
    series: tuple[Series, ...] = ()
    bin_width: float = 1.0
    nodes: tuple[str, ...] = ()
    links: tuple[tuple[int, int, float], ...] = ()


@dataclass
class Section:
    """A titled part of the report: prose, tables and charts, in that order."""

    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)


@dataclass
class Part:
    """The sections about one run, or the comparison of several."""

    key: str
    title: str
    sections: list[Section]

    def charts(self) -> list[Chart]:
        return [c for s in self.sections for c in s.charts]
