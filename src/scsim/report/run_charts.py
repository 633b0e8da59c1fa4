"""The sections of a report about one run, each chart with its reading.

Sections follow the issue's order: the regime; scores over time; grades and the
flows between them; the blacklist; events (true, recorded, falsely attributed);
wrongful sanctions; groups; isolation and chilling when the run has those metrics.
A chart with nothing to show is replaced by a sentence that says so, rather than
drawn empty.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from scsim.analysis.groups import by_group, group_names
from scsim.analysis.sanctions import any_sanction
from scsim.report.plain import count, describe, num, observers_table, pct, rules_table
from scsim.report.spec import Chart, Part, Section, Series

if TYPE_CHECKING:
    from scsim.engine.result import Run

DAY = "day of the run (days)"
PEOPLE = "people (count)"
SHARE = "share of the population (%)"
HIST_BINS = 40  # at most; bin widths are 1, 2 or 5 times a power of ten


def run_label(run: Run) -> str:
    """How a report names a run: its id, or the regime for an unsaved run."""
    return run.run_id or f"{run.regime.name} (unsaved)"


def run_part(
    run: Run, key: str = "run", label: str | None = None, batch: list[Run] | None = None
) -> Part:
    """Every section about ``run``; ``label`` names it (default: ``run_label``).

    ``batch``: the replicates ``run`` is the first of; their means and 95% intervals
    come right after the regime, and the title says the rest is the first replicate.
    """
    ctx = _Context(run, key, label)
    sections = [regime_section(run)]
    if batch is not None and len(batch) > 1:
        from scsim.report.replicates import replicate_section

        sections.append(replicate_section(batch, ctx.label, key))
    sections += [
        ctx.scores(),
        ctx.grades(),
        ctx.blacklist(),
        ctx.events(),
        ctx.wrongful(),
        ctx.group_section(),
    ]
    behaviour = ctx.behaviour()
    if behaviour is not None:
        sections.append(behaviour)
    title = f"Run {ctx.label}: {run.regime.name}, {run.population:,} people, "
    title += f"{run.days:,} days, seed {run.seed}"
    if batch is not None and len(batch) > 1:
        title += f" (the first of {len(batch)} replicates)"
    return Part(key, title, [_no_empty(s) for s in sections if s is not None])


def _no_empty(section: Section) -> Section:
    """A chart with nothing to show (every value zero or undefined) becomes the
    sentence of its reading, as ``docs/report.md`` promises."""
    kept = []
    for chart in section.charts:
        if _empty(chart):
            section.paragraphs.append(f"{chart.title}: nothing to draw. {chart.reading}")
        else:
            kept.append(chart)
    section.charts = kept
    return section


def _empty(chart: Chart) -> bool:
    if chart.kind == "sankey":
        return not any(v for _, _, v in chart.links)
    values = [v for series in chart.series for v in series.y]
    return not any(isinstance(v, int | float) and math.isfinite(v) and v != 0 for v in values)


def regime_section(run: Run) -> Section:
    regime = run.regime
    section = Section("regime", "The regime in plain words", paragraphs=describe(regime))
    section.tables = [rules_table(regime)]
    if regime.observers:
        section.tables.append(observers_table(regime))
    section.bullets = list(regime.sources) or ["(the regime names no sources)"]
    return section


class _Context:
    """One run's frames, read once, and the builders of its sections."""

    def __init__(self, run: Run, key: str, label: str | None = None) -> None:
        self.run = run
        self.key = key
        self.daily = run.daily.with_columns(pl.col("group").cast(pl.String))
        self.overall = self.daily.filter(pl.col("group") == "all").sort("day")
        self.group_names = [g for g in group_names(run) if g != "all"]
        self.days = self.overall.get_column("day").to_list()
        self.first = self.days[0] if self.days else 0
        self.last = self.days[-1] if self.days else 0
        self.label = label or run_label(run)

    # -- helpers ---------------------------------------------------------------------

    def col(self, name: str, group: str = "all") -> list[float]:
        frame = self.overall if group == "all" else self._group_rows(group)
        return frame.get_column(name).cast(pl.Float64).to_list()

    def _group_rows(self, group: str) -> pl.DataFrame:
        return self.daily.filter(pl.col("group") == group).sort("day")

    def has(self, name: str) -> bool:
        return name in self.daily.columns

    def metrics(self, prefix: str) -> list[str]:
        return [c for c in self.daily.columns if c.startswith(prefix)]

    def chart_key(self, name: str) -> str:
        return f"{self.key}-{name}"

    def total(self, name: str) -> float:
        return float(self.run.summary.get(name, math.nan))

    # -- sections --------------------------------------------------------------------

    def scores(self) -> Section:
        section = Section("scores", "Scores over time")
        if self.has("mean_score"):
            section.charts.append(self.mean_score_chart())
        shares = self.metrics("grade_share.")
        if shares:
            section.charts.append(self.grade_share_chart(shares))
        if "score" in self.run.agents.columns and self.run.agents.height:
            section.charts.append(self.histogram_chart())
        return section

    def mean_score_chart(self) -> Chart:
        names = ["all", *self.group_names] if len(self.group_names) > 1 else ["all"]
        series = tuple(Series(g, self.days, self.col("mean_score", g)) for g in names)
        start, end = series[0].y[0], series[0].y[-1]
        reading = (
            f"The mean score went from {start:,.1f} points on day {self.first} to "
            f"{end:,.1f} on day {self.last}"
        )
        if len(self.group_names) > 1:
            finals = {s.name: s.y[-1] for s in series[1:]}
            low = min(finals, key=lambda g: finals[g])
            reading += f" ({low} lowest at {finals[low]:,.1f})"
        reading += (
            "; the engine keeps a mean per day, not each person's score over time, so "
            "the grade shares below show the spread."
        )
        return Chart(
            self.chart_key("mean-score"),
            f"Mean score per day — {self.label}",
            reading,
            "line",
            DAY,
            "mean score (points)",
            series,
        )

    def grade_share_chart(self, shares: list[str]) -> Chart:
        series = tuple(
            Series(m.removeprefix("grade_share."), self.days, [v * 100 for v in self.col(m)])
            for m in shares
        )
        top, low = series[0], series[-1]
        reading = (
            f"By day {self.last}, {low.y[-1]:.1f}% of people are in the lowest grade, "
            f"{low.name}, against {low.y[0]:.1f}% on day {self.first}, and "
            f"{top.y[-1]:.1f}% are in the top grade, {top.name}."
        )
        return Chart(
            self.chart_key("grade-shares"),
            f"Share of people in each grade per day — {self.label}",
            reading,
            "area",
            DAY,
            SHARE,
            series,
        )

    def histogram_chart(self) -> Chart:
        scores = self.run.agents.get_column("score").cast(pl.Float64).to_numpy()
        lo, hi = float(scores.min()), float(scores.max())
        span = hi - lo
        width = _nice_width(span / HIST_BINS)
        edges = np.arange(math.floor(lo), hi + width + 1e-9, width)
        counts, edges = np.histogram(scores, bins=edges)
        centres = (edges[:-1] + edges[1:]) / 2
        q10, median = np.quantile(scores, [0.1, 0.5])
        reading = (
            f"On day {self.last}, the median score is {median:,.4g} points and a tenth "
            f"of people have {q10:,.4g} or less; scores range from {lo:,.4g} to {hi:,.4g}."
        )
        return Chart(
            self.chart_key("final-scores"),
            f"Scores on the last day (day {self.last}) — {self.label}",
            reading,
            "hist",
            f"score on day {self.last} (points, bins of {num(width)})",
            PEOPLE,
            (Series("people", centres.tolist(), counts.astype(float).tolist()),),
            bin_width=width,
        )

    def grades(self) -> Section:
        section = Section("grades", "Grades and the flows between them")
        moves = self.run.transitions
        grades = [g.name for g in self.run.regime.grades]
        if moves is None:
            section.paragraphs.append("This run kept no grade transitions.")
            return section
        flows = (
            moves.with_columns(pl.col("from_grade", "to_grade").cast(pl.String))
            .group_by("from_grade", "to_grade")
            .agg(pl.col("agents").sum())
            .sort("agents", descending=True)
        )
        if flows.height == 0:
            section.paragraphs.append(f"Nobody changed grade in {self.run.days:,} days.")
            return section
        index = {g: i for i, g in enumerate(grades)}
        links = tuple((index[f], len(grades) + index[t], float(n)) for f, t, n in flows.iter_rows())
        total = int(flows.get_column("agents").sum())
        down = int(
            flows.filter(
                pl.col("to_grade").replace_strict(index, return_dtype=pl.Int64)
                > pl.col("from_grade").replace_strict(index, return_dtype=pl.Int64)
            )
            .get_column("agents")
            .sum()
        )
        f, t, n = flows.row(0)
        reading = (
            f"Over {self.run.days:,} days people changed grade {total:,} times; the most "
            f"frequent move was {f} → {t} ({n:,} times), and {down:,} of the moves "
            f"({pct(down / total)}) were down."
        )
        section.charts.append(
            Chart(
                self.chart_key("grade-flows"),
                f"Moves between grades over the run — {self.label}",
                reading,
                "sankey",
                "grade before the move (left) and after it (right)",
                "band width: moves (count of people-moves)",
                nodes=tuple([f"{g} (from)" for g in grades] + [f"{g} (to)" for g in grades]),
                links=links,
            )
        )
        return section

    def blacklist(self) -> Section:
        """The list stocks (the blacklist and any named lists), entries and exits."""
        regime = self.run.regime
        lists = getattr(regime, "all_lists", None)
        if lists is None:  # a regime from before named lists
            lists = [regime.blacklist] if regime.blacklist is not None else []
        title = "The blacklist" if [lst.name for lst in lists] == ["blacklist"] else "The lists"
        section = Section("blacklist", title)
        if not lists:
            section.paragraphs.append("The regime has no blacklist and no list.")
            return section
        series = []
        for lst in lists:
            metric = f"listed.{lst.name}"
            if not self.has(metric):
                metric = "blacklisted" if lst.name == "blacklist" else ""
            if metric and self.has(metric):
                name = "on the list" if len(lists) == 1 else f"on {lst.name}"
                series.append(Series(name, self.days, self.col(metric)))
        if not series:
            return section
        stocks = [s.y[-1] for s in series]
        if len(series) == 1:
            are = "is" if stocks[0] == 1 else "are"
            reading = (
                f"On day {self.last}, {count(stocks[0], 'person', 'people')} {are} on the list"
            )
        else:
            parts = [f"{num(v)} {s.name}" for v, s in zip(stocks, series, strict=True)]
            reading = f"On day {self.last}, " + ", ".join(parts)
        if self.has("list_entries") and self.has("list_exits"):
            cum_in = np.cumsum(self.col("list_entries"))
            cum_out = np.cumsum(self.col("list_exits"))
            series += [
                Series("entries so far", self.days, cum_in.tolist()),
                Series("exits so far", self.days, cum_out.tolist()),
            ]
            reading += (
                f"; {count(float(cum_in[-1]), 'entry', 'entries')} and "
                f"{count(float(cum_out[-1]), 'exit', 'exits')} happened over the run"
            )
        if all(lst.exit.after_days is None for lst in lists):
            reading += ", and no term ends"
        section.charts.append(
            self.people_by_day(
                "blacklist",
                f"People on the {'blacklist' if len(lists) == 1 else 'lists'}, entries and "
                f"exits — {self.label}",
                reading,
                series,
            )
        )
        return section

    def people_by_day(self, key: str, title: str, reading: str, series: list) -> Chart:
        """A line chart of head counts over the days (the lists, the sanctions)."""
        return Chart(self.chart_key(key), title, reading + ".", "line", DAY, PEOPLE, tuple(series))

    def events(self) -> Section:
        section = Section("events", "Events: what happened, what was recorded, who was blamed")
        behaviours = list(self.run.regime.behaviours)
        true = [self.total(f"events_true.{b}") for b in behaviours]
        recorded = [self.total(f"events_recorded.{b}") for b in behaviours]
        if all(math.isfinite(v) for v in true + recorded):
            happened, seen = sum(true), sum(recorded)
            most = behaviours[int(np.argmax(recorded))]
            reading = (
                f"Of {num(happened)} events that happened, {num(seen)} "
                f"({pct(seen / happened) if happened else 'none'}) were recorded; "
                f"{most} was recorded most ({num(max(recorded))} times)."
            )
            section.charts.append(
                Chart(
                    self.chart_key("events-by-behaviour"),
                    f"Events over the run, by behaviour — {self.label}",
                    reading,
                    "bar",
                    "behaviour",
                    "events over the run (count)",
                    (
                        Series("happened", behaviours, true),
                        Series("recorded (to the doer or to someone else)", behaviours, recorded),
                    ),
                )
            )
        observers = [o.name for o in self.run.regime.observers]
        rec = [self.total(f"recorded_by.{o}") for o in observers]
        false = [self.total(f"false_by.{o}") for o in observers]
        if observers and all(math.isfinite(v) for v in rec + false):
            total_rec, total_false = sum(rec), sum(false)
            if total_false > 0:
                worst = observers[int(np.argmax(false))]
                reading = (
                    f"Of {num(total_rec)} recorded events, {num(total_false)} "
                    f"({pct(total_false / total_rec, 2)}) were attributed to someone who did "
                    f"not commit them, {num(max(false))} of them by {worst}."
                )
            else:
                reading = (
                    f"Of {num(total_rec)} recorded events, none was attributed to the wrong person."
                )
            section.charts.append(
                Chart(
                    self.chart_key("events-by-observer"),
                    f"Recorded and falsely attributed events, by observer — {self.label}",
                    reading,
                    "bar",
                    "observer",
                    "events over the run (count)",
                    (
                        Series("recorded", observers, rec),
                        Series("attributed to the wrong person", observers, false),
                    ),
                )
            )
        return section

    def wrongful(self) -> Section:
        section = Section("wrongful", "Wrongful sanctions")
        sanctions = self.metrics("sanctioned.")
        if not self.has("wrongfully_sanctioned"):
            return section
        series = [Series(m.removeprefix("sanctioned."), self.days, self.col(m)) for m in sanctions]
        series.append(Series("wrongfully sanctioned", self.days, self.col("wrongfully_sanctioned")))
        wrongful = series[-1].y[-1]
        agents = self.run.agents
        if {"grade", "listed"} <= set(agents.columns) and agents.height:
            under = int(any_sanction(self.run.regime, agents).sum())
            if under:
                reading = (
                    f"By day {self.last}, {num(wrongful)} of the "
                    f"{count(under, 'person', 'people')} under a sanction "
                    f"({pct(wrongful / under)}) would not be under it without a false match"
                )
            else:
                reading = f"By day {self.last}, nobody is under a sanction"
        else:
            reading = (
                f"By day {self.last}, {num(wrongful)} people are under a sanction they "
                "would not be under without a false match"
            )
        penalties = self.total("wrongful_penalties")
        if math.isfinite(penalties):
            reading += (
                f"; false matches cost {count(penalties, 'point deduction', 'point deductions')}"
                " over the run"
            )
        section.charts.append(
            self.people_by_day(
                "wrongful",
                f"People under each sanction, and the wrongfully sanctioned — {self.label}",
                reading,
                series,
            )
        )
        return section

    def group_section(self) -> Section:
        section = Section("groups", "Groups: who carries the sanctions")
        table = by_group(self.run) if "group" in self.run.agents.columns else None
        sanctions = [s.name for s in self.run.regime.sanctions]
        if table is None or not sanctions:
            section.paragraphs.append("No sanction, or no per-agent table: nothing to split.")
            return section
        several = len(self.group_names) > 1
        rows = table.filter(pl.col("group") != "all")  # one series per group (one or more)
        names = rows.get_column("group").to_list()
        series = tuple(
            Series(
                g,
                sanctions,
                [rows.row(i, named=True)[f"sanction_rate.{s}"] * 100 for s in sanctions],
            )
            for i, g in enumerate(names)
        )
        section.charts.append(
            Chart(
                self.chart_key("sanction-rates"),
                f"Share of each group under each sanction, day {self.last} — {self.label}",
                self._rates_reading(rows, sanctions, several),
                "bar",
                "sanction",
                "share of the group under the sanction (%)",
                series,
            )
        )
        if not several:
            section.paragraphs.append(
                "The regime has one population group, so disparate impact and the groups' "
                "shares of the wrongfully sanctioned are not defined."
            )
            return section
        impact = self.impact_chart(sanctions)
        if impact is not None:
            section.charts.append(impact)
        shares = self.wrongful_share_chart(rows)
        if shares is not None:
            section.charts.append(shares)
        else:
            section.paragraphs.append(f"Nobody is wrongfully sanctioned on day {self.last}.")
        return section

    def _rates_reading(self, rows: pl.DataFrame, sanctions: list[str], several: bool) -> str:
        rates = {s: rows.get_column(f"sanction_rate.{s}").to_list() for s in sanctions}
        names = rows.get_column("group").to_list()
        if all(max(r) == 0 for r in rates.values()):
            return f"On day {self.last}, nobody is under any sanction."
        if not several:
            s = max(sanctions, key=lambda s: rates[s][0])
            return f"On day {self.last}, {pct(rates[s][0], 2)} of people are under {s}."

        def spread(s: str) -> float:
            r = rates[s]
            return max(r) / min(r) if min(r) > 0 else math.inf if max(r) > 0 else 0.0

        s = max(sanctions, key=spread)
        r = rates[s]
        hi, lo = names[int(np.argmax(r))], names[int(np.argmin(r))]
        di = spread(s)
        if math.isfinite(di):
            return (
                f"On day {self.last}, {pct(max(r), 2)} of {hi} are under {s} against "
                f"{pct(min(r), 2)} of {lo}, {di:.2f} times the rate."
            )
        return f"On day {self.last}, {pct(max(r), 2)} of {hi} are under {s} and nobody in {lo}."

    def impact_chart(self, sanctions: list[str]) -> Chart | None:
        series, infinite, last = [], {}, {}
        for s in sanctions:
            name = f"disparate_impact.{s}"
            if not self.has(name):
                continue
            values = self.col(name)
            infinite[s] = sum(1 for v in values if math.isinf(v))
            last[s] = values[-1]
            series.append(
                Series(s, self.days, [v if math.isfinite(v) else math.nan for v in values])
            )
        if not series or all(not math.isfinite(v) for s in series for v in s.y):
            return None
        finite_last = {s: v for s, v in last.items() if math.isfinite(v)}
        if finite_last:
            s = max(finite_last, key=lambda k: finite_last[k])
            reading = (
                f"On day {self.last}, the most affected group is {finite_last[s]:.2f} times "
                f"as likely as the least affected to be under {s}"
            )
        else:
            reading = f"On day {self.last}, disparate impact is undefined or infinite"
        gaps = {s: n for s, n in infinite.items() if n}
        if gaps:
            s = max(gaps, key=lambda k: gaps[k])
            reading += (
                f"; for {s} it was infinite on {gaps[s]:,} days (a group had nobody under "
                "it while another had someone), shown as gaps"
            )
        return Chart(
            self.chart_key("disparate-impact"),
            f"Disparate impact per day (most over least affected group) — {self.label}",
            reading + ".",
            "line",
            DAY,
            "sanction rate of the most over the least affected group (ratio)",
            tuple(series),
        )

    def wrongful_share_chart(self, rows: pl.DataFrame) -> Chart | None:
        if "wrongful_share" not in rows.columns:
            return None
        shares = rows.get_column("wrongful_share").to_list()
        if not all(math.isfinite(v) for v in shares):
            return None
        names = rows.get_column("group").to_list()
        pop = rows.get_column("population_share").to_list()
        over = rows.get_column("wrongful_vs_population").to_list()
        i = int(np.argmax(over))
        reading = (
            f"On day {self.last}, {names[i]} makes up {pct(pop[i])} of the population and "
            f"{pct(shares[i])} of the wrongfully sanctioned."
        )
        return Chart(
            self.chart_key("wrongful-shares"),
            f"Each group's share of the population and of the wrongfully sanctioned — {self.label}",
            reading,
            "bar",
            "group",
            "share (%)",
            (
                Series("share of the population", names, [v * 100 for v in pop]),
                Series("share of the wrongfully sanctioned", names, [v * 100 for v in shares]),
            ),
        )

    def behaviour(self) -> Section | None:
        """Isolation and chilling: drawn only when the run has those metrics."""
        chilling = self.metrics("chilling.")
        if not self.has("isolation") and not chilling:
            return None
        section = Section("behaviour", "Isolation and chilling")
        if self.has("isolation"):
            values = self.col("isolation")
            section.charts.append(
                Chart(
                    self.chart_key("isolation"),
                    f"Isolation of the lowest-scored per day — {self.label}",
                    f"On day {self.last}, people in the lowest score decile have "
                    f"{values[-1]:.2f} times the average number of friends "
                    f"(day {self.first}: {values[0]:.2f}).",
                    "line",
                    DAY,
                    "mean degree of the lowest decile over the mean degree (ratio)",
                    (Series("isolation", self.days, values),),
                )
            )
        if chilling:
            series = tuple(
                Series(m.removeprefix("chilling."), self.days, self.col(m)) for m in chilling
            )
            low = min(series, key=lambda s: s.y[-1])
            section.charts.append(
                Chart(
                    self.chart_key("chilling"),
                    f"Chilling: behaviour rates relative to day 0 — {self.label}",
                    f"By day {self.last}, {low.name} happens at {low.y[-1]:.2f} times its "
                    "day-0 rate, the strongest chill.",
                    "line",
                    DAY,
                    "rate relative to day 0 (ratio)",
                    series,
                )
            )
        return section


def _nice_width(raw: float) -> float:
    """The smallest of 1, 2, 5, 10, 20, 50 ... points that is at least ``raw``, so
    bins line up with the round point values rules use."""
    if raw <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        if step * power >= raw:
            return float(step * power)
    return 10.0 * power  # pragma: no cover - the loop always returns
