"""What a simulation hands back: the frames a user reads and the facts the store keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from scsim.analysis.provenance import Explanation, WorldExplanation
    from scsim.regime import Regime
    from scsim.world import World


@dataclass(kw_only=True)
class _Frames:
    """What every finished run hands back, a regime's or a world's."""

    population: int
    days: int
    seed: int
    daily: pl.DataFrame
    agents: pl.DataFrame
    summary: dict[str, float]
    stocks: frozenset[str]
    seconds: float
    started: str
    finished: str
    params: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    events: pl.DataFrame | None = None
    transitions: pl.DataFrame | None = None
    list_moves: pl.DataFrame | None = None

    @property
    def compile_seconds(self) -> float:
        """Seconds of ``seconds`` spent compiling kernels (0 when numba's on-disk
        cache had them all: a first run on a machine pays this once)."""
        return float(self.params.get("compile_seconds", 0.0))

    @property
    def agent_days_per_s(self) -> float:
        """The engine's speed: agent-days a second, compile time excluded."""
        busy = self.seconds - self.compile_seconds
        return self.population * self.days / busy if busy > 0 else 0.0


@dataclass(kw_only=True)
class Run(_Frames):
    """One finished simulation.

    ``daily`` has one row per (day, group) with ``group == "all"`` for the whole
    population, then one column per metric (the names of docs/frames.md). ``agents`` is the final
    state, one row per agent. ``summary`` maps each metric to its value for the run:
    a stock's value on the last day, a flow's total over the run. ``events`` has one row
    per recorded event and ``list_moves`` one per entry onto or exit from a list (both
    None when the run was made with ``keep_events=False``); ``transitions`` counts the
    agents whose grade changed, per day and (from, to).
    """

    regime: Regime

    @property
    def by_group(self) -> pl.DataFrame:
        """Per-group impact of the run: one row for ``"all"``, then one per group.

        Computed on demand from ``daily`` and ``agents`` (see
        :func:`scsim.analysis.groups.by_group` and ``docs/frames.md`` for the columns),
        so a stored run gets it too.
        """
        from scsim.analysis.groups import by_group

        return by_group(self)

    def explain(self, agent: int, account: bool = True) -> Explanation:
        """The sanctions and rewards in force on ``agent`` at the end, and the recorded
        events behind each, marked true or false (``print(run.explain(4711).text())``).

        ``account``: re-run the run with the agent traced so that every point it gained
        or lost is attributed and a wrongful flag is followed to its false records
        (one more run of the same size); False reads the logs only."""
        from scsim.analysis.provenance import explain

        return explain(self, agent, account)


#: Columns of an operator's agents frame that belong to the person, not the operator.
PERSON_COLUMNS = ("agent", "group", "place", "household", "degree")


@dataclass(kw_only=True)
class WorldRun(_Frames):
    """One finished world: each operator's own :class:`Run` in ``runs`` (its frames
    exactly as a regime alone has them), and the world's frames, where every
    operator's metric and column is prefixed with the operator's name
    (``court.blacklisted``) and the world adds its joint sanctions
    (``sanctioned.<name>``, ``wrongfully_sanctioned.<name>``) and the cascade
    (``sanctions_per_listed``, ``cascade_wrongful``). ``events``, ``list_moves`` and
    ``transitions`` are the operators' logs with an ``operator`` column first.
    """

    world: World
    runs: dict[str, Run]

    @property
    def regime(self) -> World:
        """The world (what a stored run is "of", as a regime is for a ``Run``)."""
        return self.world

    @property
    def by_group(self) -> pl.DataFrame:
        """Per-group impact, operator by operator: each operator's ``Run.by_group``
        with an ``operator`` column first (columns an operator lacks are null), so a
        group's burden can be read across the scorers that share the population."""
        import polars as pl

        frames = [
            r.by_group.select(pl.lit(op).alias("operator"), pl.all()) for op, r in self.runs.items()
        ]
        return pl.concat(frames, how="diagonal_relaxed")

    def explain(self, agent: int, account: bool = True) -> WorldExplanation:
        """Every sanction in force on ``agent`` at the end, by operator and joint, each
        followed back across operators to its first cause (the events, true or
        false, where the record was made); ``account`` as for :meth:`Run.explain`."""
        from scsim.analysis.provenance import explain_world

        return explain_world(self, agent, account)


def world_run(world: World, runs: dict[str, Run], joint, sim, started, seconds, params) -> WorldRun:
    """The world's frames from its operators' runs and its own daily metrics."""
    import polars as pl

    from scsim.metrics.frames import daily_frame, summary

    first = next(iter(runs.values()))
    groups = ["all", *(g.name for g in first.regime.groups)]
    world_daily = daily_frame(joint, sim.world_names, groups)
    daily = pl.concat(
        [
            first.daily.select("day", "group"),
            *(r.daily.drop("day", "group").rename(_prefix(n)) for n, r in runs.items()),
            world_daily.drop("day", "group"),
        ],
        how="horizontal",
    )
    totals = {f"{n}.{k}": v for n, r in runs.items() for k, v in r.summary.items()}
    totals |= summary(joint[:, 0, :], sim.world_names, set(sim.world_names))
    stocks = {f"{n}.{k}" for n, r in runs.items() for k in r.stocks} | set(sim.world_names)

    def logs(attr: str) -> pl.DataFrame | None:
        frames = [
            getattr(r, attr).select(pl.lit(n).alias("operator"), pl.all())
            for n, r in runs.items()
            if getattr(r, attr) is not None
        ]
        return _stack(frames) if frames else None

    return WorldRun(
        world=world,
        runs=runs,
        population=first.population,
        days=first.days,
        seed=first.seed,
        daily=daily,
        agents=first.agents if first.agents.width == 0 else _world_agents(runs, sim),
        summary=totals,
        stocks=frozenset(stocks),
        seconds=seconds,
        started=started.isoformat(timespec="seconds"),
        finished=first.finished,
        params={
            **params,
            "bytes_per_agent": sum(r.params["bytes_per_agent"] for r in runs.values()),
        },
        events=logs("events"),
        list_moves=logs("list_moves"),
        transitions=logs("transitions"),
    )


def _prefix(name: str):
    return lambda column: f"{name}.{column}"


def _world_agents(runs: dict[str, Run], sim) -> pl.DataFrame:
    """One row per agent: the person's columns once, each operator's prefixed, then
    the joint sanctions in force at the end."""
    import polars as pl

    from scsim.engine.world import _joint_members

    first = next(iter(runs.values()))
    agents = first.agents.select(*PERSON_COLUMNS)
    for n, r in runs.items():
        agents = agents.hstack(r.agents.drop(*PERSON_COLUMNS).rename(_prefix(n)))
    for j in sim.joints:
        real, clean = _joint_members(j, sim.loops[j.on].state)
        agents = agents.with_columns(
            pl.Series(f"sanctioned.{j.name}", real),
            pl.Series(f"wrongfully_sanctioned.{j.name}", real & ~clean),
        )
    return agents


def _stack(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Operators' logs one under the other: their categorical columns (behaviour,
    observer, list, grade names differ between operators) become strings."""
    import polars as pl

    out = []
    for f in frames:
        out.append(
            f.with_columns(
                [
                    pl.col(c).cast(pl.String)
                    for c, t in f.schema.items()
                    if isinstance(t, pl.Enum | pl.Categorical)
                ]
            )
        )
    return pl.concat(out, how="vertical")


def world_from_frames(
    world: World,
    row: dict[str, Any],
    daily: pl.DataFrame,
    agents: pl.DataFrame,
    summary: dict[str, float],
    stocks: frozenset[str],
    run_id: str,
    events: pl.DataFrame | None,
    transitions: pl.DataFrame | None,
    list_moves: pl.DataFrame | None,
) -> WorldRun:
    """A stored world run, its operators' runs cut back out of the world's frames."""
    import json

    import polars as pl

    params = json.loads(row["params"])
    common = {
        "population": row["population"],
        "days": row["days"],
        "seed": row["seed"],
        "seconds": row["seconds"],
        "started": row["started"],
        "finished": row["finished"],
        "params": params,
    }

    def own(frame: pl.DataFrame | None, op: str) -> pl.DataFrame | None:
        if frame is None:
            return None
        return frame.filter(pl.col("operator") == op).drop("operator")

    runs = {}
    for op, regime in world.regimes.items():
        p = f"{op}."
        mine = {c: c.removeprefix(p) for c in daily.columns if c.startswith(p)}
        cols = {c: c.removeprefix(p) for c in agents.columns if c.startswith(p)}
        runs[op] = Run(
            regime=regime,
            daily=daily.select("day", "group", *mine).rename(mine),
            agents=agents.select(*PERSON_COLUMNS, *cols).rename(cols),
            summary={k.removeprefix(p): v for k, v in summary.items() if k.startswith(p)},
            stocks=frozenset(k.removeprefix(p) for k in stocks if k.startswith(p)),
            events=own(events, op),
            transitions=own(transitions, op),
            list_moves=own(list_moves, op),
            **common,
        )
    return WorldRun(
        world=world,
        runs=runs,
        daily=daily,
        agents=agents,
        summary=summary,
        stocks=stocks,
        run_id=run_id,
        events=events,
        transitions=transitions,
        list_moves=list_moves,
        **common,
    )
