"""The self-contained HTML report: one file, plotly's JavaScript inlined once, no
request to any network when it opens.

Why inline: an audit is read on a journalist's laptop on a train, or archived next to
a paper; a report that fetches its charting library from a CDN shows nothing offline
and leaks that it was opened. ``plotly.offline.get_plotlyjs()`` is the same bundle
``include_plotlyjs=True`` embeds; it goes into the page's head once, and every chart
is a div plus a call to ``Plotly.newPlot``.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scsim.report.spec import Chart, Part, Section

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from scsim.report.plain import Table

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
HEIGHT = 430

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       color: #1d1d1f; background: #fafafa; line-height: 1.45; }
main { max-width: 1080px; margin: 0 auto; padding: 1.5rem 1.5rem 4rem; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
h2 { margin-top: 2.5rem; border-bottom: 2px solid #ccc; padding-bottom: .2rem; }
h3 { margin-top: 1.8rem; }
.boundary { background: #fff4d6; border-left: 4px solid #e0a800; padding: .6rem .9rem; }
figure { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px;
         margin: 1rem 0; padding: .5rem; }
figcaption { font-size: .95rem; padding: .3rem .5rem .2rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; background: #fff; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #555; font-size: .9rem; }
"""


def render(parts: list[Part], title: str, subtitle: str) -> str:
    """The whole page as one string."""
    from plotly.offline import get_plotlyjs

    body = [f"<h1>{_e(title)}</h1>", f'<p class="meta">{_e(subtitle)}</p>']
    body.append(
        '<p class="boundary">Every person in this report is synthetic: scsim simulates '
        "made-up citizens only and never reads, identifies, scores or ranks a real "
        "person.</p>"
    )
    body.append(_contents(parts))
    counter = itertools.count()
    for part in parts:
        body.append(f'<h2 id="{_e(part.key)}">{_e(part.title)}</h2>')
        for section in part.sections:
            body.append(_section(part, section, counter))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n'
        "</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def write(parts: list[Part], path: Path, title: str, subtitle: str) -> Path:
    path.write_text(render(parts, title, subtitle), encoding="utf-8")
    return path


def _contents(parts: list[Part]) -> str:
    items = []
    for part in parts:
        inner = "".join(
            f'<li><a href="#{_e(part.key)}-{_e(s.key)}">{_e(s.title)}</a></li>'
            for s in part.sections
        )
        items.append(f'<li><a href="#{_e(part.key)}">{_e(part.title)}</a><ul>{inner}</ul></li>')
    return "<nav><strong>Contents</strong><ul>" + "".join(items) + "</ul></nav>"


def _section(part: Part, section: Section, counter: Iterator[int]) -> str:
    out = [f'<h3 id="{_e(part.key)}-{_e(section.key)}">{_e(section.title)}</h3>']
    out += [f"<p>{_e(p)}</p>" for p in section.paragraphs]
    out += [_table(t) for t in section.tables]
    if section.bullets:
        heading = "Sources" if section.key == "regime" else "Notes"
        items = "".join(f"<li>{_e(b)}</li>" for b in section.bullets)
        out.append(f"<p><strong>{heading}</strong></p><ul>{items}</ul>")
    for chart in section.charts:
        out.append(_chart(chart, next(counter)))
    return "\n".join(out)


def _table(table: Table) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
    return (
        f"<table><caption>{_e(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _cell(value: str) -> str:
    """Numbers (``1,234``, ``-5``, ``2.3%``, ``3.65e-05``) align right."""
    try:
        float(value.replace(",", "").rstrip("%"))
        cls = ' class="num"'
    except ValueError:
        cls = ""
    return f"<td{cls}>{_e(value)}</td>"


def _chart(chart: Chart, index: int) -> str:
    import plotly.io as pio

    div = pio.to_html(
        figure(chart),
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{index}-{chart.key}",
        config=PLOT_CONFIG,
        default_height=HEIGHT,
    )
    return (
        f'<figure data-chart="{_e(chart.key)}">{div}'
        f"<figcaption>{_e(chart.reading)}</figcaption></figure>"
    )


def figure(chart: Chart) -> go.Figure:
    """The plotly figure of a chart spec: title, axis titles with units, legend."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if chart.kind == "sankey":
        fig.add_trace(
            go.Sankey(
                node={"label": list(chart.nodes), "pad": 14, "thickness": 16},
                link={
                    "source": [s for s, _, _ in chart.links],
                    "target": [t for _, t, _ in chart.links],
                    "value": [v for _, _, v in chart.links],
                },
                valueformat=",d",
                valuesuffix=" moves",
            )
        )
        fig.add_annotation(
            text=f"{chart.x_label}; {chart.y_label}",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=-0.08,
        )
    else:
        for series in chart.series:
            y = [None if isinstance(v, float) and math.isnan(v) else v for v in series.y]
            if chart.kind == "line" and series.lo is not None and series.hi is not None:
                _band(fig, series)
            if chart.kind == "line":
                fig.add_trace(go.Scatter(x=list(series.x), y=y, name=series.name, mode="lines"))
            elif chart.kind == "area":
                fig.add_trace(
                    go.Scatter(
                        x=list(series.x), y=y, name=series.name, mode="lines", stackgroup="one"
                    )
                )
            elif chart.kind == "hist":
                fig.add_trace(
                    go.Bar(x=list(series.x), y=y, name=series.name, width=chart.bin_width)
                )
            else:
                fig.add_trace(go.Bar(x=list(series.x), y=y, name=series.name))
        fig.update_xaxes(title_text=chart.x_label)
        fig.update_yaxes(title_text=chart.y_label)
        if chart.kind == "hist":
            fig.update_layout(bargap=0, showlegend=False)
    fig.update_layout(
        title={"text": chart.title, "x": 0.01},
        template="plotly_white",
        margin={"l": 70, "r": 20, "t": 60, "b": 70},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def _band(fig: go.Figure, series) -> None:
    """The 95% interval of a line over replicates: the upper edge, then the lower
    filled up to it."""
    import plotly.graph_objects as go

    x = list(series.x)
    edges = [[None if math.isnan(v) else v for v in e] for e in (series.hi, series.lo)]
    name = f"{series.name}: 95% interval over replicates"
    fig.add_trace(go.Scatter(x=x, y=edges[0], mode="lines", line={"width": 0}, name=name,
                             showlegend=False, hoverinfo="skip"))  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=edges[1], mode="lines", line={"width": 0}, name=name,
                             fill="tonexty", opacity=0.25))  # fmt: skip


def subtitle_now() -> str:
    return f"made by scsim on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
