"""The part of a report about a world: its operators, the flows between them, the
joint sanctions and the cascade. Each operator's own sections follow it, one part per
operator, labelled with the world run; two world runs are compared operator by
operator (``world_comparison_part``), never one operator against another.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import polars as pl

from scsim.report.plain import Table, num
from scsim.report.run_charts import DAY, PEOPLE
from scsim.report.spec import Chart, Part, Section, Series

if TYPE_CHECKING:
    from scsim.engine.result import WorldRun

CASCADE = (
    "cascade_wrongful: (person, sanction) pairs in force, over every operator's own "
    "sanctions and the joint sanctions, that the counterfactual without any false record "
    "does not have (family sanctions left out). <operator>.wrongfully_sanctioned: people "
    "under a sanction of that operator, family sanctions included, that they would not be "
    "under without a false record. One counts pairs, the other people, so neither bounds "
    "the other."
)


def world_label(run: WorldRun) -> str:
    return run.run_id or f"{run.world.name} (not stored)"


def operator_label(run: WorldRun, operator: str) -> str:
    """How a report names one operator of a world run: the world run, then it."""
    return f"{world_label(run)} · {operator}"


def world_part(run: WorldRun, key: str = "world") -> Part:
    """The world's operators, flows and joint sanctions, then the cascade."""
    label = world_label(run)
    sections = [_structure(run), _cascade(run, key, label)]
    title = (
        f"World run {label}: {run.world.name}, {len(run.runs)} operators, "
        f"{run.population:,} people, {run.days:,} days, seed {run.seed}"
    )
    return Part(key, title, sections)


def _structure(run: WorldRun) -> Section:
    world = run.world
    section = Section("world", "The operators and the data between them")
    section.paragraphs.append(world.description or "")
    section.tables.append(
        Table(
            "Operators (each reported on its own below)",
            ("operator", "regime", "grades", "sanctions"),
            tuple(
                (
                    op,
                    r.regime.name,
                    ", ".join(g.name for g in r.regime.grades),
                    ", ".join(s.name for s in r.regime.sanctions) or "none",
                )
                for op, r in run.runs.items()
            ),
        )
    )
    if world.flows:
        section.tables.append(
            Table(
                "Flows: what one operator receives from another",
                ("from", "to", "carries", "recorded as", "delay (days)", "lost"),
                tuple(
                    (
                        f.from_,
                        f.to,
                        _carries(f),
                        f.as_ or "the same behaviours",
                        str(f.delay_days),
                        f"{f.loss:.0%}",
                    )
                    for f in world.flows
                ),
            )
        )
    else:
        section.paragraphs.append("No data flows between the operators.")
    if world.joint_sanctions:
        section.tables.append(
            Table(
                "Joint sanctions: enforced by other parties on an operator's list or grade",
                ("sanction", "enforced by", "reads", "after (days)", "never learnt of"),
                tuple(
                    (
                        j.name,
                        j.by or "—",
                        f"{j.on}: " + (f"list {j.list_}" if j.list_ else f"grade {j.grade}"),
                        str(j.delay_days),
                        f"{j.loss:.0%}",
                    )
                    for j in world.joint_sanctions
                ),
            )
        )
    return section


def _carries(flow) -> str:
    if flow.kind == "events":
        return "records of " + ", ".join(flow.events)
    return f"entries onto list {flow.list_}" if flow.kind == "list" else f"grade {flow.grade}"


def _cascade(run: WorldRun, key: str, label: str) -> Section:
    section = Section("cascade", "The cascade: joint sanctions and wrongful sanctions")
    s = run.summary
    rows = [
        (f"joint sanction {j.name}: people under it", num(s.get(f"sanctioned.{j.name}", 0)))
        for j in run.world.joint_sanctions
    ]
    rows += [
        (
            f"joint sanction {j.name}: wrongfully (no false record, not under it)",
            num(s.get(f"wrongfully_sanctioned.{j.name}", 0)),
        )
        for j in run.world.joint_sanctions
    ]
    per_listed = "sanctions_per_listed (mean sanctions on a listed person)"
    rows.append((per_listed, _num(s, "sanctions_per_listed")))
    rows += [(name, _num(s, name)) for name in s if name.startswith("sanctions_per_listed.")]
    rows.append(("cascade_wrongful ((person, sanction) pairs)", _num(s, "cascade_wrongful")))
    rows += [
        (f"{op}.wrongfully_sanctioned (people)", _num(s, f"{op}.wrongfully_sanctioned"))
        for op in run.runs
    ]
    last = f"On the last day, day {run.days - 1}"
    section.tables.append(Table(last, ("metric", "value"), tuple(rows)))
    section.paragraphs.append(CASCADE)
    daily = run.daily.filter(pl.col("group").cast(pl.String) == "all").sort("day")
    days = daily.get_column("day").to_list()
    columns = [("cascade_wrongful (pairs)", "cascade_wrongful")] + [
        (f"{op}.wrongfully_sanctioned (people)", f"{op}.wrongfully_sanctioned") for op in run.runs
    ]
    wrong = [
        Series(name, days, daily.get_column(col).to_list())
        for name, col in columns
        if col in daily.columns
    ]
    if any(v for series in wrong for v in series.y):
        last = {series.name: series.y[-1] for series in wrong}
        section.charts.append(
            Chart(
                f"{key}-cascade",
                f"Wrongful sanctions across the world per day — {label}",
                "On the last day: " + "; ".join(f"{n} {num(v)}" for n, v in last.items()) + ".",
                "line",
                DAY,
                "people, or (person, sanction) pairs (count)",
                tuple(wrong),
            )
        )
    else:
        section.paragraphs.append(
            "Nobody is wrongfully sanctioned anywhere in the world on any day."
        )
    joint = [
        Series(j.name, days, daily.get_column(f"sanctioned.{j.name}").to_list())
        for j in run.world.joint_sanctions
        if f"sanctioned.{j.name}" in daily.columns
    ]
    if joint and any(v for series in joint for v in series.y):
        section.charts.append(
            Chart(
                f"{key}-joint",
                f"People under each joint sanction per day — {label}",
                "On the last day: "
                + "; ".join(f"{series.name} {num(series.y[-1])}" for series in joint)
                + ".",
                "line",
                DAY,
                PEOPLE,
                tuple(joint),
            )
        )
    return section


def _num(summary: dict[str, float], name: str) -> str:
    value = summary.get(name, math.nan)
    return num(round(value, 4)) if math.isfinite(value) else "n/a (nobody listed)"


def world_comparison_part(worlds: list[WorldRun]) -> Part:
    """The world runs side by side: what differs, and the cascade's metrics; each
    operator is then compared with itself across the runs, never with another."""
    from scsim.analysis.compare import what_differs

    labels = [world_label(w) for w in worlds]
    section = Section("compare-worlds", "The worlds side by side")
    for w, label in zip(worlds[1:], labels[1:], strict=True):
        lines = what_differs(worlds[0], w)
        section.paragraphs.append(
            f"What differs from {labels[0]} to {label}: "
            + ("; ".join(lines) if lines else "nothing but the run")
            + "."
        )
    names = [n for n in worlds[0].summary if "." not in n or n.split(".")[0] not in worlds[0].runs]
    names += [f"{op}.wrongfully_sanctioned" for op in worlds[0].runs]
    rows = tuple((name, *(_num(w.summary, name) for w in worlds)) for name in dict.fromkeys(names))
    title = "The cascade on the last day, run by run"
    section.tables.append(Table(title, ("metric", *labels), rows))
    section.paragraphs.append(CASCADE)
    return Part("compare-worlds", f"Comparison of {len(worlds)} world runs", [section])
