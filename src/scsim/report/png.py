"""Static figures for papers: one PNG per chart, drawn with matplotlib.

matplotlib installs from PyPI as wheels on a bare machine; plotly's static export
(kaleido) downloads a browser, which is refused here and unwelcome on a reviewer's
machine. Charts come from the same specs as the HTML report, with the same titles,
axis labels and readings (the readings go to ``captions.md`` beside the images, for a
paper's captions). A Sankey has no matplotlib equivalent worth the name, so the grade
flows are drawn as a from-by-to matrix of moves.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scsim.report.spec import Chart, Part

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 150
SIZE = (8.0, 4.6)


def write(parts: list[Part], directory: Path) -> list[Path]:
    """Write every chart of ``parts`` into ``directory`` plus ``captions.md``."""
    written = []
    captions = ["# Figures", ""]
    for part in parts:
        for chart in part.charts():
            path = directory / f"{chart.key}.png"
            draw(chart).savefig(path, dpi=DPI)
            written.append(path)
            captions += [f"## {path.name}", "", f"**{chart.title}.** {chart.reading}", ""]
    index = directory / "captions.md"
    index.write_text("\n".join(captions), encoding="utf-8")
    return [*written, index]


def draw(chart: Chart) -> Figure:
    """A matplotlib Figure for ``chart`` (no pyplot: no global state, no GUI backend)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, layout="constrained")
    ax = fig.add_subplot()
    if chart.kind == "sankey":
        _matrix(ax, chart)
    elif chart.kind in ("line", "area"):
        if chart.kind == "area":
            ax.stackplot(
                chart.series[0].x,
                [list(s.y) for s in chart.series],
                labels=[s.name for s in chart.series],
            )
        else:
            for s in chart.series:
                line = ax.plot(s.x, [_nan(v) for v in s.y], label=s.name)[0]
                if s.lo is not None and s.hi is not None:
                    lo, hi = [_nan(v) for v in s.lo], [_nan(v) for v in s.hi]
                    ax.fill_between(s.x, lo, hi, color=line.get_color(), alpha=0.2)
        ax.set_xlabel(chart.x_label)
        ax.set_ylabel(chart.y_label)
    elif chart.kind == "hist":
        s = chart.series[0]
        ax.bar(s.x, s.y, width=chart.bin_width)
        ax.set_xlabel(chart.x_label)
        ax.set_ylabel(chart.y_label)
    else:
        _bars(ax, chart)
    title = chart.title + (" (as a from-by-to matrix)" if chart.kind == "sankey" else "")
    ax.set_title(title, fontsize=10, loc="left")
    if chart.kind in ("line", "area", "bar") and len(chart.series) > 1:
        ax.legend(fontsize=8, loc="best")
    return fig


def _bars(ax: Axes, chart: Chart) -> None:
    categories = list(chart.series[0].x)
    width = 0.8 / max(1, len(chart.series))
    base = np.arange(len(categories))
    for i, s in enumerate(chart.series):
        ax.bar(base + i * width - 0.4 + width / 2, s.y, width=width, label=s.name)
    ax.set_xticks(base, categories, rotation=30 if len(categories) > 4 else 0, ha="right")
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)


def _matrix(ax: Axes, chart: Chart) -> None:
    k = len(chart.nodes) // 2
    grades = [n.removesuffix(" (from)") for n in chart.nodes[:k]]
    cube = np.zeros((k, k))
    for src, dst, value in chart.links:
        cube[src, dst - k] += value
    ax.imshow(cube, cmap="Blues")
    top = cube.max()
    for i in range(k):
        for j in range(k):
            if cube[i, j]:
                colour = "white" if cube[i, j] > top / 2 else "black"
                ax.text(
                    j, i, f"{int(cube[i, j]):,}", ha="center", va="center", fontsize=8, color=colour
                )
    ax.set_xticks(range(k), grades)
    ax.set_yticks(range(k), grades)
    ax.set_xlabel("grade after the move (to)")
    ax.set_ylabel("grade before the move (from)")


def _nan(value: float) -> float:
    return value if math.isfinite(value) else math.nan
