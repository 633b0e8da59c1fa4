"""Reports on finished runs: a self-contained HTML file, or PNG figures for papers.

    from scsim.report import write_report
    write_report([run], "report.html")                 # one offline HTML file
    write_report([a, b], "figures/", format="png")     # one PNG per chart

What each section shows and how to read it: ``docs/report.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from scsim.errors import OptionError
from scsim.report.spec import Chart, Part, Section, Series

if TYPE_CHECKING:
    from scsim.engine.result import Run, WorldRun

__all__ = ["Chart", "Part", "Section", "Series", "check_output", "parts", "write_report"]

Format = Literal["html", "png"]


def parts(runs: Sequence[Run | WorldRun | Sequence[Run]]) -> list[Part]:
    """What the report shows: a comparison part for several runs, then each run.

    Each item is a run, a world run, or a replicate batch (a list of runs, seeds in
    order): a batch is shown by its means with 95% interval bands. A world shows its
    operators, flows and cascade, then each operator on its own; several world runs
    are compared operator by operator.
    """
    from scsim.report.multi import comparison_part
    from scsim.report.run_charts import run_part
    from scsim.report.world import operator_label, world_comparison_part, world_part

    units = [_unit(item) for item in runs]
    worlds = [u for u in units if not isinstance(u, list)]
    if worlds and len(worlds) < len(units):
        raise OptionError(
            "report: a world run cannot be compared with a regime's run; report them "
            "separately (or compare one operator's runs in Python)"
        )
    several = len(units) > 1
    out: list[Part] = []
    if worlds and several:
        out.append(world_comparison_part(worlds))
        for op in [op for op in worlds[0].runs if all(op in w.runs for w in worlds)]:
            labels = [operator_label(w, op) for w in worlds]
            title = f"Operator {op}: comparison of {len(worlds)} world runs"
            out.append(
                comparison_part([[w.runs[op]] for w in worlds], labels, f"compare-{op}", title)
            )
    elif several:
        out.append(comparison_part(units))
    for i, unit in enumerate(units):
        tag = f"run{i + 1}" if several else "run"
        if isinstance(unit, list):
            out.append(run_part(unit[0], tag, batch=unit))
            continue
        out.append(world_part(unit, f"{tag}-world"))
        out += [
            run_part(op_run, f"{tag}-{op}", operator_label(unit, op))
            for op, op_run in unit.runs.items()
        ]
    return out


def _unit(item: Run | WorldRun | Sequence[Run]) -> list[Run] | WorldRun:
    """A batch (a list of one or more runs), or a world run."""
    if isinstance(item, Sequence):
        batch = list(item)
        if not batch:
            raise OptionError("report: an empty batch of runs; pass a run or a list of runs")
        return batch
    return item if hasattr(item, "world") else [item]


def write_report(
    runs: Sequence[Run | WorldRun | Sequence[Run]], output: str | Path, *, format: Format = "html"
) -> list[Path]:
    """Write the report on ``runs`` and return the files written.

    Each item of ``runs`` is a run, a world run, or a replicate batch (a list of runs).
    ``html``: ``output`` is the file, self-contained (opens offline); it must end in
    ``.html`` or ``.htm``. ``png``: ``output`` is a directory (created if its parent
    exists) that gets one PNG per chart and ``captions.md``. A bad output is an
    ``OptionError``, found before any work is done.
    """
    if not runs:
        raise OptionError("report: no run given; pass at least one run id")
    out = check_output(output, format)
    made = parts(runs)
    if format == "html":
        from scsim.report import html

        return [html.write(made, out, _title(runs), html.subtitle_now())]
    from scsim.report import png

    out.mkdir(exist_ok=True)
    return png.write(made, out)


def check_output(output: str | Path, format: str) -> Path:
    """Refuse an output the report cannot be written to, before any work is done."""
    out = Path(output)
    if format not in ("html", "png"):
        raise OptionError(f"--format {format!r}: allowed: html, png")
    parent = out.parent
    if not parent.is_dir():
        raise OptionError(
            f"-o {str(out)!r}: directory {str(parent)!r} does not exist (create it first)"
        )
    if format == "html" and out.is_dir():
        raise OptionError(f"-o {str(out)!r} is a directory; give the HTML file's path")
    if format == "html" and out.suffix.lower() not in (".html", ".htm"):
        raise OptionError(
            f"-o {str(out)!r}: an HTML report's file name ends in .html (e.g. "
            f"{str(out.with_suffix('.html'))!r}); for one PNG per chart in a directory, "
            "add --format png"
        )
    if format == "png" and out.exists() and not out.is_dir():
        raise OptionError(f"-o {str(out)!r} is a file; --format png writes into a directory")
    return out


def _title(runs: Sequence) -> str:
    names = list(dict.fromkeys(_name(r) for r in runs))
    if len(runs) == 1:
        return f"scsim audit: {names[0]}"
    return f"scsim audit: {len(runs)} runs ({', '.join(names)})"


def _name(item) -> str:
    run = item[0] if isinstance(item, Sequence) else item
    return run.regime.name
