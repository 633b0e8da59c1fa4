"""The Poisson draw of the behave stage (engine.behave.poisson_count)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scsim.engine.behave import poisson_count


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
