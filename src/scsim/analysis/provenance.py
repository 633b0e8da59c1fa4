"""Provenance: the chain of recorded events behind an agent's sanctions.

"Why was agent 4711 banned?" The answer is read from a run's event log (every
recorded event, with who did it and whom it was attributed to) and its list log
(every entry and exit, with its cause). Each event in a chain is marked true (the
agent did it) or false (someone else did, or nobody: a false accusation). The points
no event log shows (friends' pull, friend deductions, household records, penalties,
clamps) come from re-running the run with the agent traced (``analysis.trace``), which
also follows a wrongful flag to the false records behind it, through friends.
A face search that returned someone outside the simulation names no agent: it is in no
agent's record, so in no chain here; the run counts it in ``false_matches_outside``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from scsim.errors import ScsimError

if TYPE_CHECKING:
    from scsim.analysis.trace import Ledger
    from scsim.engine.result import Run
    from scsim.regime import Regime, Sanction


@dataclass
class Cause:
    """Why one sanction or reward applies: a condition and the events behind it."""

    name: str
    kind: str  # "sanction" or "reward"
    condition: str
    events: pl.DataFrame
    through: list[int] = field(default_factory=list)  # family members it comes through


@dataclass
class Explanation:
    agent: int
    state: dict[str, object]
    events: pl.DataFrame  # every event recorded against the agent, marked true or false
    list_moves: pl.DataFrame
    causes: list[Cause]
    ledger: Ledger | None = None  # every point accounted for (None: not traced)

    def text(self) -> str:
        s = self.state
        lines = [
            f"agent {self.agent}: group {s['group']}, household {s['household']}, "
            f"score {s['score']:g}, grade {s['grade']}"
            + (", not enrolled" if not s["enrolled"] else ""),
        ]
        lines.append(
            f"recorded events: {self.events.height}, "
            f"{int((~self.events['true']).sum())} of them false"
        )
        for row in self.events.iter_rows(named=True):
            lines.append("  " + _event_line(row))
        for row in self.list_moves.iter_rows(named=True):
            lines.append(f"day {row['day']}: {row['move'].replace('_', ' ')} {row['list']}")
        if not self.causes:
            lines.append("no sanction or reward applies at the end of the run")
        for cause in self.causes:
            via = f" (through household member {', '.join(map(str, cause.through))})"
            lines.append(
                f"{cause.kind} {cause.name}: {cause.condition}" + (via if cause.through else "")
            )
            for row in cause.events.iter_rows(named=True):
                lines.append("  <- " + _event_line(row))
        return "\n".join(lines + self.accounting())

    def accounting(self) -> list[str]:
        """The ledger's lines, and the false records behind a wrongful flag."""
        out = [] if self.ledger is None else self.ledger.lines()
        if self.state.get("wrongfully_sanctioned"):
            out.append(
                "wrongfully sanctioned: under a sanction it would not be under without a "
                "false attribution; the false records behind it:"
            )
            sources = self.ledger.sources if self.ledger is not None else []
            out += ["  <- " + line for line in sources] or [
                "  (not traced: explain with account=True follows them)"
            ]
        return out


def _event_line(row: dict) -> str:
    mark = "TRUE " if row["true"] else "FALSE"
    who = ""
    if not row["true"]:
        who = (
            " (nobody did it: a false accusation)"
            if row["doer"] < 0
            else (f" (done by agent {row['doer']})")
        )
    when = f"day {row['day_recorded']}"
    if row["day_happened"] != row["day_recorded"]:
        when += f" (happened day {row['day_happened']})"
    return (
        f"[{mark}] {when}: {row['behaviour']} seen by {row['observer']}, "
        f"{row['points']:+g} points{who}"
    )


def explain(run: Run, agent: int, account: bool = True) -> Explanation:
    """The sanctions and rewards in force on ``agent`` at the end of ``run``, and why.

    ``account``: also re-run the run with the agent traced, so that every point it
    gained or lost is attributed (``Explanation.ledger``) and a wrongful flag is
    followed to the false records behind it; this costs one more run of the same size.
    """
    if run.events is None or run.list_moves is None:
        raise ScsimError(
            "explain: this run kept no provenance (it was made with keep_events=False); "
            "run it again with events kept"
        )
    if run.agents.width == 0:
        raise ScsimError(
            "explain: this run kept no per-agent state (it was made with --no-agents or "
            "keep_agents=False); run it again with agents kept"
        )
    if not 0 <= agent < run.population:
        raise ScsimError(
            f"explain: agent {agent} does not exist (allowed: 0 to {run.population - 1})"
        )
    regime = run.regime
    row = run.agents.row(agent, named=True)
    events = _events_of(run, agent)
    moves = run.list_moves.filter(pl.col("agent") == agent)
    causes = [
        cause
        for kind, acts in (("sanction", regime.sanctions), ("reward", regime.rewards))
        for act in acts
        if (cause := _cause(run, regime, act, kind, agent, row)) is not None
    ]
    ledger = None
    if account:
        from scsim.analysis.trace import ledgers

        ledger = ledgers(run, [agent])[""][agent]
    return Explanation(agent, row, events, moves, causes, ledger)


def _events_of(run: Run, agent: int) -> pl.DataFrame:
    return (
        run.events.filter(pl.col("agent") == agent)
        .with_columns(true=~pl.col("false"))
        .select("day_happened", "day_recorded", "behaviour", "observer", "points", "true", "doer")
    )


def _own_cause(
    run: Run, regime: Regime, act: Sanction, agent: int, row: dict
) -> tuple[str, pl.DataFrame] | None:
    """The condition of ``act`` the agent meets on its own, and the events behind it."""
    target = act.applies_to
    lists = [*target.lists, *(["blacklist"] if target.blacklisted else [])]
    for name in lists:
        if row.get(f"listed.{name}"):
            return _listing_cause(run, regime, name, agent)
    if row["grade"] in target.grades:
        events = _events_of(run, agent)
        sign = (
            pl.col("points") < 0 if row["score"] < regime.score.initial else (pl.col("points") > 0)
        )
        return f"in grade {row['grade']} (score {row['score']:g})", events.filter(sign)
    return None


def _listing_cause(run: Run, regime: Regime, name: str, agent: int) -> tuple[str, pl.DataFrame]:
    moves = run.list_moves.filter((pl.col("agent") == agent) & (pl.col("list") == name))
    entry = moves.filter(pl.col("move").cast(str).str.starts_with("entered")).tail(1)
    day, how = entry["day"][0], entry["move"][0]
    events = _events_of(run, agent)
    lst = next(lst for lst in regime.all_lists if lst.name == name)
    if how == "entered_by_event":
        grounds = {b for cond in lst.enter if hasattr(cond, "on") for b in cond.on}
        chain = events.filter(
            (pl.col("day_recorded") == day) & pl.col("behaviour").cast(str).is_in(grounds)
        )
        return f"on list {name} since day {day}, listed for a recorded event", chain
    chain = events.filter((pl.col("day_recorded") <= day) & (pl.col("points") < 0))
    return f"on list {name} since day {day}, listed for its grade", chain


def _cause(
    run: Run, regime: Regime, act: Sanction, kind: str, agent: int, row: dict
) -> Cause | None:
    if not act.applies_to.family:
        own = _own_cause(run, regime, act, agent, row)
        return None if own is None else Cause(act.name, kind, own[0], own[1])
    house = run.agents.filter(
        (pl.col("household") == row["household"]) & (pl.col("agent") != agent)
    )
    chains, through = [], []
    for member in house.iter_rows(named=True):
        own = _own_cause(run, regime, act, member["agent"], member)
        if own is not None:
            through.append(member["agent"])
            chains.append(own[1])
    if not through:
        return None
    condition = "another member of its household meets its condition"
    return Cause(act.name, kind, condition, pl.concat(chains), through)


# ----------------------------------------------------------------------------- worlds


@dataclass
class WorldExplanation:
    """An agent's sanctions across a world's operators, each traced to its first cause."""

    agent: int
    by_operator: dict[str, Explanation]
    joint: list[tuple[str, str, list[str]]]  # (sanction, condition, chain lines)
    chains: dict[tuple[str, str], list[str]]  # (operator, sanction) -> lines back to the origin

    def text(self) -> str:
        lines = []
        for op, ex in self.by_operator.items():
            s = ex.state
            lines.append(f"[{op}] score {s['score']:g}, grade {s['grade']}")
            if not ex.causes:
                lines.append("  no sanction or reward applies")
            for cause in ex.causes:
                lines.append(f"  {cause.kind} {cause.name}: {cause.condition}")
                lines += ["    " + x for x in self.chains.get((op, cause.name), [])]
            lines += ["  " + x for x in ex.accounting()]
        for name, condition, chain in self.joint:
            lines.append(f"joint sanction {name}: {condition}")
            lines += ["    " + x for x in chain]
        return "\n".join([f"agent {self.agent}", *lines])


def explain_world(wrun, agent: int, account: bool = True) -> WorldExplanation:
    """Each operator's explanation of ``agent``, with every record that came from
    another operator followed back through the flow to the sender's own cause, and
    (``account``) each operator's ledger of the agent's points from one re-run."""
    by_op = {op: explain(run, agent, account=False) for op, run in wrun.runs.items()}
    if account:
        from scsim.analysis.trace import ledgers

        for op, found in ledgers(wrun, [agent]).items():
            by_op[op].ledger = found[agent]
    chains = {
        (op, cause.name): _chain(wrun, op, cause.events, agent, depth=0)
        for op, ex in by_op.items()
        for cause in ex.causes
    }
    joint = []
    row = wrun.agents.row(agent, named=True)
    for j in wrun.world.joint_sanctions:
        if not row.get(f"sanctioned.{j.name}"):
            continue
        src = wrun.runs[j.on]
        what = f"list {j.list_}" if j.list_ else f"grade {j.grade} or lower"
        condition = f"by {j.by or 'an enforcer'}: on {j.on}'s {what}" + (
            f" for more than {j.delay_days} days" if j.delay_days else ""
        )
        if j.list_:
            text, events = _listing_cause(src, src.regime, j.list_, agent)
        else:
            text, events = "in that grade", _events_of(src, agent).filter(pl.col("points") < 0)
        chain = [f"[{j.on}] {text}", *_chain(wrun, j.on, events, agent, depth=0)]
        source = by_op[j.on].ledger
        if row.get(f"wrongfully_sanctioned.{j.name}") and source is not None:
            chain.append(f"wrongfully: {j.on} would not list it without a false record:")
            chain += ["  <- " + line for line in source.sources]
        joint.append((j.name, condition, chain))
    return WorldExplanation(agent, by_op, joint, chains)


def _chain(wrun, op: str, events: pl.DataFrame, agent: int, depth: int) -> list[str]:
    """Lines for ``events`` of operator ``op``; a record that arrived from another
    operator is followed to what the sender recorded or listed."""
    lines = []
    order = list(wrun.world.regimes)
    for ev in events.iter_rows(named=True):
        lines.append("  " * depth + "<- " + _event_line(ev))
        sender = ev["observer"]
        flows = [f for f in wrun.world.flows if f.to == op and f.from_ == sender]
        if not flows or depth > 8:
            continue
        for flow in flows:
            later = order.index(op) > order.index(sender)
            sent_day = ev["day_recorded"] - (flow.delay_days if later else max(flow.delay_days, 1))
            src = wrun.runs[sender]
            if flow.kind == "events":
                origin = _events_of(src, agent).filter(
                    (pl.col("day_recorded") == sent_day)
                    & pl.col("behaviour").cast(str).is_in(flow.events)
                )
                lines.append("  " * (depth + 1) + f"via {sender}'s record of day {sent_day}:")
                lines += _chain(wrun, sender, origin, agent, depth + 1)
            elif flow.kind == "list":
                text, origin = _listing_cause(src, src.regime, flow.list_, agent)
                lines.append("  " * (depth + 1) + f"via {sender}: {text}")
                lines += _chain(wrun, sender, origin, agent, depth + 1)
            else:
                lines.append(
                    "  " * (depth + 1) + f"via {sender}: entered grade {flow.grade} or lower"
                    f" on day {sent_day}"
                )
    return lines
