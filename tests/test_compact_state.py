"""Compact state (issue 7): the narrow types are chosen only where the regime's figures
fit them, counts saturate instead of wrapping, and per-agent rates derived on demand
are the ones the population's total rate was summed from."""

from __future__ import annotations

import numpy as np
import pytest

from scsim.engine.compile import compile_regime
from scsim.engine.day import DayLoop
from scsim.engine.scoring import _points
from scsim.engine.state import initial_state
from scsim.population import build_population
from scsim.regime import load_regime
from scsim.regime.loader import validate_mapping


def regime(**changes):
    data = {
        "name": "compact",
        "score": {"initial": 1000},
        "grades": [{"name": "A", "min": 990}, {"name": "C"}],
        "behaviours": {"offence": {"rate": 0.02, "spread": 1.0}, "good": {"rate": 0.01}},
        "observers": [{"name": "cam", "watches": ["offence", "good"]}],
        "rules": [{"on": "offence", "points": [-5, -10]}, {"on": "good", "points": 1}],
        "blacklist": {"enter": [{"on": "offence"}], "exit": {"after_days": 730}},
    }
    data.update(changes)
    return validate_mapping(data, "<test>")


def state_of(r):
    return initial_state(compile_regime(r, 10), 10, 1, False)


def test_narrow_types_where_the_regime_fits_them():
    st = state_of(regime())
    assert st.listed.dtype == np.uint16
    assert st.term.dtype == np.int16
    assert st.used.dtype == np.uint8 and st.used_max == 255


def test_wide_types_where_a_term_or_a_cap_needs_them():
    long_term = regime(blacklist={"enter": [{"on": "offence"}], "exit": {"after_days": 36_000}})
    assert state_of(long_term).term.dtype == np.int32
    serious = regime(
        blacklist={
            "enter": [
                {
                    "on": "offence",
                    "term_days": 30_000,
                    "serious_share": 0.1,
                    "serious_extra_days": [0, 5_000],
                }
            ],
        }
    )
    assert state_of(serious).term.dtype == np.int32
    big_cap = regime(rules=[{"on": "good", "points": 1, "max_per_year": 300}])
    st = state_of(big_cap)
    assert st.used.dtype == np.uint16 and st.used_max == 65535


def test_a_yearly_count_saturates_instead_of_wrapping():
    """Past 255 events of an escalating rule a uint8 count stays at 255, so the rule
    keeps its last step (a wrapped count would restart the escalation)."""
    score = np.zeros((1, 1), dtype=np.int32)
    used = np.zeros((1, 1, 1), dtype=np.uint8)
    rule = (
        np.array([0]),
        np.array([[-1, -2]]),
        np.array([2]),
        np.array([-1]),
        np.array([0]),
        np.array([2**31 - 1]),
    )
    moves = [_points(score, used, 255, 0, 0, 0, *rule) for _ in range(300)]
    assert used[0, 0, 0] == 255
    assert moves[0] == -1 and set(moves[1:]) == {-2}


def test_rates_derived_on_demand_sum_to_the_stored_total():
    r = load_regime("national")
    pop = build_population(r, 20_000, 3, keep_rates=False)
    assert pop.rates.table.shape[0] == 0
    own = pop.agent_rates()
    varying = sum(b.spread > 0 for b in r.behaviours.values())  # a column each
    assert own.dtype == np.float32 and own.shape == (20_000, varying)
    homo = pop.lam_group[:, pop.beh_col < 0].sum(axis=1)
    total = (homo[pop.group] + own.sum(axis=1, dtype=np.float64)).astype(np.float32)
    assert np.array_equal(total, pop.lam_total)
    assert np.array_equal(pop.agent_rates(5_000, 5_010), own[5_000:5_010])
    # lognormal with the group's mean kept
    col = pop.beh_col[list(r.behaviours).index("reads_party_paper")]
    mean = own[:, col].mean()
    assert abs(mean / r.behaviours["reads_party_paper"].rate - 1) < 0.1


@pytest.mark.parametrize("name", ["national", "rongcheng"])
def test_a_kept_rate_table_gives_the_run_derived_rates_give(name):
    r = load_regime(name)
    kept = build_population(r, 20_000, 3, keep_rates=True)
    derived = build_population(r, 20_000, 3, keep_rates=False)
    varying = sum(b.spread > 0 for b in r.behaviours.values())
    assert kept.rates.table.shape == (20_000, varying) and derived.rates.table.shape[0] == 0
    assert np.array_equal(kept.agent_rates(), derived.agent_rates())
    loops = [DayLoop(r, compile_regime(r, 20_000), p, 3, 4096) for p in (kept, derived)]
    for day in range(15):
        rows = [loop.step(day) for loop in loops]
        np.testing.assert_array_equal(rows[0], rows[1])
