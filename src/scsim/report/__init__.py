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
    from scsim.engine.result import Run

__all__ = ["Chart", "Part", "Section", "Series", "check_output", "parts", "write_report"]

Format = Literal["html", "png"]


def parts(runs: Sequence[Run]) -> list[Part]:
    """What the report shows: a comparison part for several runs, then each run."""
    from scsim.report.multi import comparison_part
    from scsim.report.run_charts import run_part

    runs = list(runs)
    out = [comparison_part(runs)] if len(runs) > 1 else []
    out += [run_part(run, f"run{i + 1}" if len(runs) > 1 else "run") for i, run in enumerate(runs)]
    return out


def write_report(runs: Sequence[Run], output: str | Path, *, format: Format = "html") -> list[Path]:
    """Write the report on ``runs`` and return the files written.

    ``html``: ``output`` is the file, self-contained (opens offline). ``png``:
    ``output`` is a directory (created if its parent exists) that gets one PNG per
    chart and ``captions.md``. A missing parent directory is an ``OptionError``, found
    before any work is done.
    """
    if not runs:
        raise OptionError("report: no run given; pass at least one run id")
    # A world reports as its operators, one run each.
    runs = [op for run in runs for op in (run.runs.values() if hasattr(run, "world") else [run])]
    out = check_output(output, format)
    if format == "html":
        from scsim.report import html

        return [html.write(parts(runs), out, _title(runs), html.subtitle_now())]
    from scsim.report import png

    out.mkdir(exist_ok=True)
    return png.write(parts(runs), out)


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
    if format == "png" and out.exists() and not out.is_dir():
        raise OptionError(f"-o {str(out)!r} is a file; --format png writes into a directory")
    return out


def _title(runs: Sequence[Run]) -> str:
    if len(runs) == 1:
        return f"scsim audit: {runs[0].regime.name}"
    names = list(dict.fromkeys(r.regime.name for r in runs))
    return f"scsim audit: {len(runs)} runs ({', '.join(names)})"
