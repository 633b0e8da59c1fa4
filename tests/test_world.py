"""Worlds: several operators over one population, flows and joint sanctions (issue 8).

Small worlds written here, so each test says what it needs; rates are raised with
``set:`` so a few thousand agents see enough listings in a few weeks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import scsim
from refusal import assert_refused_at
from scsim.engine.result import WorldRun
from scsim.world import builtin_world_names, load_world

N, DAYS, SEED = 3000, 40, 11
# The court lists quickly: ~3 % of people a week on ground 1.
FAST_COURT = """
  court:
    regime: court-blacklist
    set: [behaviours.able_to_pay_refuses.rate=0.004, blacklist.exit.cure=null]
"""


def world_file(tmp_path: Path, body: str, name: str = "w") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\n{body}")
    return path


def run(path: Path | str, **kw) -> WorldRun:
    options = {"population": N, "days": DAYS, "seed": SEED, **kw}
    return scsim.simulate(load_world(path), **options)


def test_a_world_of_one_is_the_regime_alone(tmp_path):
    # national: false matches, accusations, appeals, liability, family sanctions.
    path = world_file(tmp_path, "operators:\n  platform: national\n")
    alone = scsim.simulate("national", population=N, days=DAYS, seed=SEED)
    world = run(path)
    assert type(world) is type(alone)
    assert world.daily.equals(alone.daily)
    assert world.agents.equals(alone.agents)
    assert world.events.equals(alone.events)
    assert world.list_moves.equals(alone.list_moves)
    assert list(world.summary) == list(alone.summary)
    np.testing.assert_array_equal(list(world.summary.values()), list(alone.summary.values()))


def test_a_flow_with_delay_l_delivers_exactly_the_senders_records_l_days_later(tmp_path):
    delay = 9
    path = world_file(
        tmp_path,
        f"operators:{FAST_COURT}  city: rongcheng\n"
        "flows:\n"
        f"  - {{from: court, to: city, events: [able_to_pay_refuses], as: sued_in_breach,"
        f" delay_days: {delay}}}\n",
    )
    daily = run(path).daily.filter(pl.col("group") == "all")
    sent = daily["court.events_recorded.able_to_pay_refuses"].to_numpy()
    arrived = daily["city.recorded_by.court"].to_numpy()
    assert arrived[:delay].sum() == 0
    assert sent[: DAYS - delay].sum() > 20
    np.testing.assert_array_equal(arrived[delay:], sent[: DAYS - delay])


def test_a_joint_sanction_falls_exactly_on_the_source_list(tmp_path):
    path = world_file(
        tmp_path,
        f"operators:{FAST_COURT}  city: rongcheng\n"
        "joint_sanctions:\n"
        "  - {name: loan_refused, by: banks, on: court, list: blacklist}\n"
        "  - {name: half_told, by: landlords, on: court, list: blacklist, loss: 0.5}\n"
        "  - {name: late, by: airlines, on: court, list: blacklist, delay_days: 10}\n",
    )
    result = run(path)
    agents = result.agents
    listed = agents["court.listed.blacklist"]
    assert listed.sum() > 100
    assert agents["sanctioned.loan_refused"].equals(listed.alias("sanctioned.loan_refused"))
    half = agents["sanctioned.half_told"]
    assert not (half & ~listed).any()
    assert 0.4 < half.sum() / listed.sum() < 0.6
    late = agents["sanctioned.late"].to_numpy()
    days_on = agents["court.days_listed"].to_numpy()
    np.testing.assert_array_equal(late, days_on > 10)
    assert result.summary["sanctioned.loan_refused"] == listed.sum()


def test_removing_a_flow_removes_its_cascade_and_nothing_else(tmp_path):
    head = f"operators:{FAST_COURT}  sesame: sesame\n  city: rongcheng\n"
    head += "behaviours:\n  court_listing: {rate: 0.0}\n"
    flow = (
        "flows:\n  - {from: court, to: sesame, list: blacklist, as: court_listing, delay_days: 3}\n"
    )
    with_flow = run(world_file(tmp_path, head + flow, "with"))
    without = run(world_file(tmp_path, head, "without"))
    # The same people live the same lives: the court and the city do not read Sesame.
    for op in ("court", "city"):
        assert with_flow.runs[op].daily.equals(without.runs[op].daily)
    a, b = with_flow.agents, without.agents
    on_court = a["court.listed.blacklist"].to_numpy()
    on_sesame = a["sesame.listed.court_list"].to_numpy()
    assert on_sesame.sum() > 50 and not (on_sesame & ~on_court).any()
    assert not b["sesame.listed.court_list"].any()
    assert with_flow.summary["sesame.sanctioned.credit_products_frozen"] > 0
    assert without.summary["sesame.sanctioned.credit_products_frozen"] == 0
    assert with_flow.summary["sanctions_per_listed"] > without.summary["sanctions_per_listed"]
    key = "sanctions_per_listed.court.blacklist"  # one court listing brings Sesame's freeze
    frozen = with_flow.summary["sesame.sanctioned.credit_products_frozen"]
    listed = with_flow.summary["court.listed.blacklist"]
    expected = without.summary[key] + frozen / listed
    assert with_flow.summary[key] == pytest.approx(expected)


def test_false_records_stay_false_downstream_and_count_in_the_cascade(tmp_path):
    path = world_file(
        tmp_path,
        "operators:\n"
        "  cameras:\n"
        "    regime: jaywalking-cameras\n"
        "    set: [observers.0.false_match_rate=0.02, observers.0.capacity_per_day=null,\n"
        "          observers.0.detection=0.5, observers.0.gallery=null,\n"
        "          behaviours.jaywalking.displaced_to=null,\n"
        "          behaviours.jaywalking.deterrence=null]\n"  # a busy crossing: many false
        "  city: rongcheng\n"
        "flows:\n"
        "  - {from: cameras, to: city, events: [jaywalking], as: traffic_ticket}\n",
    )
    result = run(path)
    cams = result.runs["cameras"].events
    city = result.runs["city"].events.filter(pl.col("observer") == "cameras")
    assert cams["false"].sum() > 20
    assert city.height == cams.height and city["false"].sum() == cams["false"].sum()
    assert result.summary["city.false_by.cameras"] == cams["false"].sum()
    own = result.summary["cameras.wrongfully_sanctioned"]
    assert result.summary["cascade_wrongful"] >= own > 0


def test_a_world_is_the_same_for_any_threads_and_chunk_size():
    world = load_world("china-2018")
    a = scsim.simulate(world, population=2000, days=20, seed=3, threads=1, chunk_size=700)
    b = scsim.simulate(world, population=2000, days=20, seed=3, threads=2, chunk_size=1 << 14)
    assert a.daily.equals(b.daily) and a.agents.equals(b.agents)


@pytest.mark.parametrize("name", builtin_world_names())
def test_builtin_worlds_run_and_their_flows_arrive(name):
    # 50,000 agents: about ten court listings in 40 days, so somebody is listed at
    # any seed (at 5,000 a listing is a one-in-three chance)
    result = scsim.simulate(load_world(name), population=50_000, days=40, seed=1)
    assert {"sanctions_per_listed", "cascade_wrongful"} <= set(result.summary)
    receivers = {f.to: f.from_ for f in result.world.flows}
    for to, sender in receivers.items():
        assert f"{to}.recorded_by.{sender}" in result.summary
    assert result.summary["sanctions_per_listed"] >= 1


def test_china_2018_reads_the_court_list_into_sesame():
    world = load_world("china-2018")
    assert list(world.operators) == ["court", "sesame", "city", "cameras"]
    result = scsim.simulate(world, population=50_000, days=60, seed=2)
    moves = result.runs["court"].list_moves
    entered = moves.filter(pl.col("move").cast(str).str.starts_with("entered"))
    delay = world.flows[0].delay_days
    sent = entered.filter(pl.col("day") < result.days - delay).height
    assert sent > 0
    assert result.summary["sesame.recorded_by.court"] == sent
    assert result.summary["sesame.recorded_by.court_list_feed"] == 0


@pytest.mark.parametrize(
    ("body", "line", "key", "problem"),
    [
        (
            "operators:\n  court: court-blacklist\n  city: rongcheng\nflows:\n"
            "  - {from: court, to: town, events: [refuses_settlement]}\n",
            6, "flows.0.to", "unknown operator",
        ),
        (
            "operators:\n  court: court-blacklist\n  city: rongcheng\nflows:\n"
            "  - from: court\n    to: city\n    events: [jaywalking]\n",
            8, "flows.0.events.0", "court has no such behaviour",
        ),
        (
            "operators:\n  court: court-blacklist\n  city: rongcheng\nflows:\n"
            "  - {from: court, to: city, list: blacklist}\n",
            6, "flows.0.as", "needs the receiver's behaviour",
        ),
        (
            "operators:\n  court: court-blacklist\n  city: rongcheng\njoint_sanctions:\n"
            "  - {name: x, on: city, list: no_such_list}\n",
            6, "joint_sanctions.0.list", "city has no such list",
        ),
        (
            "operators:\n  cams: jaywalking-cameras\n  platform: national\n",
            4, "operators.platform", "behaviour jaywalking differs",
        ),
        (
            "operators:\n  court: no-such-regime\n",
            3, "operators.court", "no such built-in regime or file",
        ),
    ],
)  # fmt: skip
def test_a_bad_world_is_refused_with_its_line(tmp_path, body, line, key, problem):
    assert_refused_at(world_file(tmp_path, body), line, key, problem, "", load=load_world)


def test_a_world_written_out_reads_back_equal(tmp_path):
    world = load_world("national-pooled")
    path = tmp_path / "copy.yaml"
    path.write_text(world.to_yaml())
    again = load_world(path)
    assert again.regimes == world.regimes
    assert again.content_hash() == world.content_hash()


def test_explain_follows_a_sanction_across_operators_to_its_first_cause():
    result = scsim.simulate(load_world("china-2018"), population=50_000, days=60, seed=2)
    frozen = result.agents.filter(pl.col("sesame.listed.court_list"))["agent"]
    assert frozen.len() > 0
    agent = int(frozen[0])
    text = result.explain(agent).text()
    sesame = text[text.index("[sesame]") : text.index("[city]")]
    assert "court_listing seen by court" in sesame
    assert "via court: on list blacklist since day" in sesame
    court = result.runs["court"].events.filter(
        (pl.col("agent") == agent) & (pl.col("observer") == "courts")
    )
    assert f"{court['behaviour'][0]} seen by courts" in sesame


def test_scsim_run_takes_a_world_and_explain_reads_it_back(tmp_path):
    import json

    from typer.testing import CliRunner

    from conftest import JSON_KEYS
    from scsim.cli import app

    runner = CliRunner()
    store = tmp_path / "s.duckdb"
    args = ["run", "china-2018", "--population", "3000", "--days", "20", "--store", str(store)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == JSON_KEYS and payload["regime"] == "china-2018"
    assert {"court.blacklisted", "sesame.mean_score", "cascade_wrongful"} <= set(payload["metrics"])
    explained = runner.invoke(app, ["explain", payload["run_id"], "7", "--store", str(store)])
    assert explained.exit_code == 0 and "[court]" in explained.stdout
    bad = world_file(
        tmp_path, "operators:\n  a: rongcheng\nflows:\n  - {from: a, to: b, events: [charity]}\n"
    )
    refused = runner.invoke(app, ["run", str(bad), "--store", str(store)])
    assert refused.exit_code == 2
    assert f"{bad}:5: flows.0.to: unknown operator" in refused.output


def test_a_run_can_keep_aggregates_only():
    world = load_world("china-2018")
    run = scsim.simulate(world, population=2000, days=10, seed=1, keep_events=False,
                         keep_agents=False)  # fmt: skip
    full = scsim.simulate(world, population=2000, days=10, seed=1)
    assert run.agents.width == 0 and run.events is None
    assert run.daily.equals(full.daily)
    with pytest.raises(scsim.ScsimError, match="kept no provenance"):
        run.runs["court"].explain(0)
    no_agents = scsim.simulate(world, population=2000, days=10, seed=1, keep_agents=False)
    with pytest.raises(scsim.ScsimError, match="kept no per-agent state"):
        no_agents.runs["court"].explain(0)


def test_the_world_example_in_the_docs_loads_and_runs(tmp_path):
    doc = (Path(__file__).parents[1] / "docs" / "regime-format.md").read_text()
    section = doc[doc.index("## Worlds: several regimes over one population") :]
    path = tmp_path / "example.yaml"
    path.write_text(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    result = scsim.simulate(load_world(path), population=2000, days=5, seed=1)
    assert {"court.blacklisted", "sanctioned.loan_refused"} <= set(result.summary)


def test_world_by_group_is_each_operators_by_group() -> None:
    """Issue 13, item 9: WorldRun.by_group, like Run.by_group, operator by operator."""
    import polars as pl

    import scsim

    run = scsim.simulate("china-2018", population=1500, days=20, seed=4)
    table = run.by_group
    assert table.columns[:2] == ["operator", "group"]
    for op, op_run in run.runs.items():
        mine = table.filter(pl.col("operator") == op).drop("operator")
        own = op_run.by_group
        assert mine.select(own.columns).equals(own)
