"""The worked analysis of docs/sensitivity.md: which guessed figures of `national`
decide how many people are wrongfully sanctioned and how many end in grade D.

    python scripts/sensitivity_national.py [--store /tmp/national.duckdb] [--workers 2]

Two steps, both resumable (run the script again after an interruption):

1. Morris screening of the fourteen guesses in ``examples/national-morris.yaml``.
2. Sobol indices of the eight guesses with the largest mu* (each metric's mu* scaled
   by its largest, then the largest over the metrics), written to
   ``examples/national-sobol.yaml`` with the same ranges, 64 base samples and one
   replicate (the screening's two replicates measure the seed noise).

Writes the figures to ``docs/img/sensitivity/`` and prints the tables and readings
the page quotes, with the design sizes and the wall time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import scsim
from scsim.experiment import load_experiment
from scsim.experiment.report import sensitivity_figures
from scsim.experiment.sensitivity import analyse
from scsim.regime.loader import _parse

ROOT = Path(__file__).resolve().parent.parent
MORRIS = ROOT / "examples" / "national-morris.yaml"
SOBOL = ROOT / "examples" / "national-sobol.yaml"
TOP = 8
SOBOL_SAMPLES = 64


def run(file: Path, store: Path, workers: int | None):
    plan = load_experiment(file)
    t0 = time.perf_counter()
    result = scsim.sweep(plan, store=store, workers=workers)
    wall = time.perf_counter() - t0
    with scsim.open_store(store, read_only=True) as s:
        frame = s.experiment(result.id)
    found = analyse(frame, plan.spec, drop_failed=True)
    print(f"\n## {plan.name}: {len(plan.points)} points x {plan.spec.replicates} replicates "
          f"= {plan.runs()} runs of {plan.spec.population:,} people x {plan.spec.days} days; "
          f"{result.ran} run now in {wall:,.0f} s, {result.failed} failed")  # fmt: skip
    for ind in found:
        print(f"\n### {ind.metric} ({ind.method})\n")
        cols = ["parameter", *(c for c in ind.table.columns if c != "parameter")]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in ind.table.iter_rows(named=True):
            cells = [r["parameter"], *(f"{r[c]:.3g}" for c in cols[1:])]
            print("| " + " | ".join(cells) + " |")
        print(f"\n{ind.reading}")
    return plan, found


def top_guesses(found) -> list[str]:
    """The TOP parameters by the larger of the two metrics' scaled mu*."""
    score: dict[str, float] = {}
    for ind in found:
        t = ind.table.filter(ind.table["parameter"] != "dummy")
        if "mu_star" not in t.columns:
            continue
        peak = max(t["mu_star"].max(), 1e-300)
        for name, mu in t.select("parameter", "mu_star").iter_rows():
            score[name] = max(score.get(name, 0.0), mu / peak)
    return sorted(score, key=score.get, reverse=True)[:TOP]


def write_sobol(names: list[str]) -> None:
    """The Sobol experiment: the chosen parameters with the screening's ranges."""
    text = MORRIS.read_text(encoding="utf-8")
    data = _parse(text, str(MORRIS))
    lines = [
        "# Written by scripts/sensitivity_national.py: the eight guesses of",
        "# national-morris.yaml with the largest mu*, for Sobol indices.",
        "name: national-sobol",
        "description: Sobol indices of the eight most influential guesses of national.",
        "regime: national",
        f"population: {data['population']}",
        f"days: {data['days']}",
        f"seed: {data['seed']}",
        "replicates: 1",
        f"design: {{kind: sobol, samples: {SOBOL_SAMPLES}}}",
        f"metrics: [{', '.join(data['metrics'])}]",
        "parameters:",
    ]
    for line in text.splitlines():
        key = line.strip().split(":", 1)[0]
        if line.startswith("  ") and key in names:
            lines.append(line)
    SOBOL.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=Path("/tmp/scsim-national-sensitivity.duckdb"))
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "sensitivity")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    _, screened = run(MORRIS, args.store, args.workers)
    chosen = top_guesses(screened)
    print(f"\nthe {TOP} guesses with the largest mu*: {', '.join(chosen)}")
    write_sobol(chosen)
    _, indices = run(SOBOL, args.store, args.workers)
    for path in sensitivity_figures(screened + indices, args.out):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
