"""Face matching as NIST measures it: closed forms at 200,000 agents, within 5 sigma.

A search of an enrolled doer (mated) returns the doer with chance d = 1 - FNIR; a
search that does not return the doer returns an impostor with chance
F_g = 1 - (1 - FMR x m_g) ** gallery; the impostor is simulated with chance
q = min(1, represents x enrolled / gallery), drawn among enrolled agents by group
share x multiplier, else it is someone outside the simulation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from scsim.core import rng
from scsim.core.events import pack
from scsim.engine.compile import compile_regime, observer_searches
from scsim.engine.run import simulate
from scsim.observe import kernels
from scsim.population import build_population
from scsim.regime.loader import validate_mapping

N = 200_000
GALLERY = 300_000
ENROLLED = 0.6
DETECTION = 0.7
MULT = 3.0
SHARES = (0.8, 0.2)
# The per-comparison rate that gives the majority an FPIR of 0.3 on the gallery.
FMR = -math.expm1(math.log(0.7) / GALLERY)


def _regime(**observer):
    cam = {
        "name": "cam",
        "watches": ["act"],
        "kind": "camera",
        "detection": DETECTION,
        "false_match_rate": FMR,
        "gallery": GALLERY,
        "enrolled": ENROLLED,
        **observer,
    }
    return validate_mapping(
        {
            "name": "matching",
            "grades": [{"name": "all"}],
            "behaviours": {"act": {"rate": 0.25}},
            "observers": [cam],
            "groups": [
                {"name": "a", "share": SHARES[0]},
                {"name": "b", "share": SHARES[1], "false_match_multiplier": MULT},
            ],
        }
    )


def _fpir(m: float) -> float:
    return -math.expm1(GALLERY * math.log1p(-FMR * m))  # 1 - (1 - FMR m) ** GALLERY


def _within(count: float, n: float, p: float, inflate: float = 1.0) -> None:
    """count ~ Binomial(n, p), its sd times ``inflate``: within 5 sd of n p."""
    sd = math.sqrt(n * p * (1 - p)) * inflate
    assert abs(count - n * p) <= 5 * sd + 1e-9, (count, n * p, sd)


@njit
def _enrolled(key_e, okey, share, n):
    out = np.empty(n, dtype=np.bool_)
    for i in range(n):
        out[i] = kernels.in_gallery(key_e, np.int64(i), okey, share)
    return out


@njit
def _poissons(key, lam, k):
    out = np.empty(k, dtype=np.int64)
    for i in range(k):
        out[i] = kernels.poisson(rng.agent_base(key, np.int64(i)), lam)
    return out


def _search_each_agent_once(regime, seed: int = 3):
    """One kept candidate per agent, searched by the match kernel directly (so the
    outcomes of different searches are independent)."""
    pop = build_population(regime, N, seed)
    c = compile_regime(regime, N)
    agents = np.arange(N, dtype=np.int64)
    packed = pack.py_func(agents, 0, 0, 0)
    keep = np.ones(N, dtype=np.bool_)
    outside = np.zeros(len(regime.groups), dtype=np.int64)
    key_e = rng.stage_key(seed, 0, rng.POP_GALLERY)
    attr, recorded = kernels.match(
        c, rng.stage_key(seed, 1, rng.MATCH), key_e, packed, keep, pop.group, pop.household,
        pop.hstart, outside,
    )  # fmt: skip
    enrolled = _enrolled(key_e, c.obs_key[0], ENROLLED, N)
    return pop, attr, recorded, outside, enrolled


def test_tables_follow_the_formulas():
    s = observer_searches(_regime(), N)
    assert s.p_false[0] == pytest.approx([_fpir(1.0), _fpir(MULT)], rel=1e-12)
    assert s.p_false[0, 0] == pytest.approx(0.3, rel=1e-9)
    assert s.p_inside[0] == pytest.approx(N * ENROLLED / GALLERY)
    assert s.enrolled[0] == ENROLLED
    # gallery null: everyone the population represents who is enrolled; inside always
    big = validate_mapping({**_regime().model_dump(mode="json"), "represents": 10**9})
    big = big.model_copy(
        update={"observers": [big.observers[0].model_copy(update={"gallery": None})]}
    )
    s = observer_searches(big, N)
    assert s.p_false[0, 0] == pytest.approx(
        -math.expm1(round(10**9 * ENROLLED) * math.log1p(-FMR)), rel=1e-12
    )
    assert s.p_inside[0] == 1.0
    assert big.people_per_agent(N) == 5000.0


def test_mated_non_mated_and_outside_shares():
    pop, attr, recorded, outside, enrolled = _search_each_agent_once(_regime())
    group = pop.group
    _within(enrolled.sum(), N, ENROLLED)
    mated = enrolled
    hit = recorded & (attr == np.arange(N))
    assert not hit[~mated].any(), "a non-mated search returned the doer"
    _within(hit[mated].sum(), mated.sum(), DETECTION)
    q = N * ENROLLED / GALLERY
    for g, m in enumerate((1.0, MULT)):
        missed = (group == g) & ~hit
        impostor = (recorded & ~hit)[group == g].sum() + outside[g]
        _within(impostor, missed.sum(), _fpir(m))
        # of the impostors, a share q is simulated, the rest outside
        _within(outside[g], impostor, 1 - q)
    # non-mated searches: an impostor with the FPIR itself
    nm = ~mated & (group == 0)
    _within(recorded[nm].sum(), nm.sum(), _fpir(1.0) * q)


def test_impostors_are_enrolled_others_drawn_by_share_times_multiplier():
    pop, attr, recorded, _, enrolled = _search_each_agent_once(_regime())
    wrong = recorded & (attr != np.arange(N))
    assert wrong.sum() > 10_000
    assert enrolled[attr[wrong]].all(), "an impostor outside the gallery"
    in_b = pop.group[attr[wrong]] == 1
    weight_b = SHARES[1] * MULT / (SHARES[0] * 1.0 + SHARES[1] * MULT)
    _within(in_b.sum(), wrong.sum(), weight_b)


def test_a_run_counts_outside_matches_by_the_doers_group():
    """Through the whole engine (two days, about 0.5 events an agent): records of the
    doer, impostors inside by the impostor's group, and false_matches_outside by the
    doer's group all match the closed forms. One agent's events share its enrolment,
    so the sd is inflated by sqrt(1 + events per agent)."""
    regime = _regime()
    run = simulate(regime, population=N, days=2, seed=5, keep_agents=False)
    last = run.daily.group_by("group").sum()
    row = {r["group"]: r for r in last.iter_rows(named=True)}
    q = N * ENROLLED / GALLERY
    inflate = math.sqrt(1.5)
    false_total = 0.0
    for g, m in (("a", 1.0), ("b", MULT)):
        true = row[g]["events_true.act"]
        p_imp = (1 - ENROLLED * DETECTION) * _fpir(m)
        _within(row[g]["false_matches_outside"], true, p_imp * (1 - q), inflate)
        false_total += true * p_imp * q
    assert (
        row["all"]["false_matches_outside"]
        == row["a"]["false_matches_outside"] + row["b"]["false_matches_outside"]
    )
    weight_b = SHARES[1] * MULT / (SHARES[0] + SHARES[1] * MULT)
    # counts of rare outcomes: variance at most the mean (times the inflation)
    for g, expected in (("b", false_total * weight_b), ("all", false_total)):
        sd = math.sqrt(expected) * inflate
        assert abs(row[g]["false_attributions"] - expected) <= 5 * sd
    true_all = row["all"]["events_true.act"]
    correct = row["all"]["events_recorded.act"] - row["all"]["false_attributions"]
    _within(correct, true_all, ENROLLED * DETECTION, inflate)


def test_a_non_searching_observer_records_its_doers_with_detection():
    """No matcher and no false-match rate: enrolled (0.6 here) is ignored."""
    regime = _regime(false_match_rate=0.0)
    assert "false_matches_outside" not in simulate(regime, population=1000, days=1).summary
    _, attr, recorded, outside, _ = _search_each_agent_once(regime)
    assert (attr[recorded] == np.flatnonzero(recorded)).all() and outside.sum() == 0
    _within(recorded.sum(), N, DETECTION)


@pytest.mark.parametrize("lam", [0.3, 4.0, 25.0, 700.0])
def test_counter_based_poisson_has_the_poisson_mean_and_variance(lam):
    k = 40_000
    key = rng.stage_key(11, 0, rng.ACCUSE)
    x = _poissons(key, lam, k)
    sd_mean = math.sqrt(lam / k)
    assert abs(x.mean() - lam) <= 5 * sd_mean
    # the sample variance's sd is about lam * sqrt(2 / k) (+ the fourth cumulant, lam)
    assert abs(x.var() - lam) <= 5 * math.sqrt((2 * lam * lam + lam) / k)
    assert (_poissons(key, lam, 100) == x[:100]).all()  # a function of the key alone


def test_the_worked_examples_of_the_docs_are_the_engines_numbers():
    """docs/regime-format.md, "Face searches": national's FPIRs and impostor chances,
    jaywalking-cameras' share of simulated impostors, to the digits printed there."""
    from scsim.regime import load_regime

    national = load_regime("national")
    s = observer_searches(national, 1_000_000)
    cams = [o.name for o in national.observers].index("cameras")
    assert [f"{p:.4f}" for p in s.p_false[cams]] == ["0.2957", "0.9700"]
    miss = 1 - national.observers[cams].detection
    assert [f"{miss * p:.2%}" for p in s.p_false[cams]] == ["0.33%", "1.07%"]
    assert s.p_inside[cams] == 1.0 and national.people_per_agent(1_000_000) == 1400.0
    jay = load_regime("jaywalking-cameras")
    assert f"{observer_searches(jay, 50_000).p_inside[0]:.1%}" == "2.6%"


def test_a_world_stands_for_its_own_population_or_for_the_first_operators(tmp_path):
    from scsim.world import load_world

    china = load_world("china-2018")  # population 100,000: a city district
    assert {r.represents for r in china.regimes.values()} == {None}
    path = tmp_path / "w.yaml"
    path.write_text("name: w\noperators:\n  city: rongcheng\n  court: court-blacklist\n")
    assert {r.represents for r in load_world(path).regimes.values()} == {700_000}
