"""The comparison part of a report on several runs: side by side, then paired.

Side by side works for any runs (their key metrics in one table, their series on one
chart). Paired works only for runs that share population, days and seed (common
random numbers); each later run is paired with the first, and a run that cannot be
paired says why instead of showing a misleading difference.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import polars as pl

from scsim.analysis.compare import compare, pairing_problem, what_differs
from scsim.analysis.stats import t_interval
from scsim.report.plain import Table, num
from scsim.report.replicates import band_series
from scsim.report.run_charts import DAY, PEOPLE, run_label
from scsim.report.spec import Chart, Part, Section, Series

if TYPE_CHECKING:
    from scsim.engine.result import Run

KEY_FAMILIES = (
    "mean_score",
    "grade_share.",
    "blacklisted",
    "sanctioned.",
    "wrongfully_sanctioned",
    "false_attributions",
    "disparate_impact.",
    "isolation",
    "chilling.",
)


def comparison_part(
    batches: list[list[Run]],
    labels: list[str] | None = None,
    key: str = "compare",
    title: str | None = None,
) -> Part:
    """Side-by-side table and charts for the runs (each a batch of one or more
    replicates), then each later run paired with the first.

    Where a batch has several replicates, its figures are means over them with 95%
    intervals (bands on the charts), and the pairing is seed by seed.
    """
    runs = [batch[0] for batch in batches]
    heading = title or f"Comparison of {len(runs)} runs"
    labels = labels or _labels(runs)
    side = Section(f"{key}-side-by-side", "Side by side")
    if any(len(b) > 1 for b in batches):
        side.paragraphs.append(
            "Runs given with replicates are shown by their means over the replicates, "
            "each with its 95% interval (a band on the charts): "
            + "; ".join(
                f"{label}: {len(b)} replicates" for b, label in zip(batches, labels, strict=True)
            )
            + "."
        )
    side.tables.append(_metrics_table(batches, labels))
    for metric, chart_title, unit, noun in (
        ("mean_score", "Mean score per day", "mean score (points)", "mean score"),
        ("blacklisted", "People on the blacklist per day", PEOPLE, "number of people listed"),
        (
            "wrongfully_sanctioned",
            "Wrongfully sanctioned people per day",
            PEOPLE,
            "number of wrongfully sanctioned",
        ),
    ):
        chart = _overlay(batches, labels, metric, chart_title, unit, noun, key)
        if chart is not None:
            side.charts.append(chart)
    sanctioned = _sanction_bars(runs, labels, key)
    if sanctioned is not None:
        side.charts.append(sanctioned)
    sections = [side]
    for batch, label in zip(batches[1:], labels[1:], strict=True):
        sections.append(_paired(batches[0], labels[0], batch, label, key))
    return Part(key, heading, sections)


def _labels(runs: list[Run]) -> list[str]:
    labels = [run_label(r) for r in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{i + 1}: {label}" for i, label in enumerate(labels)]
    return labels


def _key_metrics(runs: list[Run]) -> list[str]:
    seen: dict[str, None] = {}
    for run in runs:
        for name in run.summary:
            if name.startswith(KEY_FAMILIES):
                seen.setdefault(name)
    return list(seen)


def _fmt(value: float | None, share: bool) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else "∞"
    return f"{value * 100:.2f}%" if share else num(round(value, 4))


def _metrics_table(batches: list[list[Run]], labels: list[str]) -> Table:
    runs = [b[0] for b in batches]
    rows = []
    for name in _key_metrics(runs):
        share = name.startswith("grade_share.")
        rows.append((name, *(_cell(b, name, share) for b in batches)))
    several = any(len(b) > 1 for b in batches)
    head = (
        "metric (stock on the last day, flow summed"
        + ("; mean over the replicates [95% interval])" if several else ")"),
        *labels,
    )
    return Table("Key metrics of each run", head, tuple(rows))


def _cell(batch: list[Run], name: str, share: bool) -> str:
    values = [r.summary.get(name) for r in batch]
    if len(batch) == 1 or any(v is None for v in values):
        return _fmt(values[0], share)
    mean, lo, hi = t_interval(values)
    if not math.isfinite(lo):
        return _fmt(mean, share)
    return f"{_fmt(mean, share)} [{_fmt(lo, share)} to {_fmt(hi, share)}]"


def _overlay(
    batches: list[list[Run]],
    labels: list[str],
    metric: str,
    title: str,
    unit: str,
    noun: str,
    key: str = "compare",
) -> Chart | None:
    series = []
    for batch, label in zip(batches, labels, strict=True):
        if not all(metric in run.daily.columns for run in batch):
            continue
        if len(batch) > 1:
            series.append(band_series(batch, metric, f"{label} (mean of {len(batch)})"))
            continue
        rows = batch[0].daily.filter(pl.col("group").cast(pl.String) == "all").sort("day")
        series.append(
            Series(label, rows.get_column("day").to_list(), rows.get_column(metric).to_list())
        )
    if len(series) < 2:
        return None
    finals = {s.name: s.y[-1] for s in series}
    lo = min(finals, key=lambda k: finals[k])
    hi = max(finals, key=lambda k: finals[k])
    reading = (
        f"On its last day, {lo} has the lowest {noun} ({num(round(finals[lo], 2))}) and "
        f"{hi} the highest ({num(round(finals[hi], 2))})."
        if finals[lo] != finals[hi]
        else f"Every run ends with the same {noun}, {num(round(finals[lo], 2))}."
    )
    return Chart(
        f"{key}-{metric.replace('_', '-')}",
        f"{title}, run by run",
        reading,
        "line",
        DAY,
        unit,
        tuple(series),
    )


def _sanction_bars(runs: list[Run], labels: list[str], key: str = "compare") -> Chart | None:
    names = [m for m in _key_metrics(runs) if m.startswith("sanctioned.")]
    if not names:
        return None
    sanctions = [m.removeprefix("sanctioned.") for m in names]
    series = tuple(
        Series(label, sanctions, [run.summary.get(m, 0.0) for m in names])
        for run, label in zip(runs, labels, strict=True)
    )
    totals = {s.name: sum(s.y) for s in series}
    most = max(totals, key=lambda k: totals[k])
    reading = (
        f"On their last day, {most} has the most sanctions in force "
        f"({num(totals[most])} across its sanctions, a person under two counted twice)."
    )
    return Chart(
        f"{key}-sanctioned",
        "People under each sanction on the last day, run by run",
        reading,
        "bar",
        "sanction",
        PEOPLE,
        series,
    )


def _paired(
    batch_a: list[Run], label_a: str, batch_b: list[Run], label_b: str, key: str = "compare"
) -> Section:
    a, b = batch_a[0], batch_b[0]
    section = Section(
        f"{key}-paired-{label_b}", f"Paired, agent by agent: {label_a} (A) and {label_b} (B)"
    )
    problem = pairing_problem(a, b)
    if problem is not None:
        section.paragraphs.append(problem + ".")
        section.paragraphs.append(_differs(what_differs(a, b)))
        return section
    result = compare(batch_a, batch_b)
    section.paragraphs.append(
        "Both runs share population, days and seed, so every agent saw the same behaviour "
        "draws under A and under B: each difference below is what the rules did."
    )
    section.paragraphs.append(_differs(result.differs))
    section.paragraphs.extend(note[0].upper() + note[1:] + "." for note in result.notes)
    if result.pairs > 1:
        section.paragraphs.append(
            f"The tables of people and scores pair seed {result.agents_seed}, the first of "
            f"{result.pairs} replicate pairs; the metric differences are means over the "
            f"{result.pairs} pairs with their 95% intervals."
        )
        section.tables.append(_differences(result))
    table = result.sanctions
    rows = tuple(
        (r["sanction"], r["group"], *(f"{r[c]:,}" for c in table.columns[2:]))
        for r in table.iter_rows(named=True)
    )
    section.tables.append(
        Table(
            "Who is under each sanction on the last day, by group",
            (
                "sanction",
                "group",
                "people",
                "under A",
                "under B",
                "under both",
                "only under A",
                "only under B",
            ),
            rows,
        )
    )
    overall = table.filter(pl.col("group") == "all")
    if overall.height:
        sanctions = overall.get_column("sanction").to_list()
        only_a = [float(v) for v in overall.get_column("only_a")]
        only_b = [float(v) for v in overall.get_column("only_b")]
        i = max(range(len(sanctions)), key=lambda k: abs(only_b[k] - only_a[k]))
        reading = (
            f"Agent by agent, {num(only_b[i])} people are under {sanctions[i]} under B and "
            f"not under A, and {num(only_a[i])} the reverse."
        )
        section.charts.append(
            Chart(
                f"{key}-paired-{_slug(label_b)}",
                f"People under a sanction in one run only — A: {label_a}, B: {label_b}",
                reading,
                "bar",
                "sanction",
                PEOPLE,
                (
                    Series("only under A", sanctions, only_a),
                    Series("only under B", sanctions, only_b),
                ),
            )
        )
    wrongful = result.wrongful.filter(pl.col("group") == "all")
    if wrongful.height:
        w = wrongful.row(0, named=True)
        section.paragraphs.append(
            f"Wrongfully sanctioned (under a sanction only because of a false "
            f"attribution): {w['sanctioned_a']:,} under A and {w['sanctioned_b']:,} under B; "
            f"{w['only_b']:,} only under B, {w['only_a']:,} only under A."
        )
    scores = result.scores.filter(pl.col("group") == "all").row(0, named=True)
    section.paragraphs.append(
        f"Scores, B minus A: mean {scores['mean_diff']:+,.2f} points, median "
        f"{scores['q50']:+,.4g}, 5% to 95% of agents between {scores['q05']:+,.4g} and "
        f"{scores['q95']:+,.4g}; {scores['lower_under_b']:,} agents end lower under B and "
        f"{scores['higher_under_b']:,} higher."
    )
    return section


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c == "-" else "-" for c in text).strip("-").lower()


def _differs(lines: list[str]) -> str:
    if not lines:
        return "A and B are runs of the same regime: nothing differs but the run."
    return "What differs between A and B: " + "; ".join(lines) + "."


def _differences(result) -> Table:
    """Each metric's mean difference over the replicate pairs, with its interval."""
    rows = []
    for r in result.metrics.iter_rows(named=True):
        if r["diff"] == 0 and r["ci_lo"] == r["ci_hi"] == 0:
            continue
        share = r["metric"].startswith("grade_share.")
        interval = (
            f"{_fmt(r['ci_lo'], share)} to {_fmt(r['ci_hi'], share)}"
            if math.isfinite(r["ci_lo"])
            else "n/a"
        )
        values = (_fmt(r[c], share) for c in ("a", "b", "diff"))
        rows.append((r["metric"], *values, interval))
    return Table(
        f"Metrics, B minus A: means over {result.pairs} replicate pairs",
        ("metric", "A (mean)", "B (mean)", "B - A (mean)", "95% interval of B - A"),
        tuple(rows),
    )
