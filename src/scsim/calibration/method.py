"""The method: history matching with Gaussian-process emulators, then approximate
Bayesian computation on the emulators.

Why this way: a run of a regime at a population large enough for its figures costs
seconds to minutes, so the thousands of simulations ABC-SMC spends are out of reach on
a small machine. Instead, each wave simulates a few dozen parameter points (each with
independent replicates: never common seeds, which would condition the posterior on one
draw of the noise), fits one Gaussian process per target to the replicate means, and
rules out the points whose *implausibility*

    I_j(x) = |z_j - m_j(x)| / sqrt(s_j^2 + v_j(x))

exceeds the cutoff for some target j (z the reported figure, s its uncertainty, m and
v the emulator's mean and variance; the simulator's noise enters v through the
emulator's nugget, the replicates' variance over their number). The
next wave's points are drawn from what is left, so the emulators become accurate
where it matters. Finally the posterior is ABC on the emulators with a Gaussian
kernel whose width is the same total variance: prior draws weighted by

    w(x) = prod_j N(z_j; m_j(x), s_j^2 + v_j(x)),

which is the posterior under the figures' stated uncertainty, the emulators' own
uncertainty and the simulator's noise. Everything is a pure function of the inputs
and a seed, so a resumed calibration rebuilds exactly the same waves.

Coordinates: every prior maps the unit cube onto its range (design.values: uniform,
log-uniform, truncated normal, triangular), so prior draws are uniform unit points and
the emulators work on the unit cube.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from scsim.calibration.schema import Prior
from scsim.experiment import design


def to_values(priors: list[Prior], unit: np.ndarray) -> np.ndarray:
    """Unit points (rows) as parameter values."""
    return np.column_stack(
        [np.asarray(design.values(p, unit[:, j]), dtype=float) for j, p in enumerate(priors)]
    )


def log_prior(priors: list[Prior], x: np.ndarray) -> np.ndarray:
    """The prior's log density at value points (rows), for the highest-posterior point."""
    from scipy import stats

    out = np.zeros(len(x))
    for j, p in enumerate(priors):
        lo, hi = p.range
        if p.distribution == "log":
            out -= np.log(x[:, j])
        elif p.distribution == "normal":
            a, b = (lo - p.mean) / p.sd, (hi - p.mean) / p.sd
            out += stats.truncnorm.logpdf(x[:, j], a, b, loc=p.mean, scale=p.sd)
        elif p.distribution == "triangular":
            c = (p.mode - lo) / (hi - lo)
            out += stats.triang.logpdf(x[:, j], c, loc=lo, scale=hi - lo)
    return out


@dataclass
class Emulators:
    """One Gaussian process per target, on the unit cube, and the simulator's noise:
    one run's variance at a point (``noise``, per target, pooled over the points)."""

    models: list
    noise: np.ndarray

    def predict(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means and variances (points x targets)."""
        means, variances = [], []
        for gp in self.models:
            m, s = gp.predict(unit, return_std=True)
            means.append(m)
            variances.append(s**2)
        return np.column_stack(means), np.column_stack(variances)


def fit(unit: np.ndarray, runs: np.ndarray, point: np.ndarray, seed: int) -> Emulators:
    """Emulators of the replicate means. ``unit``: one row per point; ``runs``: one
    row per run (targets as columns), ``point[i]`` the point of run i."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    except ImportError:
        from scsim.errors import ScsimError

        raise ScsimError(
            "scsim calibrate needs scikit-learn (allowed: pip install 'scsim[calibrate]')"
        ) from None

    k = len(unit)
    means = np.vstack([runs[point == i].mean(axis=0) for i in range(k)])
    counts = np.bincount(point, minlength=k)
    noise = _noise(runs, point, counts)
    models = []
    d = unit.shape[1]
    for j in range(runs.shape[1]):
        y = means[:, j]
        scale = np.std(y) or 1.0
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            np.full(d, 0.3), (1e-2, 1e2), nu=2.5
        ) + WhiteKernel(1e-3, (1e-8, 1.0))
        gp = GaussianProcessRegressor(
            kernel, alpha=noise[j] / scale**2 / np.maximum(counts, 1) + 1e-10,
            normalize_y=True, n_restarts_optimizer=2, random_state=seed,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(unit, y)
        models.append(gp)
    return Emulators(models, noise)


def _noise(runs: np.ndarray, point: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """One run's variance at a point, pooled over the points (per target)."""
    multi = [i for i in range(len(counts)) if counts[i] > 1]
    if not multi:
        return np.zeros(runs.shape[1])
    return np.vstack([runs[point == i].var(axis=0, ddof=1) for i in multi]).mean(axis=0)


def implausibility(
    em: Emulators, unit: np.ndarray, observed: np.ndarray, sigma: np.ndarray
) -> np.ndarray:
    """The largest implausibility over the targets at each unit point."""
    m, v = em.predict(unit)
    return (np.abs(observed - m) / np.sqrt(sigma**2 + v)).max(axis=1)


def log_likelihood(
    em: Emulators, unit: np.ndarray, observed: np.ndarray, sigma: np.ndarray
) -> np.ndarray:
    """The Gaussian ABC kernel's log weight at each unit point."""
    m, v = em.predict(unit)
    total = sigma**2 + v
    return (-0.5 * (observed - m) ** 2 / total - 0.5 * np.log(total)).sum(axis=1)


def next_points(
    em: Emulators | None, d: int, n: int, observed: np.ndarray, sigma: np.ndarray,
    cutoff: float, candidates: int, rng: np.random.Generator,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """The next wave's unit points (a Latin hypercube in the first wave, else drawn
    from the candidates the emulators have not ruled out), and the share of the prior
    not ruled out (1 in the first wave)."""
    from scipy.stats import qmc

    if em is None:
        return qmc.LatinHypercube(d=d, seed=rng).random(n), 1.0
    cand = rng.random((candidates, d))
    keep = cand[implausibility(em, cand, observed, sigma) < cutoff]
    share = len(keep) / candidates
    if len(keep) == 0:
        return np.empty((0, d)), 0.0
    return keep[rng.choice(len(keep), size=min(n, len(keep)), replace=False)], share


@dataclass
class Posterior:
    """Weighted prior draws (unit and values), the resampled particles, the highest-
    posterior draw, and the effective sample size of the weights."""

    unit: np.ndarray
    values: np.ndarray
    weights: np.ndarray
    particles: np.ndarray
    best: np.ndarray
    ess: float

    def quantiles(self, qs: tuple[float, ...] = (0.05, 0.5, 0.95)) -> np.ndarray:
        """Weighted marginal quantiles (len(qs) x parameters)."""
        out = np.empty((len(qs), self.values.shape[1]))
        for j in range(self.values.shape[1]):
            order = np.argsort(self.values[:, j])
            cdf = np.cumsum(self.weights[order])
            cdf /= cdf[-1]
            out[:, j] = [self.values[order, j][np.searchsorted(cdf, q)] for q in qs]
        return out


def posterior(
    em: Emulators, priors: list[Prior], observed: np.ndarray, sigma: np.ndarray,
    cutoff: float, candidates: int, particles: int, rng: np.random.Generator,
) -> Posterior:  # fmt: skip
    """ABC on the emulators: prior draws weighted by the Gaussian kernel. The draws
    are taken from the part of the prior not ruled out (implausibility below the
    cutoff: the kernel's weight elsewhere is negligible), so a narrow posterior still
    gets thousands of draws rather than a handful."""
    unit = _not_ruled_out(em, len(priors), observed, sigma, cutoff, candidates, rng)
    ll = log_likelihood(em, unit, observed, sigma)
    w = np.exp(ll - ll.max())
    w /= w.sum()
    values = to_values(priors, unit)
    best = values[np.argmax(ll + log_prior(priors, values))]
    pick = rng.choice(len(w), size=particles, replace=True, p=w)
    return Posterior(unit, values, w, values[pick], best, float(1.0 / np.sum(w**2)))


#: Most prior draws screened for the posterior, in rounds of ``candidates``.
ROUNDS = 40


def _not_ruled_out(
    em: Emulators, d: int, observed: np.ndarray, sigma: np.ndarray, cutoff: float,
    candidates: int, rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """``candidates`` prior draws not ruled out (fewer if ``ROUNDS`` rounds of draws
    do not find them; all the last round's if none is left)."""
    kept: list[np.ndarray] = []
    found = 0
    for _ in range(ROUNDS):
        cand = rng.random((candidates, d))
        keep = cand[implausibility(em, cand, observed, sigma) < cutoff]
        kept.append(keep)
        found += len(keep)
        if found >= candidates:
            break
    return np.vstack(kept)[:candidates] if found else cand
