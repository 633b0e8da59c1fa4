"""The figures of docs/dynamics.md: what a regime does to ties and to behaviour.

    python scripts/dynamics.py [--out docs/img] [--population 20000]

Each figure is two or three runs of a small synthetic regime that differ in one key
only, with the same seed (common random numbers). Prints the numbers the page quotes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl

from scsim.engine.run import simulate
from scsim.regime.loader import validate_mapping

SEED = 1


def regime(behaviours, rules, watches, **changes):
    data = {
        "name": "dynamics",
        "score": {"initial": 1000, "floor": 0},
        "grades": [{"name": "A", "min": 990}, {"name": "B", "min": 900}, {"name": "D"}],
        "behaviours": behaviours,
        "observers": [{"name": "cam", "watches": watches, "coverage": 0.9}] if watches else [],
        "rules": rules,
    }
    data.update(changes)
    return validate_mapping(data, "<dynamics>")


def overall(run) -> pl.DataFrame:
    return run.daily.filter(pl.col("group") == "all")


def liability(n: int, out: Path) -> None:
    posts = {"post": {"rate": 0.01, "spread": 1.5}}
    rules = [{"on": "post", "points": -40}]
    nets = {
        "liability 0, no distancing": {"degree": 10, "homophily": 0.5},
        "liability 0, distancing": {
            "degree": 10,
            "distancing": {"rate": 0.05, "from": {"low_grade": "D"}},
        },
        "low-friend penalty 0.5/day + distancing": {
            "degree": 10,
            "low_friend_penalty": {"grade": "D", "points": 0.5},
            "distancing": {"rate": 0.05, "from": {"low_grade": "D"}},
        },
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, net in nets.items():
        run = simulate(regime(posts, rules, ["post"], network=net), n, 120, SEED)
        day = overall(run)
        axes[0].plot(day["day"], day["isolation"], label=label)
        axes[1].plot(day["day"], day["ties_dropped"].cum_sum() / n, label=label)
        low = run.agents.sort("score").head(n // 10)["degree"].mean()
        print(
            f"liability | {label}: isolation {day['isolation'][-1]:.3f}, ties dropped "
            f"{day['ties_dropped'].sum():.0f}, degree of the lowest decile {low:.2f} "
            f"(all {run.agents['degree'].mean():.2f}), grade D share "
            f"{day['grade_share.D'][-1]:.3f}, assortativity {day['score_assortativity'][-1]:.3f}"
        )
    axes[0].set(xlabel="day", ylabel="isolation (lowest decile degree / mean)")
    axes[1].set(xlabel="day", ylabel="ties dropped per agent (cumulative)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "dynamics-isolation.png", dpi=110)
    plt.close(fig)


def crossing(n: int, out: Path) -> None:
    beh = {
        "jaywalk": {
            "rate": 0.01,
            "deterrence": {"sensitivity": 15, "memory_days": 30, "seen": "everyone"},
            "displaced_to": "unwatched_crossing",
        },
        "unwatched_crossing": {"rate": 0.0005},
    }
    plain = {"jaywalk": {"rate": 0.01}, "unwatched_crossing": {"rate": 0.0005}}
    rules = [{"on": "jaywalk", "points": -20}]
    shown = overall(simulate(regime(beh, rules, ["jaywalk"]), n, 90, SEED))
    hidden = overall(simulate(regime(plain, rules, ["jaywalk"]), n, 90, SEED))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(hidden["day"], hidden["events_true.jaywalk"], label="watched crossing, no display")
    ax.plot(shown["day"], shown["events_true.jaywalk"], label="watched crossing, displayed")
    ax.plot(shown["day"], shown["events_true.unwatched_crossing"], label="unwatched crossing")
    ax.set(xlabel="day", ylabel="offences a day")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "dynamics-crossing.png", dpi=110)
    plt.close(fig)
    first = shown["events_true.jaywalk"][0]
    last = shown["events_true.jaywalk"].tail(30).mean()
    moved = shown["events_true.unwatched_crossing"].tail(30).mean()
    print(f"crossing: {first:.0f} on day 0, {last:.1f} a day over the last 30 days")
    print(f"crossing: unwatched crossing {moved:.1f} a day over the last 30 days")
    print(f"crossing: chilling.jaywalk at the end {shown['chilling.jaywalk'][-1]:.3f}")


def chilling(n: int, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for penalised, observed in [(False, True), (True, False), (True, True)]:
        beh = {"illegal_post": {"rate": 0.02}, "critical_post": {"rate": 0.02}}
        if penalised:
            beh["illegal_post"]["deterrence"] = {"sensitivity": 5, "memory_days": 30}
            beh["critical_post"]["chilled_by"] = {"behaviour": "illegal_post", "share": 0.5}
        rules = [{"on": "illegal_post", "points": -20 if penalised else 0}]
        reg = regime(beh, rules, ["illegal_post"] if observed else [])
        day = overall(simulate(reg, n, 90, SEED))
        base = day["events_true.critical_post"].head(5).mean()
        label = f"illegal post {'penalised' if penalised else 'not penalised'}, " + (
            "observed" if observed else "unobserved"
        )
        ax.plot(day["day"], day["events_true.critical_post"] / base, label=label)
        chill = day["chilling.critical_post"][-1] if penalised else 1.0
        print(f"chilling | {label}: chilling.critical_post {chill:.3f}")
    ax.set(xlabel="day", ylabel="legal critical posts / first days")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "dynamics-chilling.png", dpi=110)
    plt.close(fig)


def gaming(n: int, out: Path) -> None:
    beh = {"offence": {"rate": 0.01}, "read_paper": {"rate": 0.001}}
    rules = [{"on": "offence", "points": -5}, {"on": "read_paper", "points": 1}]
    gamed = {**beh, "read_paper": {"rate": 0.001, "gaming": {"uptake": 0.002, "rate": 1}}}
    a = overall(simulate(regime(beh, rules, ["offence", "read_paper"]), n, 120, SEED))
    b = overall(simulate(regime(gamed, rules, ["offence", "read_paper"]), n, 120, SEED))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot(a["day"], a["mean_score"], label="no gaming")
    axes[0].plot(b["day"], b["mean_score"], label="gaming (bots)")
    axes[1].plot(a["day"], a["events_true.offence"], label="offences, no gaming")
    axes[1].plot(b["day"], b["events_true.offence"], "--", label="offences, gaming")
    axes[0].set(xlabel="day", ylabel="mean score")
    axes[1].set(xlabel="day", ylabel="offences a day")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "dynamics-gaming.png", dpi=110)
    plt.close(fig)
    same = (a["events_true.offence"] == b["events_true.offence"]).all()
    print(
        f"gaming: mean score {a['mean_score'][-1]:.2f} without, {b['mean_score'][-1]:.2f} "
        f"with bots; gaming_share {b['gaming_share'][-1]:.3f}; offences identical: {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--population", type=int, default=20_000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for figure in (liability, crossing, chilling, gaming):
        figure(args.population, args.out)


if __name__ == "__main__":
    main()
