"""scsim beside its peers: one reference regime in scsim, Mesa 3 and mesa-frames.

    python bench/peers/compare.py [--population 20000] [--days 100] [--replicates 5]
                                  [--seed 1] [--peers mesa frames] [--threads N]

Runs reference.yaml with ``scsim.simulate`` and the same regime written as a Mesa 3
model (mesa_model.py: an Agent per citizen, ``shuffle_do``, a DataCollector) and as a
mesa-frames model (frames_model.py: one polars DataFrame of citizens), at the same
population and days, for several seeds. Prints each model's final-day mean score,
grade shares, blacklisted share and event flows as mean +- standard error over the
replicates, whether each peer agrees with scsim within sampling error
(|diff| < 3 x the combined SE), and agent-days per second of each (median over the
replicates, run side by side in the same process; numba compiles before timing, in a
warm-up run). A run's time includes building its population or agents and collecting
its daily metrics; scsim uses numba's threads (all cores unless ``--threads``), the
peers one core. Needs Python >= 3.12 with mesa and scsim installed: see README.md.

How the regime maps (scsim's semantics: docs/regime-format.md, src/scsim/observe/,
src/scsim/engine/); the peers take their figures from the loaded regime through
``peer_parameters``, which refuses a regime that uses anything not mapped here:

- behave: each citizen draws a Poisson count of events per behaviour per day at the
  behaviour's rate, the same for all (spread 0, one group). scsim draws one Poisson
  count of all behaviours and splits it by rate, which is the same law.
- observe: each event goes to the observers that watch its behaviour, in file order;
  the first one that has it in view (chance ``coverage``) takes it, and later ones
  never see it. An observer that does not search faces records the doer with chance
  ``detection``, else nobody. A searching one (false_match_rate > 0) has a gallery:
  each citizen is in it with chance ``enrolled``, drawn once. A search of an enrolled
  doer returns the doer with chance ``detection``; a search that did not return the
  doer returns an impostor with chance FPIR = 1 - (1 - false_match_rate) ** gallery
  (gallery null: represents x enrolled, represents null: n), else nobody. The
  impostor is an enrolled citizen other than the doer, drawn uniformly, with chance
  q = min(1, represents x enrolled / gallery), else someone outside the simulation
  (counted in false_matches_outside, nobody's score moves); the doer escapes it.
  Latency 0, no capacity, no household errors, no false accusations.
- score: every recorded event adds its behaviour's points (the sum of its rules, no
  yearly caps, no ``at_most``) to the blamed citizen's score on the day it happened.
- settle, after all of the day's records: the score is clamped to [floor, ceiling];
  the grade is the first whose min the score reaches; the days in the grade count 1 on
  a day the grade changed, else one more. A listed citizen counts its days on the list
  and leaves when the count passes ``exit.after_days``; leaving restarts the days in
  the grade at 0 (so the next day counts 1). A citizen not listed enters on the day its
  days in the list grade reach ``for_days``. The sanction applies to the listed.
- record: stocks at the end of the day (mean score, grade shares, the listed); events
  recorded, false attributions and false matches outside as totals over the run.
- no network (degree 0), households of one, everyone enrolled, no appeals, no
  behaviour change: the three models are the same stochastic process, drawn with
  different random numbers (scsim's counter-based hash; numpy and Python's random).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

import scsim

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference.yaml"


def false_match_probability(rate: float, gallery: int) -> float:
    """1 - (1 - rate) ** gallery, as scsim computes it (no cancellation for tiny rates)."""
    return float(-np.expm1(gallery * np.log1p(-rate))) if rate < 1 else 1.0


def search_parameters(o, people: int) -> dict:
    """One observer's figures: enrolled share, FPIR and the chance an impostor is
    simulated, from the formulas of docs/regime-format.md ("Face searches")."""
    out = {"name": o.name, "watches": list(o.watches), "coverage": float(o.coverage)}
    out |= {"detection": o.detection, "enrolled": 1.0, "p_false": 0.0, "p_inside": 0.0}
    if o.false_match_rate > 0:
        gallery = round(people * o.enrolled) if o.gallery is None else o.gallery
        out["enrolled"] = o.enrolled
        if gallery > 0:
            out["p_false"] = false_match_probability(o.false_match_rate, gallery)
            out["p_inside"] = min(1.0, people * o.enrolled / gallery)
    return out


def peer_parameters(regime, n: int) -> dict:
    """The regime's figures as plain Python values for the peers.

    Refuses (SystemExit) a regime that uses a key the peers do not implement.
    """
    r = regime
    beh, lst = list(r.behaviours.values()), r.blacklist
    by_grade = lst is not None and len(lst.enter) == 1 and hasattr(lst.enter[0], "for_days")
    unmapped = {
        "spread > 0": any(b.spread > 0 for b in beh),
        "behaviour change": any(
            b.deterrence or b.chilled_by or b.displaced_to or b.gaming for b in beh
        ),
        "groups or places": len(r.groups) > 1 or len(r.places) > 1,
        "households": r.households.mean_size != 1 or r.score.unit != "person",
        "a network": r.network.degree > 0,
        "enrolment or appeals": r.enrolment.share < 1 or r.appeals is not None,
        "lists or rewards": bool(r.lists or r.rewards),
        "observers' latency, capacity, attribute_error, false_accusations, adaptive or "
        "coverage per place": any(
            o.latency_days
            or o.capacity_per_day is not None
            or o.attribute_error
            or o.false_accusations
            or o.adaptive
            or isinstance(o.coverage, dict)
            for o in r.observers
        ),
        "escalation, max_per_year or at_most": any(
            not isinstance(x.points, float) or x.max_per_year or x.at_most is not None
            for x in r.rules
        ),
        "a blacklist other than one grade condition, without cure or reset_score": (
            not by_grade or lst.exit.cure is not None or lst.exit.reset_score
        ),
        "sanctions other than applies_to: blacklisted": any(
            s.applies_to.grades or s.applies_to.lists or s.applies_to.family for s in r.sanctions
        ),
    }
    used = [what for what, yes in unmapped.items() if yes]
    if used:
        raise SystemExit(f"{r.source}: the peers do not implement {'; '.join(used)}")
    points: dict[str, float] = {}
    for rule in r.rules:
        points[rule.on] = points.get(rule.on, 0.0) + rule.points
    observers = [
        search_parameters(o, n if r.represents is None else r.represents) for o in r.observers
    ]
    return {
        "rates": {name: b.rate for name, b in r.behaviours.items()},
        "points": points,
        "observers": observers,
        "initial": r.score.initial,
        "floor": -math.inf if r.score.floor is None else r.score.floor,
        "ceiling": math.inf if r.score.ceiling is None else r.score.ceiling,
        "grades": [(g.name, g.min) for g in r.grades],
        "list_grade": lst.enter[0].grade,
        "for_days": lst.enter[0].for_days,
        "after_days": lst.exit.after_days,
    }


def grade_names(params: dict) -> list[str]:
    return [name for name, _ in params["grades"]]


def run_scsim(regime, n: int, days: int, seed: int, threads: int | None) -> tuple[dict, float]:
    t0 = time.perf_counter()
    run = scsim.simulate(regime, population=n, days=days, seed=seed, threads=threads)
    seconds = time.perf_counter() - t0
    s = run.summary
    out = {
        "mean_score": s["mean_score"],
        **{f"grade_share.{g.name}": s[f"grade_share.{g.name}"] for g in regime.grades},
        "blacklisted": s["blacklisted"] / n,
        "recorded": sum(s[f"events_recorded.{b}"] for b in regime.behaviours) / (n * days),
        "false_attributions": s["false_attributions"] / (n * days),
        "false_matches_outside": s["false_matches_outside"] / (n * days),
    }
    return out, seconds


def run_mesa(params: dict, n: int, days: int, seed: int) -> tuple[dict, float]:
    from mesa_model import ReferenceModel

    t0 = time.perf_counter()
    model = ReferenceModel(n, params, rng=seed)
    for _ in range(days):
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    seconds = time.perf_counter() - t0
    last = frame.iloc[-1]
    out = {
        "mean_score": float(last["mean_score"]),
        **{f"grade_share.{g}": float(last[f"grade_share.{g}"]) for g in grade_names(params)},
        "blacklisted": float(last["blacklisted"]) / n,
        "recorded": float(last["recorded"]) / (n * days),
        "false_attributions": float(last["false_attributions"]) / (n * days),
        "false_matches_outside": float(last["false_matches_outside"]) / (n * days),
    }
    return out, seconds


def run_frames(params: dict, n: int, days: int, seed: int) -> tuple[dict, float]:
    from frames_model import ReferenceModelDF

    t0 = time.perf_counter()
    model = ReferenceModelDF(n, params, seed=seed)
    for _ in range(days):
        model.step()
    frame = model.daily()
    seconds = time.perf_counter() - t0
    last = frame.row(-1, named=True)
    out = {
        "mean_score": last["mean_score"],
        **{f"grade_share.{g}": last[f"grade_share.{g}"] for g in grade_names(params)},
        "blacklisted": last["blacklisted"] / n,
        "recorded": last["recorded"] / (n * days),
        "false_attributions": last["false_attributions"] / (n * days),
        "false_matches_outside": last["false_matches_outside"] / (n * days),
    }
    return out, seconds


def mean_se(values: list[float]) -> tuple[float, float]:
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return m, se


def versions(peers: list[str]) -> str:
    parts = [
        f"Python {platform.python_version()}",
        f"scsim {scsim.__version__} (numba {numba.__version__}, numpy {np.__version__})",
    ]
    if "mesa" in peers:
        import mesa

        parts.append(f"Mesa {mesa.__version__}")
    if "frames" in peers:
        import mesa_frames
        import polars

        parts.append(f"mesa-frames {mesa_frames.__version__} (polars {polars.__version__})")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", default=str(REFERENCE))
    parser.add_argument("--population", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--replicates", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1, help="first seed; then seed+1, ...")
    parser.add_argument("--peers", nargs="+", default=["mesa"], choices=["mesa", "frames"])
    parser.add_argument("--threads", type=int, default=None, help="numba threads for scsim")
    a = parser.parse_args()
    sys.path.insert(0, str(HERE))
    runners = {"mesa": run_mesa, "frames": run_frames}

    regime = scsim.load_regime(a.regime)
    params = peer_parameters(regime, a.population)
    for t in (a.threads, 1):  # numba compiles here, before anything is timed
        scsim.simulate(regime, population=1000, days=3, seed=0, threads=t)
    threads = a.threads or numba.config.NUMBA_NUM_THREADS
    print(versions(a.peers))
    print(f"{os.cpu_count()} cores; scsim on {threads} numba threads, the peers on one core")
    seeds = [a.seed + k for k in range(a.replicates)]
    print(
        f"regime {regime.name}: {a.population:,} agents x {a.days} days, "
        f"{a.replicates} replicates (seeds {seeds[0]}-{seeds[-1]})",
        flush=True,
    )

    models = ["scsim", *a.peers]
    finals: dict[str, list[dict]] = {m: [] for m in models}
    timed = ["scsim", "scsim-1t", *a.peers] if threads > 1 else models
    rates: dict[str, list[float]] = {m: [] for m in timed}
    agent_days = a.population * a.days
    for seed in seeds:
        line = [f"seed {seed}:"]
        for m in timed:
            gc.collect()
            if m == "scsim":
                out, secs = run_scsim(regime, a.population, a.days, seed, a.threads)
            elif m == "scsim-1t":
                out, secs = run_scsim(regime, a.population, a.days, seed, 1)
                if out != finals["scsim"][-1]:
                    raise SystemExit(f"seed {seed}: scsim on 1 thread differs from {threads}")
                out = None
            else:
                out, secs = runners[m](params, a.population, a.days, seed)
            if out is not None:
                finals[m].append(out)
            rates[m].append(agent_days / secs)
            line.append(f"{m} {secs:.2f} s")
        print("  ".join(line), flush=True)

    names = list(finals["scsim"][0])
    print()
    print("final day, mean +- SE over replicates (recorded, false_*: per agent-day);")
    print("z = |peer - scsim| / combined SE; agree: z < 3")
    head = f"{'metric':<19}" + "".join(f"{m:>23}" for m in models)
    head += "".join(f"{p + ' diff':>14}{'z':>6}  agree" for p in a.peers)
    print(head)
    disagree = []
    for name in names:
        stats = {m: mean_se([f[name] for f in finals[m]]) for m in models}
        row = f"{name:<19}" + "".join(f"{_num(*stats[m]):>23}" for m in models)
        for p in a.peers:
            diff = stats[p][0] - stats["scsim"][0]
            se = math.hypot(stats[p][1], stats["scsim"][1])
            z = abs(diff) / se if se > 0 else (0.0 if diff == 0 else math.inf)
            if not z < 3:
                disagree.append(f"{p}:{name}")
            row += f"{diff:>+14.3g}{z:>6.1f}  {'yes' if z < 3 else 'NO'}"
        print(row)
    print()
    print("agent-days per second, median over replicates (setup and daily metrics included)")
    for m in timed:
        med = statistics.median(rates[m])
        note = {"scsim": f"{threads} numba threads", "scsim-1t": "1 numba thread"}.get(m, "")
        print(f"  {m:<9} {med:10.3g}   ({agent_days / med:6.2f} s a run)  {note}".rstrip())
    for p in a.peers:
        for m in timed:
            if m.startswith("scsim"):
                ratio = statistics.median(s / q for s, q in zip(rates[m], rates[p], strict=True))
                print(f"  {m} / {p}: {ratio:.3g}x (median of the per-replicate ratios)")
    print()
    if a.replicates < 2:
        print("agreement: needs 2 replicates or more")
    elif disagree:
        print(f"agreement: NO for {', '.join(disagree)}")
        if a.replicates < 5:
            print("(under 5 replicates the standard errors are rough: expect NO by chance)")
    else:
        print("agreement: every metric of every peer within 3 combined SE of scsim's")


def _num(m: float, se: float) -> str:
    return f"{m:.5g} +- {se:.2g}"


if __name__ == "__main__":
    main()
