"""What a simulation hands back: the frames a user reads and the facts the store keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from scsim.analysis.provenance import Explanation
    from scsim.regime import Regime


@dataclass
class Run:
    """One finished simulation.

    ``daily`` has one row per (day, group) with ``group == "all"`` for the whole
    population, then one column per metric (DESIGN.md names). ``agents`` is the final
    state, one row per agent. ``summary`` maps each metric to its value for the run:
    a stock's value on the last day, a flow's total over the run. ``events`` has one row
    per recorded event and ``list_moves`` one per entry onto or exit from a list (both
    None when the run was made with ``keep_events=False``); ``transitions`` counts the
    agents whose grade changed, per day and (from, to).
    """

    regime: Regime
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
    def agent_days_per_s(self) -> float:
        return self.population * self.days / self.seconds if self.seconds > 0 else 0.0

    @property
    def by_group(self) -> pl.DataFrame:
        """Per-group impact of the run: one row for ``"all"``, then one per group.

        Computed on demand from ``daily`` and ``agents`` (see
        :func:`scsim.analysis.groups.by_group` and ``docs/frames.md`` for the columns),
        so a stored run gets it too.
        """
        from scsim.analysis.groups import by_group

        return by_group(self)

    def explain(self, agent: int) -> Explanation:
        """The sanctions and rewards in force on ``agent`` at the end, and the recorded
        events behind each, marked true or false (``print(run.explain(4711).text())``)."""
        from scsim.analysis.provenance import explain

        return explain(self, agent)
