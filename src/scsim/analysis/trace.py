"""Accounting for every point: an agent's score change split by what moved it.

The event log says which records an agent got; it cannot say what its friends' scores
(network liability), its friends' records (friend deductions), low-graded friends, its
household's records or the floor and ceiling did to its score. A run is a function of
(regime, population, days, seed), all stored, so ``explain`` re-runs it with the day
loop's trace hook (``DayLoop.trace``) on, reading the traced agents' two copies of the
score (the real life and the clean counterfactual without false attributions) after
each stage of each day. Each component is the difference between two consecutive
stages, so the components sum to the score change exactly; the re-run is checked to
end on the stored score before anything is shown.

The same trace says why an agent is wrongfully sanctioned: where its real and clean
scores part, and, through its friends and household, which false records did it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from scsim.errors import ScsimError

if TYPE_CHECKING:
    from scsim.engine.day import DayLoop
    from scsim.engine.result import Run, WorldRun

#: Stages in the order the hook reports them; "start" is the end of the day before.
STAGES = ("start", "appeals", "events", "friend_deductions", "liability", "low_friends", "settle")

#: Components of a score change, in the order of a day.
COMPONENTS = {
    "appeals": "appeals won (points given back)",
    "own_events": "own recorded events",
    "household": "household members' recorded events (the household is scored)",
    "friend_deductions": "friends' recorded deductions (a share of each)",
    "liability": "network liability (pulled toward friends' mean score)",
    "low_friends": "low-friend penalty (friends in a low grade)",
    "clamp": "clamped at the floor or ceiling",
    "reset": "score reset on leaving a list",
}


@dataclass
class Ledger:
    """Where every point of one agent's score change under one regime came from.

    ``parts``: component -> points in the real life (they sum to ``final - initial``
    exactly); ``gap``: component -> points by which the real life is below (negative)
    or above the clean counterfactual's; ``daily``: one row per day and component that
    moved. ``sources``: lines that trace a real/clean difference to the false records
    that made it (own, household, friends', through friends).
    """

    agent: int
    initial: float
    final: float
    clean_final: float
    parts: dict[str, float]
    gap: dict[str, float]
    daily: pl.DataFrame
    friends: list[tuple[int, float]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The ledger in words: each component that moved the score, the exact sum,
        and where the real life parted from the clean counterfactual."""
        out = [
            f"score {_pts(self.initial)} at the start -> {_pts(self.final)} at the end "
            f"({_pts(self.final - self.initial, True)} points), every point accounted for:"
        ]
        width = max(len(v) for v in COMPONENTS.values())
        for key, points in self.parts.items():
            if points or key == "own_events":
                out.append(f"  {COMPONENTS[key]:<{width}}  {_pts(points, True)}")
        total = sum(self.parts.values())
        out.append(f"  {'sum (= the score change)':<{width}}  {_pts(total, True)}")
        if self.clean_final != self.final:
            out.append(
                "without any false attribution (the clean counterfactual) the score would "
                f"end at {_pts(self.clean_final)}; the difference, "
                f"{_pts(self.final - self.clean_final, True)} points, came from:"
            )
            for key, points in self.gap.items():
                if points:
                    out.append(f"  {COMPONENTS[key]:<{width}}  {_pts(points, True)}")
            if self.friends:
                out.append(
                    "  the liability's pull from the friends whose own scores parted most "
                    "(before the pull back on the agent's own difference):"
                )
            for friend, points in self.friends[:5]:
                out.append(f"    friend {friend}: about {points:+.4g}")
        return out


def _pts(value: float, sign: bool = False) -> str:
    """Points exactly (scores are multiples of 1/256: the shortest repr is exact)."""
    text = str(int(value)) if float(value).is_integer() else repr(float(value))
    return ("+" + text) if sign and value >= 0 else text


def ledgers(run: Run | WorldRun, agents: list[int]) -> dict[str, dict[int, Ledger]]:
    """Re-run ``run`` with ``agents`` (and their friends and household) traced; per
    operator (``""`` for a single regime) and agent, its :class:`Ledger`.

    Raises ``ScsimError`` when the re-run does not end on the stored scores (a run
    made by another version of scsim).
    """
    loops, step, pop = _rebuild(run)
    ids, friends = _traced(pop, agents)
    tracers = {name: _Tracer(loop, ids, run.days) for name, loop in loops.items()}
    for name, loop in loops.items():
        loop.trace = tracers[name]
    for day in range(run.days):
        step(day)
    out = {}
    for name, tracer in tracers.items():
        loop = loops[name]
        op_run = run.runs[name] if name else run
        log = loop.log.frame(loop.regime)
        found = {}
        for a in agents:
            near = friends.get(a, np.zeros(0, np.int64))
            ledger = _ledger(tracer, loop, log, op_run, a, near)
            ledger.sources = _sources(tracer, loop, log, ledger, near)
            found[a] = ledger
        out[name] = found
    return out


#: How many false records are shown for one agent, and how many friends are followed.
SHOWN = 2
FRIENDS = 3


def _sources(tr: _Tracer, loop: DayLoop, log: pl.DataFrame, ledger: Ledger, friends) -> list[str]:
    """The false records behind the agent's real/clean difference, by the component
    that carried them: its own, its household's, its friends' (deductions), and, for
    the liability and low-friend pulls, those of the friends that pulled most (or of
    their friends whose scores parted too); else the nearest within four ties. Only
    deductions are shown: a false reward cannot put anyone under a sanction."""
    from scsim.analysis.provenance import _event_line

    false = log.filter(pl.col("false") & (pl.col("points") < 0))
    if false.height == 0:
        return []
    by_agent = false.with_columns(true=pl.lit(False)).partition_by("agent", as_dict=True)

    shown: set[int] = set()

    def show(j: int, path: str) -> list[str]:
        frame = by_agent.get((j,))
        if frame is None or j in shown:  # a household member is often a friend too
            return []
        shown.add(j)
        lines = [f"{path}: [{_event_line(r)[1:]}" for r in frame.head(SHOWN).to_dicts()]
        if frame.height > SHOWN:
            lines.append(f"{path}: and {frame.height - SHOWN} more false deductions")
        return lines

    agent, gap = ledger.agent, ledger.gap
    lines = show(agent, "its own record") if gap["own_events"] < 0 else []
    if gap["household"] < 0 or loop.has_family:
        for m in _household_of(loop.pop, agent):
            lines += show(int(m), f"household member {m}'s record")
    if gap["friend_deductions"] < 0:
        for j in friends:
            lines += show(int(j), f"friend {j}'s record (a share of it deducted)")
    if gap["liability"] < 0 or gap["low_friends"] < 0:
        parted = np.any(tr.real != tr.clean, axis=(0, 1))  # per traced agent, ever
        pulling = [j for j, share in ledger.friends if share < 0] or [int(j) for j in friends]
        for j in pulling[:FRIENDS]:
            direct = show(j, f"through friend {j}, its record")
            if direct:
                lines += direct
                continue
            deeper = [
                int(k)
                for k in _friends_of(loop.pop, j)
                if int(k) != agent and int(k) in tr.col and parted[tr.col[int(k)]]
            ]
            for k in [k for k in deeper if (k,) in by_agent][:SHOWN]:
                lines += show(k, f"through friend {j}, then its friend {k}, its record")
    return lines or _nearest(loop.pop, agent, by_agent, show)


def _nearest(pop, agent: int, by_agent: dict, show) -> list[str]:
    """The false records of the nearest agents (within four ties) that have any."""
    seen, ring = {agent}, [agent]
    for hops in range(1, 5):
        ring = [int(k) for j in ring for k in _friends_of(pop, j) if int(k) not in seen]
        seen |= set(ring)
        hit = [j for j in dict.fromkeys(ring) if (j,) in by_agent]
        if hit:
            return [line for j in hit[:SHOWN] for line in show(j, f"{hops} ties away, agent {j}")]
    return []


def _rebuild(run) -> tuple[dict[str, DayLoop], object, object]:
    """The run's day loops, built as ``simulate`` builds them (same seed: same draws)."""
    from scsim.engine.compile import compile_regime
    from scsim.engine.day import DayLoop
    from scsim.engine.run import DEFAULT_CHUNK
    from scsim.population import build_population

    if hasattr(run, "world"):
        from scsim.engine.world import WorldLoop

        first = next(iter(run.world.regimes.values()))
        pop = build_population(first, run.population, run.seed)
        sim = WorldLoop(run.world, pop, run.seed, DEFAULT_CHUNK, keep_events=True)
        return sim.loops, sim.step, pop
    pop = build_population(run.regime, run.population, run.seed)
    compiled = compile_regime(run.regime, run.population)
    loop = DayLoop(run.regime, compiled, pop, run.seed, DEFAULT_CHUNK, keep_events=True)
    return {"": loop}, loop.step, pop


def _friends_of(pop, i: int) -> np.ndarray:
    if pop.proc is not None:
        from scsim.population.procedural import partner

        g = pop.proc
        found = [partner(g.keys, g.n, g.n_local, r, i) for r in range(g.n_local + g.keys.size)]
        return np.array([j for j in found if j >= 0], dtype=np.int64)
    row = pop.indices[pop.indptr[i] : pop.indptr[i + 1]]
    return row[row >= 0].astype(np.int64)


def _household_of(pop, i: int) -> np.ndarray:
    h = pop.household[i]
    members = np.arange(pop.hstart[h], pop.hstart[h + 1], dtype=np.int64)
    return members[members != i]


def _traced(pop, agents: list[int]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The agents, their households, friends and friends' friends (the paths a false
    record can take to them), and each agent's friends at the start."""
    ids: set[int] = set()
    friends = {}
    for a in agents:
        near = _friends_of(pop, a)
        friends[a] = near
        ids |= {a, *near.tolist(), *_household_of(pop, a).tolist()}
        for j in near:
            ids |= set(_friends_of(pop, int(j)).tolist())
    return np.array(sorted(ids), dtype=np.int64), friends


class _Tracer:
    """The hook: both copies of the traced agents' scores after each stage."""

    def __init__(self, loop: DayLoop, ids: np.ndarray, days: int) -> None:
        self.loop, self.ids = loop, ids
        self.col = {int(a): k for k, a in enumerate(ids)}
        self.real = np.empty((days, len(STAGES), ids.size), dtype=np.int64)
        self.clean = np.empty_like(self.real)
        self.live = np.zeros((days, ids.size), dtype=np.int64)
        self.first = self._read()

    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        st = self.loop.state
        real = st.score[0, self.ids].astype(np.int64)
        if st.score.shape[0] < 2:
            return real, real
        kept = st.taint[self.ids] > 0
        return real, np.where(kept, st.score[1, self.ids], real).astype(np.int64)

    def __call__(self, stage: str, day: int) -> None:
        k = STAGES.index(stage)
        self.real[day, k], self.clean[day, k] = self._read()
        if stage == "friend_deductions":
            self.live[day] = self._live_degree()
        if stage == "settle" and day + 1 < self.real.shape[0]:
            self.real[day + 1, 0], self.clean[day + 1, 0] = self.real[day, k], self.clean[day, k]
        if day == 0 and stage == "appeals":
            self.real[0, 0], self.clean[0, 0] = self.first

    def _live_degree(self) -> np.ndarray:
        pop = self.loop.pop
        if pop.proc is not None:  # less the ties this run dropped (bits of its mask)
            gone = self.loop.graph.proc.gone
            lost = [int(gone[a]).bit_count() if gone.size else 0 for a in self.ids]
            return np.array(
                [_friends_of(pop, int(a)).size - d for a, d in zip(self.ids, lost, strict=True)]
            )
        starts, stops = pop.indptr[self.ids], pop.indptr[self.ids + 1]
        return np.array(
            [int((pop.indices[s:e] >= 0).sum()) for s, e in zip(starts, stops, strict=True)]
        )


def _split(c, tr: np.ndarray, col: int, own: np.ndarray, enrolled: bool) -> dict[str, np.ndarray]:
    """One copy's per-day components for the agent in column ``col`` (fixed point)."""
    s = tr[:, :, col]
    step = np.diff(s, axis=1)  # [days, 6]: appeals, events, friends, couple, low, settle
    parts = {
        "appeals": step[:, 0],
        "own_events": own,
        "household": step[:, 1] - own,
        "friend_deductions": step[:, 2],
        "low_friends": step[:, 4],
    }
    before_couple = s[:, 3]
    couple_clamp = np.zeros_like(before_couple)
    if c.liability > 0 and enrolled:
        couple_clamp = np.clip(before_couple, c.floor, c.ceiling) - before_couple
    parts["liability"] = step[:, 3] - couple_clamp
    before_settle = s[:, 5]
    settle_clamp = np.clip(before_settle, c.floor, c.ceiling) - before_settle
    parts["clamp"] = couple_clamp + settle_clamp
    parts["reset"] = step[:, 5] - settle_clamp
    return parts


def _ledger(tr: _Tracer, loop: DayLoop, log: pl.DataFrame, run, agent: int, friends) -> Ledger:
    from scsim.engine.compile import SCALE

    c, col = loop.c, tr.col[agent]
    stored = run.agents.row(agent, named=True)["score"] if run.agents.height else None
    final = tr.real[-1, -1, col] / SCALE
    if stored is not None and final != stored:
        raise ScsimError(
            f"explain: re-running the run to account for agent {agent}'s points ends on "
            f"score {final:g}, not the stored {stored:g}; the run was made by another "
            "version of scsim (run it again to explain it)"
        )
    mine = log.filter(pl.col("agent") == agent)
    own = np.zeros(tr.real.shape[0], dtype=np.int64)
    own_clean = np.zeros_like(own)
    if mine.height:
        days = mine.get_column("day_recorded").to_numpy()
        pts = np.rint(mine.get_column("points").to_numpy() * SCALE).astype(np.int64)
        np.add.at(own, days, pts)
        true = ~mine.get_column("false").to_numpy()
        np.add.at(own_clean, days[true], pts[true])
    enrolled = bool(loop.state.enrolled[agent])
    real = _split(c, tr.real, col, own, enrolled)
    clean = _split(c, tr.clean, col, own_clean, enrolled)
    parts = {k: float(v.sum()) / SCALE for k, v in real.items()}
    gap = {k: float(real[k].sum() - clean[k].sum()) / SCALE for k in real}
    daily = _daily(real)
    return Ledger(
        agent=agent,
        initial=tr.real[0, 0, col] / SCALE,
        final=final,
        clean_final=tr.clean[-1, -1, col] / SCALE,
        parts=parts,
        gap=gap,
        daily=daily,
        friends=_friend_shares(tr, c, agent, friends),
    )


def _daily(parts: dict[str, np.ndarray]) -> pl.DataFrame:
    from scsim.engine.compile import SCALE

    days = np.arange(next(iter(parts.values())).size)
    frame = pl.DataFrame({"day": days, **{k: v / SCALE for k, v in parts.items()}})
    moved = np.any(np.stack(list(parts.values())) != 0, axis=0)
    return frame.filter(pl.Series(moved))


def _friend_shares(tr: _Tracer, c, agent: int, friends: np.ndarray) -> list[tuple[int, float]]:
    """Each friend's share of the liability pull on the agent's real/clean difference:
    the liability times the friend's own difference over the agent's live friends, day
    by day (about: the engine rounds the pull once for all friends), largest first."""
    from scsim.engine.compile import SCALE

    if c.liability <= 0 or friends.size == 0:
        return []
    cols = [tr.col[int(j)] for j in friends]
    real, clean = tr.real[:, 3, :][:, cols], tr.clean[:, 3, :][:, cols]
    gaps = np.clip(real, c.floor, c.ceiling) - np.clip(clean, c.floor, c.ceiling)
    live = np.maximum(tr.live[:, tr.col[agent]], 1)[:, None]
    shares = c.liability * (gaps / live).sum(0) / SCALE
    pairs = [(int(j), float(v)) for j, v in zip(friends, shares, strict=True) if v]
    return sorted(pairs, key=lambda x: abs(x[1]), reverse=True)
