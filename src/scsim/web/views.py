"""What the page's compare view shows, as JSON: the same comparison as ``scsim
compare`` (``scsim.compare``), the report's comparison part (its tables, and its
charts as plotly figures), and the two regimes' differences key by key."""

from __future__ import annotations

import json
from typing import Any

from scsim.engine.result import Run


def comparison(a: list[Run], b: list[Run]) -> dict[str, Any]:
    """``a`` and ``b`` are batches (a run alone is a batch of one), first run first."""
    import plotly.io as pio

    import scsim
    from scsim.report.html import figure
    from scsim.report.multi import comparison_part

    result = scsim.compare(a, b)
    part = comparison_part([a, b])
    sections = [
        {
            "title": section.title,
            "paragraphs": list(section.paragraphs),
            "bullets": list(section.bullets),
            "tables": [
                {"title": t.title, "columns": list(t.columns), "rows": [list(r) for r in t.rows]}
                for t in section.tables
            ],
            "charts": [
                {"reading": c.reading, "figure": json.loads(pio.to_json(figure(c)))}
                for c in section.charts
            ],
        }
        for section in part.sections
    ]
    return {
        **result.to_dict(),
        "sections": sections,
        "regime_diff": regime_diff(a[0].regime, b[0].regime),
    }


def regime_diff(a: Any, b: Any) -> list[dict[str, Any]]:
    """Every dotted key whose value differs between two regimes (or worlds), as
    ``scsim compare`` lists them (``analysis.compare.regime_diff``)."""
    from scsim.analysis.compare import regime_diff as leaves

    dump_a, dump_b = a.model_dump(mode="json"), b.model_dump(mode="json")
    return [{"key": k, "a": va, "b": vb} for k, va, vb in leaves(dump_a, dump_b)]


def experiments(store: Any) -> list[dict[str, Any]]:
    """The stored experiments, oldest first, with their runs done (ok) and failed; a
    regime given as a file is named by its file name (no server path reaches the page)."""
    from pathlib import PurePath

    from scsim.store import experiments as tables

    return [{**row, "regime": PurePath(row["regime"]).name} for row in tables.listing(store)]


def experiment(store: Any, experiment_id: str) -> dict[str, Any]:
    """An experiment's design and ``scsim report EXPERIMENT``'s charts (each metric
    against each parameter, replicate means and 95% t-intervals) as plotly figures."""
    import plotly.io as pio

    from scsim.experiment.report import panel_figure, panels
    from scsim.store import experiments as tables

    meta = tables.info(store, experiment_id)
    frame = store.experiment(experiment_id)
    charts = [
        {"key": p.key, "metric": p.metric, "parameter": p.parameter, "reading": p.reading,
         "figure": json.loads(pio.to_json(panel_figure(p)))}
        for p in panels(frame, meta["columns"])
    ]  # fmt: skip
    return {
        "id": meta["id"],
        "name": meta["name"],
        "spec": meta["spec"],
        "columns": meta["columns"],
        "design": meta["design"],
        "runs": frame.height,
        "failed": frame.filter(frame["status"] == "failed").height,
        "charts": charts,
    }
