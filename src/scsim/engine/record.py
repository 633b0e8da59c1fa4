"""Record: the day's metrics, per group and overall, from what the stages counted.

It reads a day loop's tallies and state and changes nothing, so it sits apart from
the stages (``engine.day``) that move the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from scsim.core.units import SCALE
from scsim.engine import network, settle
from scsim.metrics.names import PER_CAPITA, family
from scsim.metrics.reduce import disparate_impact, gini_from_histogram

if TYPE_CHECKING:
    from scsim.engine.day import DayLoop

GINI_BINS = 4096


def record(loop: DayLoop, flows: dict[str, np.ndarray]) -> np.ndarray:
    """The day's metrics, per group and overall, in the order of ``loop.names``.

    Everything is first a count per group; the overall row is the sum of the group
    rows, and means and shares are divided by the population last.
    """
    r, c, t = loop.regime, loop.c, loop.tallies
    states = t.states.sum(0)  # [G, K, list mask]
    acts = np.einsum("gkm,skm->gs", states, c.active)
    wrongful = t.wrongful.sum(0)
    if loop.has_family:
        acts[:, c.family], extra = family_counts(loop)
        wrongful = wrongful + extra
    moves = t.moves.sum(0)  # [G, L, (entries, exits, days)]
    moves[:, :, 1:] += loop.appeal_exits
    loop.rehab += moves[:, :, 1:].sum(1)[:, ::-1]
    masks = np.arange(states.shape[2])
    true = loop.true_counts.sum(0)
    counts: dict[str, np.ndarray] = {
        "mean_score": t.sum_score.sum(0) / SCALE,
        "enrolled": loop.enrolled,
        "blacklisted": states[:, :, 1:].sum((1, 2)),
        "wrongfully_sanctioned": wrongful,
        "wrongfully_listed": t.wrongly_listed.sum(0),
        "cured_still_listed": t.cured.sum(0),
        "list_entries": moves[:, :, 0].sum(1),
        "list_exits": moves[:, :, 1].sum(1),
        "false_attributions": flows["false"],
        "false_matches_outside": loop.observe_stage.outside,
        "wrongful_penalties": flows["wrongful"],
        "appeals_filed": flows["filed"],
        "appeals_won": flows["won"],
    }  # fmt: skip
    if loop.graph_metrics:
        counts["degree"] = loop.graph.group_degree
        counts["ties_dropped"] = loop.graph.dropped
        counts["friend_deductions"] = loop.friend_hits
    for k, grade in enumerate(r.grades):
        counts[f"grade_share.{grade.name}"] = states[:, k].sum(1)
    for li, lst in enumerate(r.all_lists):
        counts[f"listed.{lst.name}"] = states[:, :, (masks >> li) & 1 == 1].sum((1, 2))
    for a, act in enumerate([*r.sanctions, *r.rewards]):
        kind = "sanctioned" if a < c.n_sanctions else "rewarded"
        counts[f"{kind}.{act.name}"] = acts[:, a]
    for b, name in enumerate(r.behaviours):
        counts[f"events_true.{name}"] = true[:, b]
        counts[f"events_recorded.{name}"] = flows["recorded"][:, b]
    for o, obs in enumerate(r.observers):
        counts[f"recorded_by.{obs.name}"] = flows["by_observer"][:, o]
        counts[f"false_by.{obs.name}"] = flows["false_by_observer"][:, o]

    rows = {name: _with_total(counts[name]) for name in counts}
    everyone = _with_total(loop.group_size)
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in rows:
            if family(name) in PER_CAPITA:
                rows[name] = rows[name] / everyone
        rehab = _with_total(loop.rehab)
        rows["days_to_rehabilitation"] = rehab[:, 0] / rehab[:, 1]
    nan = np.full(loop.group_size.size, np.nan)
    if loop.resp is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            rows["gaming_share"] = _with_total(loop.resp.botted) / everyone
        for b, name in enumerate(r.behaviours):
            rows[f"chilling.{name}"] = loop.chill[:, b]
    gini, isolation = score_gini(loop)
    rows["score_gini"] = np.concatenate([[gini], nan])
    if loop.graph_metrics:
        rows["isolation"] = np.concatenate([[isolation], nan])
        assortativity = loop.graph.assortativity(loop.state.score[0])
        rows["score_assortativity"] = np.concatenate([[assortativity], nan])
    for a, act in enumerate(r.sanctions):
        impact = disparate_impact(acts[:, a], loop.group_size)
        rows[f"disparate_impact.{act.name}"] = np.concatenate([[impact], nan])
    return np.column_stack([rows[name] for name in loop.names])


def family_counts(loop: DayLoop) -> tuple[np.ndarray, np.ndarray]:
    """Counts of family sanctions per group, and the extra wrongfully sanctioned."""
    c, p = loop.c, loop.pop
    parts = min(loop.nblocks, 64)
    out = np.zeros((parts, loop.group_size.size, c.family.size), dtype=np.int64)
    wrong = np.zeros((parts, loop.group_size.size), dtype=np.int64)
    settle.family_sanctions(c, loop.state, p.hstart, p.group, out, wrong)
    return out.sum(0)[:, c.family], wrong.sum(0)


def score_gini(loop: DayLoop) -> tuple[float, float]:
    """The score Gini, and the isolation metric from the same histogram (with the
    live degrees summed per bin)."""
    t = loop.tallies
    lo, hi = int(t.smin.min()), int(t.smax.max())
    width = max(SCALE, -(-(hi - lo + 1) // GINI_BINS))
    hist = np.empty((min(loop.nblocks, 64), (hi - lo) // width + 1), dtype=np.int64)
    values = (lo + width * np.arange(hist.shape[1])) / SCALE
    if not loop.graph_metrics:
        settle.histogram(loop.state.score[0], lo, width, hist)
        return gini_from_histogram(values, hist.sum(0)), float("nan")
    hdeg = np.empty_like(hist)
    network.histogram_degree(loop.state.score[0], loop.graph.live, lo, width, hist, hdeg)
    counts = hist.sum(0)
    return gini_from_histogram(values, counts), network.isolation(counts, hdeg.sum(0))


def _with_total(per_group: np.ndarray) -> np.ndarray:
    """Per-group values with the whole population's total in front (row "all")."""
    col = np.asarray(per_group, dtype=np.float64)
    return np.concatenate([col.sum(0, keepdims=True), col])
