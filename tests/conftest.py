"""Shared, session-scoped simulations for the audit tests (compare, by_group, report).

Small on purpose (2,000 people, 120 days: well under a second each) but built on the
example regime ``examples/camera-city.yaml``, which has two groups, false matches,
a blacklist and both grade and list sanctions, so every audit path has data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import scsim
from scsim.engine.result import Run

ROOT = Path(__file__).resolve().parent.parent
CAMERA_CITY = ROOT / "examples" / "camera-city.yaml"
POPULATION, DAYS, SEED = 2000, 120, 5

# Nobody leaves the list, so the list, like the grades, only ever gets worse under
# harsher rules: under B every agent's score is at most its score under A, day by day.
PERMANENT_LIST = "blacklist.exit.after_days=null"
HARSHER = ["rules.0.points=-8", "rules.1.points=-15"]
# The --json contract of DESIGN.md: exactly these keys.
JSON_KEYS = {
    "run_id",
    "regime",
    "population",
    "people_per_agent",
    "days",
    "seed",
    "metrics",
    "seconds",
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
