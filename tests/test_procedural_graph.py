"""The procedural friendship graph (issue 7): symmetric, reproducible, local, no stored
ties, and statistically equivalent to the stored CSR graph where both fit."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scsim.core import rng
from scsim.engine.proc_network import drop_ties, mask_type
from scsim.engine.run import simulate
from scsim.errors import RegimeError
from scsim.population import build, build_population
from scsim.population.procedural import (
    _bits,
    degrees,
    partner,
    perm,
    perm_inv,
    procedural_graph,
    to_csr,
)
from scsim.regime import load_regime

KEY = rng.stage_key(7, 0, rng.POP_GRAPH)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 5000), key=st.integers(0, 2**64 - 1))
def test_the_keyed_permutation_is_a_bijection_and_perm_inv_undoes_it(m, key):
    xs = np.arange(m)
    ys = np.array([perm(np.uint64(key), m, x) for x in xs])
    assert np.array_equal(np.sort(ys), xs)
    assert all(perm_inv(np.uint64(key), m, y) == x for x, y in zip(xs, ys, strict=True))


@settings(max_examples=60, deadline=None)
@given(m=st.integers(3, 2**40), x=st.integers(0, 2**40), key=st.integers(0, 2**64 - 1))
def test_at_any_size_the_walk_domain_is_under_twice_n_and_perm_inv_undoes_perm(m, x, key):
    # Under 2n: a cycle walk evaluates fewer than two networks on average (it was up to
    # four with halves of equal width, and far ties were half of a day at 340M agents).
    assert m <= 2 ** _bits(m) < 2 * m
    x %= m
    y = perm(np.uint64(key), m, x)
    assert 0 <= y < m
    assert perm_inv(np.uint64(key), m, y) == x


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1023, 1025, 4097, 30_001])
def test_ties_are_symmetric_without_self_ties_and_one_a_round(n):
    g = procedural_graph(KEY, n, 10, 0.9)
    indptr, indices = to_csr(g)
    src = np.repeat(np.arange(n), np.diff(indptr))
    assert not (src == indices).any()
    pairs = np.sort(src.astype(np.int64) * n + indices)
    assert np.array_equal(pairs, np.sort(indices.astype(np.int64) * n + src))
    deg = np.diff(indptr)
    assert np.array_equal(degrees(g), deg)
    assert deg.max(initial=0) <= 10
    if n > 11:  # only the odd one out of an odd n misses a far round's tie
        assert (deg < 10).sum() <= (g.keys.size if n % 2 else 0)


def test_the_locality_share_of_ties_is_the_ring_lattice_of_the_csr_graph():
    n = 200_000
    for locality, h in [(0.9, 4), (0.5, 2), (0.0, 0), (1.0, 5)]:
        g = procedural_graph(KEY, n, 10, locality)
        assert g.n_local == 2 * h  # as the CSR lattice: round(locality d / 2), half to even
        indptr, indices = to_csr(g)
        src = np.repeat(np.arange(n), np.diff(indptr))
        gap = np.abs(src - indices.astype(np.int64))
        near = (np.minimum(gap, n - gap) <= h).mean()
        assert abs(near - 2 * h / 10) < 0.001
        far = gap[np.minimum(gap, n - gap) > h]  # uniform: mean |i - j| about n / 3
        assert far.size == 0 or abs(far.mean() / n - 1 / 3) < 0.01


def test_the_graph_is_reproducible_from_the_seed_and_nothing_is_stored():
    a = procedural_graph(KEY, 50_000, 10, 0.9)
    b = procedural_graph(KEY, 50_000, 10, 0.9)
    c = procedural_graph(rng.stage_key(8, 0, rng.POP_GRAPH), 50_000, 10, 0.9)
    assert np.array_equal(to_csr(a)[1], to_csr(b)[1])
    assert not np.array_equal(to_csr(a)[1], to_csr(c)[1])
    assert a.nbytes() == 8 * 2  # one key a far round
    i = 12_345
    for r in range(a.degree):
        j = partner(a.keys, a.n, a.n_local, r, i)
        assert partner(a.keys, a.n, a.n_local, r if r >= a.n_local else a.n_local - 1 - r, j) == i


def _national(graph: str, *more: str):
    return load_regime("national", overrides=[f"network.graph={graph}", *more])


def test_graph_selection_auto_is_stored_below_the_threshold_and_procedural_above(monkeypatch):
    regime = _national("auto")
    pop = build_population(regime, 5_000, 1)
    assert pop.proc is None and pop.indices.size > 0
    monkeypatch.setattr(build, "PROCEDURAL_ABOVE", 1_000)
    pop = build_population(regime, 5_000, 1)
    assert pop.proc is not None and pop.indices.size == 0 and pop.indptr.size == 0
    assert np.array_equal(pop.degree(), degrees(pop.proc))
    # auto keeps stored ties when the regime needs them (here: friend deductions)
    walks = _national("auto", "network.friend_deductions=0.1")
    assert build_population(walks, 5_000, 1).proc is None
    # ... but not for distancing, which drops procedural ties as bits of a mask
    assert build_population(_national("auto"), 5_000, 1).proc is not None


@pytest.mark.parametrize(
    "key",
    [
        "network.friend_deductions=0.1",
        "network.low_friend_penalty={grade: D, points: 1}",
        "network.homophily=0.5",
        "network.degree_spread=1.0",
    ],
)
def test_a_procedural_graph_refuses_the_keys_that_need_stored_ties(key):
    with pytest.raises(RegimeError) as info:
        _national("procedural", key)
    message = str(info.value)
    assert "network.graph" in message and "procedural graph" in message
    assert key.split("=")[0] in message


@pytest.mark.parametrize(("threads", "chunk"), [(1, 1 << 14), (2, 333), (1, 1)])
def test_liability_on_a_procedural_graph_does_not_depend_on_threads_or_chunk_size(threads, chunk):
    regime = _national("procedural", "network.liability=0.2")
    ref = simulate(regime, population=3_000, days=20, seed=4, threads=2, chunk_size=997)
    run = simulate(regime, population=3_000, days=20, seed=4, threads=threads, chunk_size=chunk)
    assert_frame_equal(run.daily, ref.daily)
    assert_frame_equal(run.agents, ref.agents)


def test_procedural_and_stored_graphs_give_statistically_equivalent_runs():
    """national with strong liability at 50,000 agents, 5 seeds: the final mean score,
    score spread, listed share and Gini agree within sampling error (the seeds' paired
    differences are within 3 standard errors of 0, or below a small absolute bound)."""
    days, n = 120, 50_000
    out: dict[str, list[dict[str, float]]] = {"stored": [], "procedural": []}
    for graph in out:
        regime = _national(graph, "network.liability=0.1")
        for seed in range(5):
            run = simulate(regime, population=n, days=days, seed=seed, keep_events=False)
            last = run.daily.filter((pl.col("group") == "all") & (pl.col("day") == days - 1))
            score = run.agents["score"].to_numpy()
            out[graph].append(
                {
                    "mean_score": float(last["mean_score"][0]),
                    "score_sd": float(score.std()),
                    "blacklisted": float(last["blacklisted"][0]) / n,
                    "score_gini": float(last["score_gini"][0]),
                }
            )
    # The procedural graph gives every agent exactly its degree (variance 0; the stored
    # graph's is about 1 at degree 10), so liability averages over a slightly more even
    # set of friends: with the seeds paired draw for draw the Gini's difference is
    # resolved (1.3 % measured on 2026-11-30, all five seeds one way). 2 % is its bound.
    slack = {"score_gini": 0.02}
    for metric in out["stored"][0]:
        a = np.array([r[metric] for r in out["stored"]])
        b = np.array([r[metric] for r in out["procedural"]])
        d = b - a
        se = d.std(ddof=1) / np.sqrt(d.size)
        scale = max(abs(a.mean()), 1e-9)
        assert abs(d.mean()) <= 3 * se + slack.get(metric, 0.01) * scale, (metric, a, b)


def test_distancing_above_64_friends_needs_stored_ties():
    with pytest.raises(RegimeError, match=r"network\.distancing above 64 friends"):
        _national("procedural", "network.degree=80")


@pytest.mark.parametrize("n", [7, 40, 1001])
def test_a_dropped_procedural_tie_is_gone_at_both_ends(n):
    # Every friend of agent 3 is shunned and drops it (rate 1): agent 3 loses every tie,
    # each friend exactly the one tie back to 3, and no one else loses anything.
    g = procedural_graph(np.uint64(11), n, 10, 0.6)
    gone = np.zeros(n, dtype=mask_type(g.degree))
    g = g._replace(gone=gone)
    deg = degrees(g).astype(np.int64)
    live, group = deg.copy(), np.zeros(n, dtype=np.int64)
    gdeg, dropped = np.array([deg.sum()]), np.zeros(1, dtype=np.int64)
    who, found = np.array([3], dtype=np.int32), np.array([1], dtype=np.int64)
    drop_ties(np.uint64(5), who, found, 1, 1.0, g.keys, n, g.n_local, gone, live, group, gdeg,
              dropped)  # fmt: skip
    rounds = g.n_local + g.keys.size
    friends = [partner(g.keys, n, g.n_local, r, 3) for r in range(rounds)]
    real = [(r, j) for r, j in enumerate(friends) if j >= 0]
    assert live[3] == 0 and dropped[0] == len(real) and gdeg[0] == deg.sum() - 2 * len(real)
    for r, j in real:
        assert int(gone[3]) >> r & 1  # gone at agent 3's end ...
        back = [q for q in range(rounds) if int(gone[j]) >> q & 1]
        assert any(partner(g.keys, n, g.n_local, q, j) == 3 for q in back)  # ... and at j's
    others = np.setdiff1d(np.arange(n), [3, *[j for _, j in real]])
    assert not gone[others].any() and np.array_equal(live[others], deg[others])
    # the lost degree at each end is the number of its set bits
    bits = np.array([int(x).bit_count() for x in gone])
    assert np.array_equal(live, deg - bits)


@pytest.mark.parametrize(("threads", "chunk"), [(1, 1 << 14), (2, 333)])
def test_procedural_distancing_does_not_depend_on_threads_or_chunk_size(threads, chunk):
    regime = _national(
        "procedural",
        "network.liability=0.2",
        "network.distancing={rate: 0.2, from: {low_grade: B}}",
    )
    ref = simulate(regime, population=3_000, days=30, seed=4, threads=2, chunk_size=997)
    run = simulate(regime, population=3_000, days=30, seed=4, threads=threads, chunk_size=chunk)
    assert ref.summary["ties_dropped"] > 0
    assert_frame_equal(run.daily, ref.daily)
    assert_frame_equal(run.agents, ref.agents)


def test_distancing_on_procedural_and_stored_graphs_agrees_statistically():
    """Friends drop agents below grade A at 5 % a day, 20,000 agents, 5 seeds: ties
    dropped, the live degree and the mean score at the end agree within sampling error
    (paired differences within 3 standard errors of 0, or 2 % of the value)."""
    days, n = 60, 20_000
    keys = ["network.liability=0.05", "network.distancing={rate: 0.05, from: {low_grade: B}}"]
    out: dict[str, list[dict[str, float]]] = {"stored": [], "procedural": []}
    for graph in out:
        regime = _national(graph, *keys)
        for seed in range(5):
            run = simulate(regime, population=n, days=days, seed=seed, keep_events=False)
            day = run.daily.filter(pl.col("group") == "all").sort("day")
            out[graph].append(
                {
                    "ties_dropped": float(day["ties_dropped"].sum()) / n,
                    "degree": float(day["degree"][-1]),
                    "mean_score": float(day["mean_score"][-1]),
                }
            )
    assert out["stored"][0]["ties_dropped"] > 0.1  # enough drops to compare
    for metric in out["stored"][0]:
        a = np.array([r[metric] for r in out["stored"]])
        b = np.array([r[metric] for r in out["procedural"]])
        d = b - a
        se = d.std(ddof=1) / np.sqrt(d.size)
        assert abs(d.mean()) <= 3 * se + 0.02 * abs(a.mean()), (metric, a, b)
