"""Figures of experiments: each metric against each parameter with replicate
intervals (``scsim report EXPERIMENT``), and the sensitivity indices (bars with
bootstrap whiskers for Sobol, the mu*-sigma plane for Morris).

Each figure is computed once as a small table of (x, mean, lo, hi) and drawn by
plotly for the offline HTML page or by matplotlib for PNGs, so both tell one story.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from scsim.analysis.stats import t_interval

_FIXED = ("point", "replicate", "seed", "status", "message")
DPI = 150


@dataclass(frozen=True)
class Panel:
    """A metric against a parameter: one marker per design point (the replicates'
    mean and 95% t-interval); ``reading`` says what the figure shows."""

    key: str
    metric: str
    parameter: str
    x: list[Any]
    mean: list[float]
    lo: list[float]
    hi: list[float]
    reading: str


def panels(frame: pl.DataFrame, columns: list[str]) -> list[Panel]:
    """Every metric against every parameter (the dummy left out)."""
    ok = frame.filter(pl.col("status") == "ok")
    metrics = [c for c in frame.columns if c not in _FIXED and c not in columns]
    params = [c for c in columns if c != "dummy"]
    out = []
    for m in metrics:
        by_point = ok.group_by("point", maintain_order=True).agg(
            *(pl.col(p).first() for p in params), pl.col(m)
        )
        for p in params:
            rows = sorted(
                ((r[p], t_interval(r[m])) for r in by_point.iter_rows(named=True)),
                key=lambda t: (t[0] is None, str(type(t[0])), t[0] if t[0] is not None else 0),
            )
            x = [r[0] for r in rows]
            mean, lo, hi = ([r[1][i] for r in rows] for i in range(3))
            out.append(Panel(f"{_slug(m)}--{_slug(p)}", m, p, x, mean, lo, hi,
                             _trend(m, p, x, mean)))  # fmt: skip
    return out


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _trend(metric: str, param: str, x: list[Any], mean: list[float]) -> str:
    """Rank correlation in words: numbers only, else the level with the highest mean."""
    pairs = [(a, b) for a, b in zip(x, mean, strict=True) if math.isfinite(b)]
    if len(pairs) < 2:
        return f"{metric}: too few defined points to read a trend in {param}."
    if all(isinstance(a, int | float) and not isinstance(a, bool) for a, _ in pairs):
        from scipy.stats import spearmanr

        xs, ys = [a for a, _ in pairs], [b for _, b in pairs]
        if len(set(xs)) < 2 or len(set(ys)) < 2:
            return f"{metric} does not change with {param} here."
        rho = spearmanr(xs, ys).statistic
        way = "rises" if rho > 0 else "falls"
        return f"{metric} {way} with {param} (Spearman rank correlation {rho:+.2f} over points)."
    top = max(pairs, key=lambda t: t[1])
    return f"{metric} is highest at {param} = {top[0]} ({top[1]:.4g} on average)."


def write_experiment_report(
    frame: pl.DataFrame, meta: dict[str, Any], output: Path, format_: str
) -> list[Path]:
    """The experiment's figures: one HTML file, or a directory of PNGs."""
    found = panels(frame, meta["columns"])
    failed = frame.filter(pl.col("status") == "failed").height
    title = f"scsim experiment {meta['id']}"
    note = (
        f"{meta['points']} points x {meta['replicates']} replicates of {meta['spec']['regime']} "
        f"({meta['spec']['population']:,} people, {meta['spec']['days']} days); "
        f"{frame.height} runs stored, {failed} failed. Markers: the mean over replicates "
        "(seeds seed..seed+R-1, the same at every point); whiskers: 95% t-interval."
    )
    if format_ == "png":
        output.mkdir(exist_ok=True)
        return [_png(p, output) for p in found]
    output.write_text(_html(found, title, note), encoding="utf-8")
    return [output]


def panel_figure(p: Panel) -> Any:
    """A panel as a plotly figure: markers at the replicate means, whiskers to the
    interval (the report's and the workbench's charts)."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Scatter(
            x=p.x, y=p.mean, mode="markers",
            error_y={"type": "data", "symmetric": False,
                     "array": [h - m for h, m in zip(p.hi, p.mean, strict=True)],
                     "arrayminus": [m - lo for lo, m in zip(p.lo, p.mean, strict=True)]},
        )
    )  # fmt: skip
    fig.update_layout(
        title=f"{p.metric} against {p.parameter}", xaxis_title=p.parameter,
        yaxis_title=p.metric, height=380, margin={"t": 50, "b": 40},
    )  # fmt: skip
    return fig


def _html(found: list[Panel], title: str, note: str) -> str:
    from plotly.offline import get_plotlyjs

    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(note)}</p>",
            "<p>Every person in these runs is synthetic.</p>"]  # fmt: skip
    for p in found:
        fig = panel_figure(p)
        body.append(fig.to_html(full_html=False, include_plotlyjs=False))
        body.append(f"<p>{html.escape(p.reading)}</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        "<body style='font-family:sans-serif;max-width:60em;margin:auto'>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    return fig, fig.add_subplot()


def _png(p: Panel, directory: Path) -> Path:
    fig, ax = _figure()
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in p.x)
    x = p.x if numeric else [str(v) for v in p.x]
    low = [m - lo if math.isfinite(lo) else 0 for m, lo in zip(p.mean, p.lo, strict=True)]
    high = [hi - m if math.isfinite(hi) else 0 for m, hi in zip(p.mean, p.hi, strict=True)]
    ax.errorbar(x, p.mean, yerr=[low, high], fmt="o", ms=4, capsize=2)
    ax.set_xlabel(p.parameter)
    ax.set_ylabel(p.metric)
    ax.set_title(f"{p.metric} against {p.parameter}", fontsize=10, loc="left")
    path = directory / f"{p.key}.png"
    fig.savefig(path, dpi=DPI)
    return path


def sensitivity_figures(found: list[Any], directory: Path) -> list[Path]:
    """One PNG per metric: Sobol ST and S1 bars with whiskers, or Morris mu*-sigma."""
    out = []
    for ind in found:
        if "ST" not in ind.table.columns and "mu_star" not in ind.table.columns:
            continue
        fig, ax = _figure()
        t = ind.table
        if ind.method == "sobol":
            y = list(range(t.height))
            ax.barh([v + 0.2 for v in y], t["ST"], 0.4, xerr=t["ST_conf"], label="total (ST)")
            ax.barh([v - 0.2 for v in y], t["S1"], 0.4, xerr=t["S1_conf"], label="first-order (S1)")
            ax.set_yticks(y, t["parameter"].to_list(), fontsize=7)
            ax.set_xlabel("Sobol index (95% bootstrap interval)")
            ax.legend(fontsize=8)
        else:
            ax.errorbar(t["mu_star"], t["sigma"], xerr=t["mu_star_conf"], fmt="o", ms=4)
            still = []
            for name, a, b in t.select("parameter", "mu_star", "sigma").iter_rows():
                if a > 0:
                    ax.annotate(name, (a, b), fontsize=7)
                else:
                    still.append(name)
            if still:  # one label for the parameters piled at the origin
                ax.annotate(f"no effect: {len(still)} parameters", (0, 0), fontsize=7,
                            xytext=(4, 8), textcoords="offset points")  # fmt: skip
            ax.set_xlabel("mu* (mean absolute elementary effect)")
            ax.set_ylabel("sigma (interaction or non-linearity)")
        if ind.floor is not None and ind.method == "sobol":
            ax.axvline(ind.floor, color="grey", ls="--", lw=1)
        ax.set_title(f"{ind.metric}: {ind.method} indices", fontsize=10, loc="left")
        path = directory / f"{_slug(ind.metric)}-{ind.method}.png"
        fig.savefig(path, dpi=DPI)
        out.append(path)
    return out
