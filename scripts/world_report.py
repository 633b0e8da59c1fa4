"""Run each built-in world and write docs/worlds/<name>.md: its operators and flows, and
what the interplay does, computed here from the run, never typed by hand.

    python scripts/world_report.py                   # every built-in world
    python scripts/world_report.py china-2018 --population 50000 --days 180

Each doc records the command, the seed, the population and the days. The cascade is
read against the same world with every flow and joint sanction removed (a paired run,
same seed): the sanctions that only the interplay brings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

import scsim
from scsim.world import World, builtin_world_names, load_world

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "worlds"

#: Why cascade_wrongful and <operator>.wrongfully_sanctioned differ (docs/frames.md).
WRONGFUL_COUNTS = (
    "The two counts differ by definition: `<operator>.wrongfully_sanctioned` counts "
    "people (once, however many sanctions), family sanctions included; "
    "`cascade_wrongful` counts (person, sanction) pairs, family sanctions left out. A "
    "person wrongly under only a family sanction is in the first and not the second; one "
    "wrongly under two own sanctions counts once in the first and twice in the second."
)


def alone(name: str) -> World:
    """The same operators over the same people, with nothing passing between them."""
    return load_world(name, ["flows=[]", "joint_sanctions=[]"])


def sanctions(run, world: World) -> dict[str, float]:
    """Sanctions in force at the end, per operator and joint, as agent counts."""
    out = {}
    for op, r in world.regimes.items():
        for s in r.sanctions:
            out[f"{op}: {s.name}"] = run.summary[f"{op}.sanctioned.{s.name}"]
    for j in world.joint_sanctions:
        out[f"joint: {j.name} ({j.by})"] = run.summary.get(f"sanctioned.{j.name}", 0.0)
    return out


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def report(name: str, population: int, days: int, seed: int) -> str:
    world = load_world(name)
    t0 = time.perf_counter()
    run = scsim.simulate(world, population=population, days=days, seed=seed)
    base = scsim.simulate(alone(name), population=population, days=days, seed=seed,
                          keep_events=False)  # fmt: skip
    seconds = time.perf_counter() - t0
    lines = [f"# World `{name}`", "", world.description, ""]
    lines += [
        f"Made by `python scripts/world_report.py {name} --population {population} "
        f"--days {days} --seed {seed}` ({seconds:.0f} s for both runs). The world file is "
        f"`src/scsim/world/builtin/{name}.yaml`; its sources and guesses are there.",
        "",
        "## Operators",
        "",
    ]
    rows = []
    for op, r in world.regimes.items():
        lists = ", ".join(x.name for x in r.all_lists) or "none"
        rows.append([f"`{op}`", f"`{r.name}`", lists, str(len(r.sanctions))])
    lines += [*table(["operator", "regime", "lists", "sanctions"], rows), "", "## Flows", ""]
    rows = []
    for f in world.flows:
        what = f"events {', '.join(f.events)}" if f.events else (
            f"list {f.list_}" if f.list_ else f"grade {f.grade} or lower"
        )  # fmt: skip
        events = run.runs[f.to].events
        names = [f.as_] if f.as_ else f.events
        arrived = events.filter(
            (pl.col("observer").cast(str) == f.from_) & pl.col("behaviour").cast(str).is_in(names)
        ).height
        rows.append([f"{f.from_} → {f.to}", what, f"`{f.as_ or 'same'}`",
                     str(f.delay_days), f"{f.loss:g}", f"{arrived:,.0f}"])  # fmt: skip
    lines += table(["flow", "carries", "recorded as", "delay (days)", "loss",
                    "records arrived"], rows)  # fmt: skip
    lines += ["", "## What the interplay does", ""]
    lines += [
        "Sanctions in force on the last day (agents), with the flows and joint sanctions "
        "and without them (the same operators and people, paired on the seed):",
        "",
    ]
    with_, without = sanctions(run, world), sanctions(base, world)
    rows = [[k, f"{v:,.0f}", f"{without.get(k, 0):,.0f}"] for k, v in with_.items()]
    lines += table(["sanction", "world", "no flows"], rows)
    listed = sum(run.summary[f"{op}.blacklisted"] for op in world.regimes)
    lines += [
        "",
        f"- `sanctions_per_listed`: {run.summary['sanctions_per_listed']:.2f} distinct "
        f"sanctions in force on an agent on any list (without the flows: "
        f"{base.summary['sanctions_per_listed']:.2f}); {listed:,.0f} agent-listings.",
        f"- `cascade_wrongful`: {run.summary['cascade_wrongful']:,.0f} (person, sanction) "
        "pairs in force, over every operator's own sanctions and the joint sanctions "
        "(family sanctions left out), that trace back to a false attribution somewhere in "
        f"the world (without the flows: {base.summary['cascade_wrongful']:,.0f}).",
    ]
    for op in world.regimes:
        w, b = (
            run.summary[f"{op}.wrongfully_sanctioned"],
            base.summary[f"{op}.wrongfully_sanctioned"],
        )
        lines.append(f"- `{op}.wrongfully_sanctioned`: {w:,.0f} (without the flows: {b:,.0f})")
    lines += ["", WRONGFUL_COUNTS]
    lines += [
        "",
        "What one listing brings, across operators (mean distinct sanctions in force on "
        "an agent on that list, last day):",
        "",
    ]
    rows = [
        [f"{op}: {lst.name}", f"{run.summary[f'sanctions_per_listed.{op}.{lst.name}']:.2f}",
         f"{base.summary[f'sanctions_per_listed.{op}.{lst.name}']:.2f}",
         f"{run.summary[f'{op}.listed.{lst.name}']:,.0f}"]
        for op, r in world.regimes.items()
        for lst in r.all_lists
    ]  # fmt: skip
    lines += table(["list", "world", "no flows", "agents on it"], rows)
    daily = run.daily.filter(pl.col("group") == "all")
    spl = daily["sanctions_per_listed"].to_list()
    lines += [
        "",
        f"`sanctions_per_listed` over the run: day 30 {spl[min(30, days - 1)]:.2f}, "
        f"day {days // 2} {spl[days // 2]:.2f}, day {days - 1} {spl[-1]:.2f}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=builtin_world_names())
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        path = OUT / f"{name}.md"
        path.write_text(report(name, args.population, args.days, args.seed), encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
