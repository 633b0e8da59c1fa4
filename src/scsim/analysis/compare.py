"""Paired comparison of two runs: what a rule change did, agent by agent.

Two runs with the same population size, days and seed see the same behaviour draws
(common random numbers: docs/internals.md, "Randomness"): agent 4711 commits the same events
under A and under B. So the difference between the runs is not a difference between
two samples but, for each agent, what the rules did to them. This module says who is
sanctioned under one run and not the other, by group; how scores moved; and, for each
metric, B - A, with a confidence interval when both runs come with replicate seeds.

Every difference is **B minus A**.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from scsim.analysis.sanctions import sanction_expr
from scsim.analysis.stats import t_interval
from scsim.errors import ScsimError

if TYPE_CHECKING:
    from scsim.engine.result import Run

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class RunRef:
    """Which run a side of the comparison is."""

    run_id: str | None
    regime: str
    population: int
    days: int
    seed: int

    @classmethod
    def of(cls, run: Run) -> RunRef:
        return cls(run.run_id, run.regime.name, run.population, run.days, run.seed)

    def label(self) -> str:
        return f"{self.run_id or 'unsaved'} ({self.regime})"


@dataclass
class Comparison:
    """The paired comparison of run A with run B (differences are B - A).

    ``sanctions``: per sanction and group (``"all"`` first), the agents under it in A,
    in B, in both, and under it in one run only (``only_a``, ``only_b``).
    ``wrongful``: the same counts for the engine's per-agent ``wrongfully_sanctioned``
    flag (under a sanction only because of a false attribution); empty when either
    run's agents lack it.
    ``scores``: per group, mean scores and quantiles of the per-agent difference.
    These three are agent by agent, so they pair one seed: ``agents_seed``, the first
    pair's.
    ``metrics``: per metric of both summaries, A, B and the difference B - A, each the
    mean over the ``pairs`` seed pairs (one pair: the runs' own values), and the
    difference's 95% t-interval over the pairs (NaN with one pair), so a printed
    difference always lies inside its own interval. ``agents``: the per-agent pairing.
    ``differs``: what differs between A and B, one line each (regime keys, then
    population, days, seed): what the comparison measures the effect of.
    """

    a: RunRef
    b: RunRef
    sanctions: pl.DataFrame
    scores: pl.DataFrame
    metrics: pl.DataFrame
    agents: pl.DataFrame
    wrongful: pl.DataFrame = field(default_factory=pl.DataFrame)
    pairs: int = 1
    notes: list[str] = field(default_factory=list)
    differs: list[str] = field(default_factory=list)

    @property
    def agents_seed(self) -> int:
        """The seed of the pair the agent-by-agent tables are made of."""
        return self.a.seed

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (NaN and infinity become ``None``)."""
        metrics = _metrics_dict(self.metrics)
        return {
            "a": vars(self.a),
            "b": vars(self.b),
            "difference": "b - a",
            "pairs": self.pairs,
            "metrics_are": (
                f"means over {self.pairs} seed pairs, with the 95% t-interval of the "
                "difference over the pairs"
                if self.pairs > 1
                else "the values of one pair of runs"
            ),
            "agents_seed": self.agents_seed,
            "differs": list(self.differs),
            "sanctions": _records(self.sanctions),
            "wrongful": _records(self.wrongful),
            "scores": _records(self.scores),
            "metrics": metrics,
            "notes": list(self.notes),
        }


def _metrics_dict(metrics: pl.DataFrame) -> dict[str, Any]:
    """The metric table as JSON: per metric its kind, A, B, B - A and the interval."""
    return {
        row["metric"]: {
            "kind": row["kind"],
            "a": _finite(row["a"]),
            "b": _finite(row["b"]),
            "diff": _finite(row["diff"]),
            "ci": (
                [_finite(row["ci_lo"]), _finite(row["ci_hi"])]
                if math.isfinite(row["ci_lo"])
                else None
            ),
        }
        for row in metrics.iter_rows(named=True)
    }


def compare(a: Run | Sequence[Run], b: Run | Sequence[Run]) -> Comparison | WorldComparison:
    """Compare run A with run B agent by agent (differences are B - A).

    Two world runs (or batches of them) are compared operator by operator: a
    :class:`WorldComparison`, never one operator against another.

    ``a`` and ``b`` are runs, or replicate batches (sequences of runs with seeds
    S, S+1, ...; the first of each is the pair compared agent by agent). When both
    batches pair seed by seed, each metric's difference gets a 95% t-interval over
    the replicate pairs.

    Raises ``ScsimError`` when the runs cannot be paired: a different population
    size, number of days or seed (the message names which, with both values), or
    different population groups.
    """
    runs_a = _as_batch(a)
    runs_b = _as_batch(b)
    worlds = [hasattr(run, "world") for run in (*runs_a, *runs_b)]
    if all(worlds):
        return compare_worlds(runs_a, runs_b)
    if any(worlds):
        raise ScsimError(
            "compare: a world run can be compared only with another world run (operator "
            "by operator); to compare one operator with a regime's run, pass its run, e.g. "
            "compare(a.runs['court'], b)"
        )
    first_a, first_b = runs_a[0], runs_b[0]
    _check_pairable(first_a, first_b)
    notes: list[str] = []
    if _behaviour_key(first_a) != _behaviour_key(first_b):
        notes.append(
            "the regimes' behaviours differ, so the runs share behaviour draws only for "
            "the behaviours they have in common, with the same rates"
        )
    pairs = _replicate_pairs(runs_a, runs_b, notes)
    agents = _paired_agents(first_a, first_b)
    sanctions = sorted(
        {s.name for s in first_a.regime.sanctions} | {s.name for s in first_b.regime.sanctions},
        key=_order([s.name for r in (first_a, first_b) for s in r.regime.sanctions]),
    )
    return Comparison(
        a=RunRef.of(first_a),
        b=RunRef.of(first_b),
        sanctions=_sanction_table(agents, sanctions, _groups(first_a)),
        scores=_score_table(agents, _groups(first_a)),
        metrics=_metric_table(first_a, first_b, pairs, notes),
        agents=agents,
        wrongful=_wrongful_table(agents, _groups(first_a)),
        pairs=len(pairs),
        notes=notes,
        differs=what_differs(first_a, first_b),
    )


@dataclass
class WorldComparison:
    """Two world runs compared operator by operator (differences are B - A).

    ``operators``: each operator's :class:`Comparison` of its run in A with its run in
    B; ``metrics``: the world's own metrics (joint sanctions, the cascade) as in
    :class:`Comparison`; ``differs``: what differs between the worlds, key by key.
    """

    a: RunRef
    b: RunRef
    operators: dict[str, Comparison]
    metrics: pl.DataFrame
    pairs: int = 1
    differs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        world = _metrics_dict(self.metrics)
        return {
            "a": vars(self.a),
            "b": vars(self.b),
            "difference": "b - a",
            "pairs": self.pairs,
            "differs": list(self.differs),
            "world": world,
            "operators": {op: c.to_dict() for op, c in self.operators.items()},
            "notes": list(self.notes),
        }


def compare_worlds(a: list[Any], b: list[Any]) -> WorldComparison:
    """Each operator of world A with the same operator of world B (batches: seed by
    seed), and the worlds' own metrics; operators in one world only are noted."""
    ops = [op for op in a[0].runs if op in b[0].runs]
    notes = []
    only = sorted(set(a[0].runs) ^ set(b[0].runs))
    if only:
        notes.append(f"operators in one world only, not compared: {', '.join(only)}")
    operators = {op: compare([w.runs[op] for w in a], [w.runs[op] for w in b]) for op in ops}
    seeds_pair = [w.seed for w in a] == [w.seed for w in b]
    pairs = list(zip(a, b, strict=True)) if seeds_pair else [(a[0], b[0])]
    own = [n for n in a[0].summary if n.split(".", 1)[0] not in a[0].runs]
    return WorldComparison(
        a=RunRef.of(a[0]),
        b=RunRef.of(b[0]),
        operators=operators,
        metrics=_metric_table(a[0], b[0], pairs, notes, own),
        pairs=len(pairs),
        differs=what_differs(a[0], b[0]),
        notes=notes,
    )


def what_differs(a: Run, b: Run) -> list[str]:
    """What differs between runs A and B, one line each: the regime (or world) key by
    key (dotted paths, ``A -> B``), then population, days and seed; empty when they
    are the same run of the same regime."""
    dump_a, dump_b = (run.regime.model_dump(mode="json") for run in (a, b))
    lines = [f"{key}: {_show(va)} -> {_show(vb)}" for key, va, vb in regime_diff(dump_a, dump_b)]
    lines += [
        f"{name}: {va:,} -> {vb:,}"
        for name, va, vb in (
            ("population", a.population, b.population),
            ("days", a.days, b.days),
            ("seed", a.seed, b.seed),
        )
        if va != vb
    ]
    return lines


_MISSING = object()


def regime_diff(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every leaf where two resolved regimes (their ``model_dump``) differ, as
    ``(dotted.key, value in A, value in B)``; a key one side lacks has ``None`` there.
    Lists are compared item by item (``rules.0.points``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = list(a) + [k for k in b if k not in a]
        return [
            d
            for k in keys
            for d in regime_diff(a.get(k, _MISSING), b.get(k, _MISSING), f"{path}{k}.")
        ]
    if isinstance(a, list) and isinstance(b, list):
        longest = max(len(a), len(b))
        return [
            d
            for i in range(longest)
            for d in regime_diff(
                a[i] if i < len(a) else _MISSING, b[i] if i < len(b) else _MISSING, f"{path}{i}."
            )
        ]
    if a == b:
        return []
    return [(path.rstrip("."), None if a is _MISSING else a, None if b is _MISSING else b)]


def _show(value: Any) -> str:
    """A regime value as a reader would write it in the file (JSON is YAML)."""
    import json

    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= 60 else text[:57] + "..."


def pairing_problem(a: Run, b: Run) -> str | None:
    """Why ``a`` and ``b`` cannot be paired, or ``None`` when they can."""
    differ = [
        f"{name} differs (A: {va:,}, B: {vb:,})"
        for name, va, vb in (
            ("population", a.population, b.population),
            ("days", a.days, b.days),
            ("seed", a.seed, b.seed),
        )
        if va != vb
    ]
    if differ:
        return (
            f"cannot pair {_name(a)} with {_name(b)}: {' and '.join(differ)}; a paired "
            "comparison needs the same population, days and seed, so that both runs see "
            "the same behaviour draws (run B again with the --population, --days and "
            "--seed of A)"
        )
    groups_a = [(g.name, g.share) for g in a.regime.groups]
    groups_b = [(g.name, g.share) for g in b.regime.groups]
    if groups_a != groups_b:
        return (
            f"cannot pair {_name(a)} with {_name(b)}: their populations differ, the "
            f"regimes define different groups (A: {_fmt_groups(groups_a)}; "
            f"B: {_fmt_groups(groups_b)}); pairing agent by agent needs the same groups "
            "and shares"
        )
    for run in (a, b):
        missing = {"agent", "group", "household", "score", "grade", "listed"} - set(
            run.agents.columns
        )
        if missing:
            return (
                f"run {_name(run)} has no agent table with {sorted(missing)}; a paired "
                "comparison reads each agent's final state"
            )
    return None


def _check_pairable(a: Run, b: Run) -> None:
    problem = pairing_problem(a, b)
    if problem is not None:
        raise ScsimError(problem)


def _as_batch(runs: Run | Sequence[Run]) -> list[Run]:
    batch = [runs] if not isinstance(runs, Sequence) else list(runs)
    if not batch:
        raise ScsimError("compare: an empty batch of runs; pass a run or a list of runs")
    return batch


def _replicate_pairs(a: list[Run], b: list[Run], notes: list[str]) -> list[tuple[Run, Run]]:
    """Seed-by-seed pairs of two replicate batches, or the one pair of first runs."""
    if len(a) == 1 and len(b) == 1:
        return [(a[0], b[0])]
    seeds_a, seeds_b = [r.seed for r in a], [r.seed for r in b]
    if seeds_a != seeds_b:
        notes.append(
            f"no confidence interval: the replicate batches do not pair seed by seed "
            f"(A: {len(a)} runs, seeds {_fmt_seeds(seeds_a)}; "
            f"B: {len(b)} runs, seeds {_fmt_seeds(seeds_b)})"
        )
        return [(a[0], b[0])]
    pairs = list(zip(a, b, strict=True))
    for ra, rb in pairs[1:]:
        _check_pairable(ra, rb)
    return pairs


def _behaviour_key(run: Run) -> tuple[Any, ...]:
    """What the behaviour draws depend on besides population, days and seed."""
    regime = run.regime
    return (regime.behaviours, [g.rate_multiplier for g in regime.groups])


def _groups(run: Run) -> list[str]:
    return ["all", *(g.name for g in run.regime.groups)]


def _paired_agents(a: Run, b: Run) -> pl.DataFrame:
    """Per agent: scores, grades, list flags and per-sanction flags under A and B."""

    def side(run: Run, tag: str) -> pl.DataFrame:
        agents = run.agents.sort("agent")
        columns = set(agents.columns)
        flags = [
            sanction_expr(s.applies_to, columns).alias(f"sanctioned_{tag}.{s.name}")
            for s in run.regime.sanctions
        ]
        wrongful = (
            [pl.col("wrongfully_sanctioned").alias(f"wrongfully_sanctioned_{tag}")]
            if "wrongfully_sanctioned" in columns
            else []
        )
        return agents.select(
            pl.col("agent"),
            pl.col("group").cast(pl.String),
            pl.col("score").cast(pl.Float64).alias(f"score_{tag}"),
            pl.col("grade").cast(pl.String).alias(f"grade_{tag}"),
            pl.col("listed").alias(f"listed_{tag}"),
            *flags,
            *wrongful,
        )

    left, right = side(a, "a"), side(b, "b")
    if not left.get_column("group").equals(right.get_column("group")):
        raise ScsimError(
            f"cannot pair {_name(a)} with {_name(b)}: agents fall in different groups "
            "although population, seed and group shares match; were they made by "
            "different versions of scsim?"
        )
    joined = pl.concat([left, right.drop("agent", "group")], how="horizontal")
    return joined.with_columns((pl.col("score_b") - pl.col("score_a")).alias("score_diff"))


def _sanction_table(agents: pl.DataFrame, sanctions: list[str], groups: list[str]) -> pl.DataFrame:
    return _both_ways(
        agents, [(n, f"sanctioned_a.{n}", f"sanctioned_b.{n}") for n in sanctions], groups
    )


def _wrongful_table(agents: pl.DataFrame, groups: list[str]) -> pl.DataFrame:
    """Who is wrongfully sanctioned under A only and under B only, by group."""
    columns = ("wrongfully_sanctioned_a", "wrongfully_sanctioned_b")
    if not all(c in agents.columns for c in columns):
        return _both_ways(agents, [], groups)
    return _both_ways(agents, [("wrongfully_sanctioned", *columns)], groups)


def _both_ways(
    agents: pl.DataFrame, flags: list[tuple[str, str, str]], groups: list[str]
) -> pl.DataFrame:
    """Per (name, flag under A, flag under B) and group: A, B, both, A only, B only."""
    frames = []
    for name, column_a, column_b in flags:
        in_a = _flag(agents, column_a)
        in_b = _flag(agents, column_b)
        per = agents.select(pl.col("group"), in_a.alias("in_a"), in_b.alias("in_b"))
        aggs = [
            pl.len().alias("population"),
            pl.col("in_a").sum().alias("sanctioned_a"),
            pl.col("in_b").sum().alias("sanctioned_b"),
            (pl.col("in_a") & pl.col("in_b")).sum().alias("both"),
            (pl.col("in_a") & ~pl.col("in_b")).sum().alias("only_a"),
            (~pl.col("in_a") & pl.col("in_b")).sum().alias("only_b"),
        ]
        overall = per.select(pl.lit("all").alias("group"), *aggs)
        by_group = per.group_by("group").agg(aggs)
        table = pl.concat([overall, by_group], how="vertical_relaxed")
        frames.append(
            _in_group_order(table, groups).select(pl.lit(name).alias("sanction"), pl.all())
        )
    schema = {
        "sanction": pl.String,
        "group": pl.String,
        **dict.fromkeys(
            ("population", "sanctioned_a", "sanctioned_b", "both", "only_a", "only_b"), pl.Int64
        ),
    }
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames, how="vertical_relaxed").cast(schema)


def _flag(agents: pl.DataFrame, column: str) -> pl.Expr:
    """A sanction the run's regime does not have sanctions nobody in that run."""
    return pl.col(column) if column in agents.columns else pl.lit(False)


def _score_table(agents: pl.DataFrame, groups: list[str]) -> pl.DataFrame:
    aggs = [
        pl.len().alias("agents"),
        pl.col("score_a").mean().alias("mean_a"),
        pl.col("score_b").mean().alias("mean_b"),
        pl.col("score_diff").mean().alias("mean_diff"),
        *(
            pl.col("score_diff").quantile(q, interpolation="linear").alias(f"q{round(q * 100):02d}")
            for q in QUANTILES
        ),
        (pl.col("score_diff") < 0).sum().alias("lower_under_b"),
        (pl.col("score_diff") > 0).sum().alias("higher_under_b"),
    ]
    overall = agents.select(pl.lit("all").alias("group"), *aggs)
    by_group = agents.group_by("group").agg(aggs)
    table = pl.concat([overall, by_group], how="vertical_relaxed")
    return _in_group_order(table, groups).with_columns(
        pl.col("agents", "lower_under_b", "higher_under_b").cast(pl.Int64)
    )


def _metric_table(
    a: Run,
    b: Run,
    pairs: list[tuple[Run, Run]],
    notes: list[str],
    only: list[str] | None = None,
) -> pl.DataFrame:
    names = [m for m in (a.summary if only is None else only) if m in b.summary]
    only = sorted(set(a.summary) ^ set(b.summary))
    if only:
        notes.append(
            f"{len(only)} metrics exist in one run only and are not compared: "
            + ", ".join(only[:8])
            + (" ..." if len(only) > 8 else "")
        )
    rows = []
    for name in names:
        if len(pairs) > 1:
            va = _mean([ra.summary[name] for ra, _ in pairs])
            vb = _mean([rb.summary[name] for _, rb in pairs])
            diffs = [_diff(ra.summary[name], rb.summary[name]) for ra, rb in pairs]
            diff, lo, hi = t_interval(diffs)
            if not math.isfinite(lo) and all(d == 0 for d in diffs):
                diff = lo = hi = 0.0  # equal infinities in every pair differ by nothing
        else:
            va, vb = a.summary[name], b.summary[name]
            diff, lo, hi = _diff(va, vb), math.nan, math.nan
        rows.append(
            {
                "metric": name,
                "kind": "stock" if name in a.stocks else "flow",
                "a": va,
                "b": vb,
                "diff": diff,
                "ci_lo": lo,
                "ci_hi": hi,
            }
        )
    schema = {
        "metric": pl.String,
        "kind": pl.String,
        **dict.fromkeys(("a", "b", "diff", "ci_lo", "ci_hi"), pl.Float64),
    }
    return pl.DataFrame(rows, schema=schema)


def _mean(values: list[float]) -> float:
    """The mean over replicates; NaN when a replicate's value is undefined, infinite
    when every replicate agrees on that infinity."""
    if all(v == values[0] for v in values):
        return values[0]
    return t_interval(values)[0]


def _diff(va: float, vb: float) -> float:
    if va == vb:  # equal infinities differ by nothing, not by NaN
        return 0.0
    return vb - va


def _in_group_order(table: pl.DataFrame, groups: list[str]) -> pl.DataFrame:
    rank = {g: i for i, g in enumerate(groups)}
    return (
        table.with_columns(pl.col("group").replace_strict(rank, default=len(rank)).alias("_r"))
        .sort("_r", "group")
        .drop("_r")
    )


def _order(names: list[str]) -> Any:
    first = {n: i for i, n in reversed(list(enumerate(names)))}
    return lambda n: first[n]


def _name(run: Run) -> str:
    return run.run_id or f"the unsaved run of {run.regime.name}"


def _fmt_groups(groups: list[tuple[str, float]]) -> str:
    return ", ".join(f"{n} {s:g}" for n, s in groups)


def _fmt_seeds(seeds: list[int]) -> str:
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _finite(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
