"""Shared, session-scoped simulations for the audit tests (compare, by_group, report).

Small on purpose (2,000 people, 120 days: well under a second each) but built on the
example regime ``examples/camera-city.yaml``, which has two groups, false matches,
a blacklist and both grade and list sanctions, so every audit path has data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import scsim
from scsim.engine.result import Run

# No test may depend on wall time: a first call compiles numba kernels (seconds, minutes
# on a loaded machine), so hypothesis' per-example deadline would fail a correct test.
# Every property test runs under this profile; a test's own @settings inherit it.
settings.register_profile("scsim", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("scsim")

ROOT = Path(__file__).resolve().parent.parent
CAMERA_CITY = ROOT / "examples" / "camera-city.yaml"
POPULATION, DAYS, SEED = 2000, 120, 5

# Nobody leaves the list, so the list, like the grades, only ever gets worse under
# harsher rules: under B every agent's score is at most its score under A, day by day.
PERMANENT_LIST = "blacklist.exit.after_days=null"
HARSHER = ["rules.0.points=-8", "rules.1.points=-15"]
# The --json contract (docs/frames.md, README): exactly these keys.
JSON_KEYS = {
    "run_id",
    "regime",
    "population",
    "people_per_agent",
    "days",
    "seed",
    "metrics",
    "seconds",
    "compile_seconds",
    "agent_days_per_s",
}


def simulate_city(*overrides: str, seed: int = SEED, **kw: int) -> Run:
    regime = scsim.load_regime(str(CAMERA_CITY), list(overrides))
    options = {"population": POPULATION, "days": DAYS, **kw}
    return scsim.simulate(regime, seed=seed, **options)


@pytest.fixture(scope="session")
def city_run() -> Run:
    """One run of the example regime as shipped (the list has exits)."""
    return simulate_city()


@pytest.fixture(scope="session")
def paired_runs() -> tuple[Run, Run]:
    """A and B: same population, days and seed; B only deducts more points."""
    return simulate_city(PERMANENT_LIST), simulate_city(PERMANENT_LIST, *HARSHER)
