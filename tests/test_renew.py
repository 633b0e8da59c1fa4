"""A new ground while listed (issue 14): a list's ``renew`` leaves the term as it is,
restarts it, or extends it."""

from __future__ import annotations

import numpy as np
import pytest

from scsim.core.events import pack
from scsim.engine.compile import compile_regime
from scsim.engine.run import DayLoop
from scsim.errors import RegimeError
from scsim.population import build_population
from scsim.regime.loader import validate_mapping

TERM, SECOND = 10, 4  # a 10-day term; the second offence on day 4


def regime(renew: str | None, term_days: int | None = TERM) -> dict:
    blacklist: dict = {"enter": [{"on": "offence", "term_days": term_days}]}
    if renew is not None:
        blacklist["renew"] = renew
    return {
        "name": "renew",
        "grades": [{"name": "A"}],
        "behaviours": {"offence": {"rate": 0.0}},  # only the offences the test commits
        "observers": [{"name": "clerk", "watches": ["offence"], "coverage": 1.0}],
        "blacklist": blacklist,
    }


def listed_days(data: dict, offences: dict[int, int], days: int = 40) -> list[int]:
    """The days agent 0 ends on the blacklist, given its offences (day -> count)."""
    reg = validate_mapping(data, "<test>")
    pop = build_population(reg, 4, 1)
    loop = DayLoop(reg, compile_regime(reg, pop.n), pop, 1, 4, keep_events=False)
    out = []
    for day in range(days):
        events = np.array([pack(0, 0, 0, e) for e in range(offences.get(day, 0))], np.int64)
        loop.step(day, true_events=events)
        if loop.state.listed[0, 0, 0] > 0:
            out.append(day)
    return out


@pytest.mark.parametrize(
    ("renew", "last"),
    [
        (None, TERM - 1),  # the default: the first term stands
        ("none", TERM - 1),
        ("restart", SECOND + TERM - 1),  # ten days from the second offence
        ("extend", 2 * TERM - 1),  # ten more days after the first term
    ],
)
def test_a_second_offence_while_listed_renews_as_told(renew, last):
    days = listed_days(regime(renew), {0: 1, SECOND: 1})
    assert days == list(range(0, last + 1))


def test_extend_adds_a_term_for_each_new_ground():
    # two offences on day 4 are two grounds: two more terms
    days = listed_days(regime("extend"), {0: 1, SECOND: 2})
    assert days == list(range(0, 3 * TERM))


def test_a_ground_that_lists_for_ever_makes_the_listing_endless():
    data = regime("restart")
    data["blacklist"]["enter"].append({"on": "offence", "term_days": None})
    # the first ground lists for TERM days, the second (no term) for ever: both apply
    # to each offence, so the listing never ends once renewed
    days = listed_days(data, {0: 1, SECOND: 1})
    assert days == list(range(0, 40))


def test_renew_names_its_choices():
    with pytest.raises(RegimeError, match="renew") as err:
        validate_mapping(regime("sometimes"), "<test>")
    assert "restart" in str(err.value) and "extend" in str(err.value)
