"""The Poisson draws of the behave stage (engine.behave)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scsim.core.events import unpack
from scsim.engine.behave import SPARSE_BELOW, TILE, poisson_count


def test_a_tiny_uniform_with_a_float32_rate_gives_a_small_count():
    # Found by a calibration run: in float32 the sum stalled below 1 and ran to the cap.
    assert poisson_count(7.0e-9, np.float32(9.887e-4), 32767) == 2


@settings(deadline=None)  # the first call compiles
@given(
    u=st.floats(0, 1, exclude_max=True),
    lam=st.floats(1e-9, 50),
    f32=st.booleans(),
)
def test_count_is_the_inverse_cdf(u, lam, f32):
    rate = np.float32(lam) if f32 else lam
    k = poisson_count(u, rate, 32767)
    lam = float(np.float64(rate))
    cdf = lambda n: sum(math.exp(-lam) * lam**j / math.factorial(j) for j in range(n + 1))  # noqa: E731
    assert k < 200
    # 1 - u falls in (F(k - 1), F(k)], up to rounding at the edges.
    assert 1 - u <= cdf(k) + 1e-9
    if k > 0:
        assert 1 - u > cdf(k - 1) - 1e-9


def test_mean_and_variance_match_the_rate():
    lam = 3.7
    u = (np.arange(200_000) + 0.5) / 200_000
    k = np.array([poisson_count(x, lam, 32767) for x in u])
    assert abs(k.mean() - lam) < 1e-3 and abs(k.var() - lam) < 1e-2


def _events(behaviours: dict, n: int, days: int, chunk: int = 16384) -> tuple:
    """Agent, behaviour and index of every true event over ``days`` (seed 3)."""
    from scsim.engine.compile import compile_regime
    from scsim.engine.run import DayLoop
    from scsim.population import build_population
    from scsim.regime.loader import validate_mapping

    data = {"name": "rates", "grades": [{"name": "A"}], "behaviours": behaviours}
    regime = validate_mapping(data, "<test>")
    pop = build_population(regime, n, 3)
    loop = DayLoop(regime, compile_regime(regime, n), pop, 3, chunk, keep_events=False)
    cols = zip(*(unpack(loop.behave(day)) for day in range(days)), strict=True)
    agent, beh, _, idx = (np.concatenate(col) for col in cols)
    return agent, beh, idx


def test_sparse_and_dense_behaviours_are_poisson_at_their_rates():
    # 0.002 is below SPARSE_BELOW (one hash per tile of 64 agents, geometric gaps),
    # 0.02 above it (a hash per agent); 0.3 makes many agent-days with 2+ events.
    rates = {"sparse": 0.002, "dense": 0.02, "busy": 0.3}
    assert rates["sparse"] < SPARSE_BELOW < rates["dense"]
    n, days = 200_000, 5
    agent, beh, _ = _events({k: {"rate": r} for k, r in rates.items()}, n, days)
    for b, lam in enumerate(rates.values()):
        mean = lam * n * days
        assert abs((beh == b).sum() - mean) < 5 * math.sqrt(mean)
    sparse = agent[beh == 0]
    # an agent's place in its tile of 64 is uniform (the geometric gaps start anywhere)
    place = np.bincount(sparse % TILE, minlength=TILE)
    expected = sparse.size / TILE
    chi2 = ((place - expected) ** 2 / expected).sum()
    assert chi2 < TILE - 1 + 5 * math.sqrt(2 * (TILE - 1))


def test_two_events_in_a_day_as_often_as_poisson_says():
    n, lam = 200_000, 0.003  # sparse: its uniform is the tile draw's scaled by the rate
    _, _, idx = _events({"x": {"rate": lam}}, n, 10)
    days = n * 10
    twice = (idx == 1).sum()  # agent-days with a second event
    mean = days * (1 - math.exp(-lam) * (1 + lam))
    assert abs(twice - mean) < 5 * math.sqrt(mean)
    assert abs((idx == 0).sum() - days * (1 - math.exp(-lam))) < 5 * math.sqrt(days * lam)


def test_chunks_do_not_move_a_sparse_event():
    beh = {"x": {"rate": 0.001, "spread": 1.0}, "y": {"rate": 0.01}}
    a = _events(beh, 50_000, 3, chunk=16384)
    b = _events(beh, 50_000, 3, chunk=1000)  # not a multiple of the tile: tiles straddle
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
