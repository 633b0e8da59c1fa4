"""The report: what each chart says, that it says it with units, and the files."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

import scsim
from conftest import simulate_city
from scsim.engine.result import Run
from scsim.errors import OptionError
from scsim.report import Chart, parts, write_report
from scsim.report.plain import describe, num

UNIT = re.compile(r"\((?:[^()]*)\)")  # "people (count)", "day of the run (days)"


def charts(runs: list[Run]) -> dict[str, Chart]:
    return {c.key: c for p in parts(runs) for c in p.charts()}


def test_every_chart_has_a_title_units_and_a_reading_from_the_data(city_run: Run) -> None:
    found = charts([city_run])
    assert set(found) >= {
        "run-mean-score",
        "run-grade-shares",
        "run-final-scores",
        "run-grade-flows",
        "run-blacklist",
        "run-events-by-behaviour",
        "run-events-by-observer",
        "run-wrongful",
        "run-sanction-rates",
        "run-disparate-impact",
        "run-wrongful-shares",
    }
    for chart in found.values():
        assert chart.title and chart.reading, chart.key
        assert UNIT.search(chart.x_label) or chart.kind == "bar", (chart.key, chart.x_label)
        assert UNIT.search(chart.y_label), (chart.key, chart.y_label)
        assert chart.reading.endswith(".") and chart.reading.count(". ") == 0, chart.reading
        assert re.search(r"\d", chart.reading), chart.reading
        assert chart.series or chart.links, chart.key


def test_readings_state_the_runs_numbers(city_run: Run) -> None:
    found = charts([city_run])
    s = city_run.summary
    last = city_run.days - 1
    assert f"On day {last}, {num(s['blacklisted'])} people are on the list" in (
        found["run-blacklist"].reading
    )
    entries = f"{num(s['list_entries'])} entries and {num(s['list_exits'])} exits"
    assert entries in found["run-blacklist"].reading
    false = f"{num(s['false_attributions'])} ("
    assert false in found["run-events-by-observer"].reading
    assert "cameras" in found["run-events-by-observer"].reading
    wrongful = found["run-wrongful"].reading
    assert f"{num(s['wrongfully_sanctioned'])} of the " in wrongful
    d_share = s["grade_share.D"] * 100
    assert f"{d_share:.1f}% of people are in the lowest grade, D" in (
        found["run-grade-shares"].reading
    )
    flows = found["run-grade-flows"]
    assert sum(v for _, _, v in flows.links) == city_run.transitions["agents"].sum()


def test_histogram_counts_every_agent(city_run: Run) -> None:
    hist = charts([city_run])["run-final-scores"]
    assert sum(hist.series[0].y) == city_run.population
    assert hist.bin_width in (1, 2, 5, 10, 20, 50)


def test_regime_is_described_in_plain_words(city_run: Run) -> None:
    words = " ".join(describe(city_run.regime))
    assert "Everyone starts at 100 points" in words
    assert "14 consecutive days in grade D" in words and "after 120 days" in words
    assert "travel_ban applies to the blacklisted" in words
    assert "minority 20.0%" in words
    section = parts([city_run])[0].sections[0]
    assert section.key == "regime"
    assert section.bullets == list(city_run.regime.sources)


def test_isolation_and_chilling_appear_when_the_run_has_them(city_run: Run) -> None:
    assert not any(k.endswith(("isolation", "chilling")) for k in charts([city_run]))
    daily = city_run.daily.with_columns(
        (1 - pl.col("day") / 1000).alias("isolation"),
        (1 - pl.col("day") / 500).alias("chilling.critical_post"),
        pl.lit(1.0).alias("chilling.jaywalking"),
    )
    with_them = Run(**{**city_run.__dict__, "daily": daily})
    found = charts([with_them])
    assert "the strongest chill" in found["run-chilling"].reading
    assert "critical_post happens at 0.76 times" in found["run-chilling"].reading
    assert [s.name for s in found["run-chilling"].series] == ["critical_post", "jaywalking"]
    assert "0.88 times the average number of friends" in found["run-isolation"].reading


def test_one_group_and_nobody_sanctioned_say_so_instead_of_drawing() -> None:
    run = scsim.simulate("rongcheng", population=1000, days=20, seed=1)
    found = charts([run])
    assert "run-disparate-impact" not in found and "run-wrongful-shares" not in found
    assert "run-sanction-rates" not in found  # all zero: a sentence, not an empty chart
    groups = next(s for s in parts([run])[0].sections if s.key == "groups")
    assert any("one population group" in p for p in groups.paragraphs)
    assert any(
        "nothing to draw. On day 19, nobody is under any sanction." in p for p in groups.paragraphs
    )


def test_no_chart_is_drawn_empty(city_run: Run) -> None:
    """Every chart a report draws has a nonzero value; the rest are sentences
    (issue 13, item 9)."""
    run = scsim.simulate("rongcheng", population=1000, days=20, seed=1)
    for chart in charts([run, city_run]).values():
        values = [v for s in chart.series for v in s.y] + [v for *_, v in chart.links]
        assert any(v for v in values if v == v), chart.key


def test_several_runs_are_compared_side_by_side_and_paired(
    paired_runs: tuple[Run, Run], city_run: Run
) -> None:
    a, b = paired_runs
    other = simulate_city(seed=9, days=30)
    report = parts([a, b, other])
    assert [p.key for p in report] == ["compare", "run1", "run2", "run3"]
    compare = report[0]
    table = compare.sections[0].tables[0]
    assert len(table.columns) == 4  # metric + three runs
    assert [s.key for s in compare.sections][1:] == [
        "compare-paired-2: camera-city (unsaved)",
        "compare-paired-3: camera-city (unsaved)",
    ]
    paired = compare.sections[1]
    bars = paired.charts[0]
    assert bars.series[0].name == "only under A" and sum(bars.series[0].y) == 0
    assert sum(bars.series[1].y) > 0
    unpaired = compare.sections[2]
    assert not unpaired.charts
    assert "days differs (A: 120, B: 30) and seed differs (A: 5, B: 9)" in (unpaired.paragraphs[0])


def test_html_is_one_self_contained_file(city_run: Run, tmp_path: Path) -> None:
    [path] = write_report([city_run], tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<script") == 1 + len(charts([city_run]))  # plotly once, one per chart
    assert not re.search(r"<script[^>]+src=", text) and "<link" not in text
    assert text.count('class="plotly-graph-div"') == len(charts([city_run]))
    assert "synthetic" in text and "<figcaption>" in text
    assert path.stat().st_size < 8_000_000


def test_png_writes_one_figure_per_chart_and_captions(city_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "figures"
    written = write_report([city_run], out, format="png")
    pngs = [p for p in written if p.suffix == ".png"]
    assert {p.stem for p in pngs} == set(charts([city_run]))
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    captions = (out / "captions.md").read_text()
    assert all(p.name in captions for p in pngs)


@pytest.mark.parametrize(
    ("output", "fmt", "words"),
    [
        ("missing/report.html", "html", "does not exist"),
        (".", "html", "is a directory"),
        ("file.txt", "png", "is a file"),
        ("report.pdf", "pdf", "allowed: html, png"),
        ("figs", "html", "ends in .html"),  # not silently an HTML file named figs
    ],
)
def test_bad_output_is_refused_before_any_work(
    city_run: Run, tmp_path: Path, output: str, fmt: str, words: str
) -> None:
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OptionError, match=words):
        write_report([city_run], tmp_path / output, format=fmt)  # type: ignore[arg-type]
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("name", scsim.builtin_regimes())
def test_every_builtin_regime_reports(name: str, tmp_path: Path) -> None:
    """Named lists, escalating points, family sanctions, one grade: all read aloud."""
    run = scsim.simulate(name, population=500, days=20, seed=3)
    words = " ".join(describe(run.regime))
    assert run.regime.grades[0].name in words
    [path] = write_report([run], tmp_path / f"{name}.html")
    lists = [c for c in charts([run]).values() if c.key == "run-blacklist"]
    for chart in lists:
        assert chart.reading.startswith("On day 19, ")
    assert path.stat().st_size > 1_000_000


@pytest.fixture(scope="module")
def batches() -> tuple[list[Run], list[Run]]:
    from conftest import HARSHER, PERMANENT_LIST

    small = {"population": 800, "days": 40}
    a = [simulate_city(PERMANENT_LIST, seed=s, **small) for s in (3, 4, 5)]
    b = [simulate_city(PERMANENT_LIST, *HARSHER, seed=s, **small) for s in (3, 4, 5)]
    return a, b


def _text(part) -> str:
    return " ".join(
        [part.title]
        + [t for s in part.sections for t in [s.title, *s.paragraphs]]
        + [t.title + " " + " ".join(t.columns) for s in part.sections for t in s.tables]
        + [" ".join(row) for s in part.sections for t in s.tables for row in t.rows]
        + [c.title + " " + c.reading for c in part.charts()]
    )


def test_a_batch_is_reported_by_means_with_interval_bands(batches) -> None:
    """Issue 13, item 2: replicates, intervals and bands wherever a batch is given."""
    a, b = batches
    [part] = parts([a])
    text = _text(part)
    assert "3 replicates" in text and "95% interval" in text
    section = next(s for s in part.sections if s.key == "replicates")
    banded = [s for c in section.charts for s in c.series if s.lo is not None]
    assert banded
    for s in banded:
        assert all(lo <= y <= hi for lo, y, hi in zip(s.lo, s.y, s.hi, strict=True))
    mean = next(s for s in section.charts if s.key.endswith("mean-score")).series[0]
    finals = [r.summary["mean_score"] for r in a]
    assert mean.y[-1] == pytest.approx(sum(finals) / 3)
    table = {row[0]: row for row in section.tables[0].rows}
    assert table["mean_score"][1] == num(round(sum(finals) / 3, 4))
    compare, *_ = parts([a, b])
    text = _text(compare)
    assert "replicates" in text and "means over 3 replicate pairs" in text
    overlay = next(c for c in compare.charts() if c.key == "compare-mean-score")
    assert all(s.lo is not None for s in overlay.series)
    assert "rules.0.points: -5 -> -8" in text


@pytest.fixture(scope="module")
def worlds() -> tuple[scsim.WorldRun, scsim.WorldRun]:
    one = scsim.simulate("china-2018", population=2000, days=40, seed=1)
    two = scsim.simulate("china-2018", population=2000, days=40, seed=1)
    return one, two


def test_a_world_reports_each_operator_flows_and_cascade(worlds) -> None:
    """Issue 13, item 3: never operators paired with each other."""
    one, _ = worlds
    report = parts([one])
    assert [p.key for p in report] == ["run-world", *(f"run-{op}" for op in one.runs)]
    text = _text(report[0])
    for words in ("cascade_wrongful", "sanctions_per_listed", "civil_service_barred", "Flows"):
        assert words in text
    cascade = {row[0]: row[1] for row in report[0].sections[1].tables[0].rows}
    assert cascade["cascade_wrongful ((person, sanction) pairs)"] == num(
        one.summary["cascade_wrongful"]
    )
    assert all("(A) and" not in _text(p) for p in report)


def test_two_worlds_are_compared_operator_by_operator(worlds) -> None:
    report = parts(list(worlds))
    paired = [s.title for p in report for s in p.sections if s.title.startswith("Paired")]
    assert len(paired) == len(worlds[0].runs)
    for title, op in zip(paired, worlds[0].runs, strict=True):
        assert title.count(f"· {op} (") == 2 and title.count("·") == 2
    assert report[0].key == "compare-worlds" and "cascade" in _text(report[0])
