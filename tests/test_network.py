"""The social graph during a run (issue 5): homophily and degree spread, tombstoned
ties, distancing, friend deductions, the low-friend penalty, and the graph metrics
(isolation, score assortativity, degree per group, ties dropped)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from scsim.core import rng
from scsim.engine.compile import compile_regime
from scsim.engine.day import DayLoop
from scsim.engine.network import isolation
from scsim.engine.run import simulate
from scsim.population import build_population
from scsim.population.graph import friendship_graph
from scsim.regime.loader import validate_mapping


def regime(**changes):
    """Critical posts cost points; the D grade is where the shunned end up."""
    data = {
        "name": "network",
        "score": {"initial": 1000, "floor": 0},
        "grades": [{"name": "A", "min": 990}, {"name": "B", "min": 900}, {"name": "D"}],
        "behaviours": {"post": {"rate": 0.01, "spread": 1.5}},
        "observers": [{"name": "platform", "watches": ["post"], "coverage": 0.8}],
        "rules": [{"on": "post", "points": -40}],
        "network": {"degree": 10},
    }
    data.update(changes)
    return validate_mapping(data, "<test>")


def overall(run) -> pl.DataFrame:
    return run.daily.filter(pl.col("group") == "all")


LIABLE = {
    "degree": 10,
    "low_friend_penalty": {"grade": "D", "points": 2},
    "distancing": {"rate": 0.05, "from": {"low_grade": "D"}},
}


def test_homophily_keeps_far_ties_in_group_and_spread_adds_a_heavy_tail():
    key, n = rng.stage_key(1, 0, rng.POP_GRAPH), 50_000
    blocks = np.array([0, 40_000, n])
    minority = np.arange(n) >= 40_000

    def in_group(homophily, spread=0.0):
        indptr, indices = friendship_graph(key, n, 10, 0.5, homophily, spread, blocks)
        src = np.repeat(np.arange(n), np.diff(indptr))
        same = minority[src] == minority[indices]
        return same[minority[src]].mean(), np.diff(indptr)

    mixed, deg0 = in_group(0.0)
    homo, _ = in_group(0.9)
    assert homo > 0.9 > 0.7 > mixed
    _, deg = in_group(0.0, 1.5)
    assert abs(deg.mean() - deg0.mean()) < 0.1
    assert deg.max() > 3 * deg0.max()


def test_homophily_places_groups_in_blocks():
    groups = [{"name": "x", "share": 0.7}, {"name": "y", "share": 0.3}]
    reg = regime(groups=groups, network={"degree": 10, "homophily": 0.9})
    pop = build_population(reg, 10_000, seed=2)
    assert (np.diff(pop.group.astype(int)) >= 0).all() and (pop.group == 1).sum() == 3_000


def test_graph_metrics_only_when_the_regime_has_network_dynamics():
    assert "isolation" not in simulate(regime(), population=1_000, days=2, seed=1).daily.columns


def test_without_liability_nobody_drops_ties_and_isolation_stays_one():
    # homophily only shapes the graph: the graph metrics are measured, nothing moves ties
    run = simulate(regime(network={"homophily": 0.5}), population=20_000, days=60, seed=3)
    day = overall(run)
    assert day["ties_dropped"].sum() == 0
    assert day["isolation"].is_between(0.96, 1.04).all()
    assert (day["degree"] == day["degree"][0]).all()
    assert day["score_assortativity"].abs().max() < 0.1


def test_liability_with_distancing_isolates_the_lowest_decile():
    run = simulate(regime(network=LIABLE), population=20_000, days=60, seed=3)
    day = overall(run)
    assert day["ties_dropped"].sum() > 0
    assert day["isolation"][-1] < 0.9
    agents = run.agents.sort("score")
    low = agents.head(2_000)["degree"].mean()
    assert low < 0.9 * agents["degree"].mean()
    assert day["degree"][-1] < day["degree"][0]
    # Points move with friends: scores of friends become alike.
    assert day["score_assortativity"][-1] > 0.1


def test_distancing_off_keeps_ties_under_liability():
    net = {k: v for k, v in LIABLE.items() if k != "distancing"}
    day = overall(simulate(regime(network=net), population=10_000, days=30, seed=4))
    assert day["ties_dropped"].sum() == 0


def test_dropped_ties_are_tombstones_at_both_ends():
    reg = regime(network=LIABLE)
    pop = build_population(reg, 5_000, seed=5)
    loop = DayLoop(reg, compile_regime(reg, 5_000), pop, 5, 1 << 10)
    for day in range(40):
        loop.step(day)
    assert (pop.indices < 0).any() and pop.indices.min() == -1  # no mark left behind
    rows = np.repeat(np.arange(pop.n), np.diff(pop.indptr))
    live = pop.indices >= 0
    forward = np.sort(rows[live] * pop.n + pop.indices[live])
    backward = np.sort(pop.indices[live].astype(np.int64) * pop.n + rows[live])
    assert np.array_equal(forward, backward)
    assert np.array_equal(loop.graph.live, pop.degree())
    assert loop.graph.group_degree.sum() == live.sum()


def test_friend_deductions_land_on_every_friend():
    # A ring lattice: everyone has exactly 10 friends, so each recorded -10 costs
    # 10 + 10 x round(0.5 x 10) points in all.
    net = {"degree": 10, "locality": 1.0, "friend_deductions": 0.5}
    reg = regime(rules=[{"on": "post", "points": -10}], network=net, score={"floor": None})
    n = 10_000
    run = simulate(reg, population=n, days=20, seed=6)
    recorded = run.summary["events_recorded.post"]
    assert recorded > 0
    assert (1000 - run.summary["mean_score"]) * n == pytest.approx(60 * recorded, abs=1e-6)
    assert run.summary["friend_deductions"] == 10 * recorded


def test_isolation_cuts_the_decile_inside_a_bin():
    counts = np.array([0, 50, 950])
    degrees = np.array([0, 50 * 2, 950 * 10])  # the low bin has degree 2, the rest 10
    # decile = the 50 of degree 2 and 50 of the big bin: mean 6; overall mean 9.6
    assert isolation(counts, degrees) == pytest.approx(6 / 9.6)
    assert isolation(np.array([100]), np.array([500])) == pytest.approx(1.0)


def _busy():
    return regime(
        behaviours={"post": {"rate": 0.03, "spread": 0.7}, "good": {"rate": 0.02}},
        observers=[
            {
                "name": "platform",
                "watches": ["post"],
                "coverage": 0.8,
                "detection": 0.9,
                "false_match_rate": 1e-5,
                "gallery": 1_000,
            },
            {"name": "court", "watches": ["good"], "latency_days": 2},
        ],
        rules=[{"on": "post", "points": -40}, {"on": "good", "points": 5}],
        blacklist={"enter": [{"grade": "D", "for_days": 3}], "exit": {"after_days": 9}},
        sanctions=[{"name": "ringtone", "applies_to": "blacklisted"}],
        network={
            "degree": 8,
            "liability": 0.05,
            "homophily": 0.5,
            "degree_spread": 1.0,
            "friend_deductions": 0.2,
            "low_friend_penalty": {"grade": "D", "points": 1},
            "distancing": {"rate": 0.1, "from": ["ringtone"]},
        },
        groups=[{"name": "x", "share": 0.6}, {"name": "y", "share": 0.4}],
    )


@pytest.mark.parametrize(("threads", "chunk"), [(1, 1 << 14), (2, 333), (1, 1)])
def test_network_dynamics_do_not_depend_on_threads_or_chunk_size(threads, chunk):
    ref = simulate(_busy(), population=4_000, days=25, seed=18, threads=2, chunk_size=997)
    assert overall(ref)["ties_dropped"].sum() > 0
    assert overall(ref)["friend_deductions"].sum() > 0
    run = simulate(_busy(), population=4_000, days=25, seed=18, threads=threads, chunk_size=chunk)
    assert_frame_equal(run.daily, ref.daily)
    assert_frame_equal(run.agents, ref.agents)


def test_low_friend_penalty_pushed_or_pulled_gives_the_same_run(monkeypatch):
    # Few low agents: pushed from them; many: every agent reads its friends.
    from scsim.engine import network

    monkeypatch.setattr(network, "DENSE_SHARE", 10**12)  # always pull
    pulled = simulate(_busy(), population=4_000, days=25, seed=19)
    monkeypatch.setattr(network, "DENSE_SHARE", 0)  # always push
    pushed = simulate(_busy(), population=4_000, days=25, seed=19)
    assert overall(pushed)["grade_share.D"].max() > 0
    assert_frame_equal(pulled.daily, pushed.daily)
    assert_frame_equal(pulled.agents, pushed.agents)


def test_the_clean_copy_never_sees_liability_from_false_attributions():
    # Every search returns someone else: in the clean world nothing is ever recorded,
    # so every clean score stays at the initial score, through friend deductions and
    # the low-friend penalty alike, and every agent whose real score moved is tainted.
    reg = regime(
        observers=[
            {
                "name": "platform",
                "watches": ["post"],
                "detection": 0.0,
                "false_match_rate": 1.0,
                "gallery": 10,
            }
        ],
        rules=[{"on": "post", "points": -60}],
        network={
            "degree": 8,
            "friend_deductions": 0.5,
            "low_friend_penalty": {"grade": "D", "points": 3},
            "distancing": {"rate": 0.05, "from": {"low_grade": "D"}},
        },
    )
    pop = build_population(reg, 4_000, seed=8)
    loop = DayLoop(reg, compile_regime(reg, 4_000), pop, 8, 1 << 10)
    for day in range(30):
        loop.step(day)
    st = loop.state
    moved = st.score[0] != 1000 * 256  # fixed point, 1/256 of a point
    assert moved.sum() > 100
    assert (st.taint[moved] == 1).all()
    assert (st.score[1][st.taint == 1] == 1000 * 256).all()
