"""Envelopes for the target search, and the design that picks one from the pooled scores.

An envelope ``u`` bounds, for every member of a nested family at once, the mislabelled
training samples a member keeps by the mislabelled probes it keeps: with probability at
least L over the draw of the probes, ``N <= u[y]`` for every member with ``y < u.size``. The
walk behind it is ``bounds``'s: W_j, the mislabelled training samples before the (j + 1)-th
mislabelled probe in the family's order, is nondecreasing in j, so a bound on W_j alone
also bounds every member that keeps j or fewer probes.

- ``band``: every j up to J at one local level (``bounds.band``), the baseline;
- ``knot(j)``: W_j alone at the full level, ``u[0..j] = nbinom.ppf(L, j + 1, p)``: no error
  spent where the search will not stop, so a member that keeps j probes or fewer is bounded
  more tightly than the band bounds it, and one that keeps more is not bounded at all.

Which is best depends on where the search will stop, which depends on how mislabelled
samples score. ``design`` guesses that from a working model fitted to the pooled scores
(training samples and probes together, no label but the observed one): a two-component
Gaussian mixture of the log-scores says how likely each pooled item is to be mislabelled,
and the envelope whose expected kept size under that model is largest is chosen. The
choice reads nothing that depends on which items are probes or on any clean label, so given
the pool it is fixed, and each candidate's level holds for it; a poor working model costs
power, never validity. A knot's level is exact without replacement (``knot``); the band's walk
is the one with replacement, checked exactly without replacement in the tests at the worst
case for the settings there, not proven for every n and R.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom, nbinom

KNOTS = (0, 1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90, 128, 181, 256, 362, 512)
WORKING_SIZE = 5_000  # pooled scores the working mixture is fitted to (evenly spaced quantiles)
PREFER_KNOT = 1.25  # how much more a knot must be expected to keep than the band
SIMULATIONS = 300  # arrival sequences of mislabelled probes behind each expected kept size
_TINY = 1e-12


def knot(n: int, R: int, level: float, j: int) -> np.ndarray:
    """``u`` of the knot at ``j`` (float64, shape (j + 1,)): one bound on W_j at ``level``.

    The negative binomial quantile (the walk with replacement), raised where the exact law
    without replacement needs more: at the worst case, every item mislabelled, ``W_j > u``
    is "at most j probes among the first u + j + 1 items", ``hypergeom.cdf(j, n + R, R, u +
    j + 1)``. With few probes the two agree; with R far above n or L near 0.5 the walk with
    replacement alone falls short of the level (n = 50, R = 1,000, L = 0.5, j = 512: 0.514)."""
    p = R / (n + R)
    u = int(nbinom.ppf(level, j + 1, p))
    if hypergeom.cdf(j, n + R, R, min(u + j + 1, n + R)) > 1.0 - level:
        lo, hi = u, n  # W_j is at most n
        while lo < hi:
            mid = (lo + hi) // 2
            if hypergeom.cdf(j, n + R, R, min(mid + j + 1, n + R)) <= 1.0 - level:
                hi = mid
            else:
                lo = mid + 1
        u = lo
    return np.full(j + 1, float(u))


def knots_in_reach(n: int, R: int, level: float, target: float) -> list[int]:
    """The knots whose bound could still let a kept set of at most n reach ``target``."""
    p = R / (n + R)
    room = (1.0 - target) * n
    return [
        j
        for j in KNOTS
        if j < R and nbinom.ppf(level, j + 1, p) <= room and knot(n, R, level, j)[0] <= room
    ]


def working_badness(scores: np.ndarray) -> np.ndarray:
    """How likely each score is to be a mislabelled item's under a two-component Gaussian
    mixture of the log-scores (the component with the larger mean), fitted to at most
    ``WORKING_SIZE`` evenly spaced quantiles of the sorted scores, so the fit is a function of
    the pooled values alone, whatever their order."""
    from sklearn.mixture import GaussianMixture  # a working model only: loaded when used

    x = np.log(np.maximum(np.asarray(scores, np.float64), _TINY))
    if x.size < 4 or np.ptp(x) == 0:
        return np.full(x.size, 0.5)
    xs = np.sort(x)
    sub = xs[np.linspace(0, xs.size - 1, min(WORKING_SIZE, xs.size)).astype(np.int64)]
    # equal variances: a mixture of overlapping losses with free variances drifts to one
    # narrow and one wide component, which says nothing about which items are mislabelled
    gm = GaussianMixture(
        2, covariance_type="tied", random_state=0, reg_covar=1e-6 * max(np.var(sub), _TINY)
    )
    gm.fit(sub[:, None])
    # the posterior of the larger-mean component, by its log-odds (one shared variance makes
    # them linear in x): predict_proba costs a second per million scores
    mu, w = gm.means_.ravel(), gm.weights_
    var = float(np.ravel(gm.covariances_)[0])
    bad = int(np.argmax(mu))
    good = 1 - bad
    log_odds = np.log(w[bad] / w[good]) + ((x - mu[good]) ** 2 - (x - mu[bad]) ** 2) / (2 * var)
    return 0.5 * (1.0 + np.tanh(0.5 * log_odds))


def expected_kept(
    u: np.ndarray, badness_entered: np.ndarray, kept: np.ndarray, p: float, target: float
) -> float:
    """The mean kept size of the search with envelope ``u`` under the working model.

    Parameters
    ----------
    u : (J,) float
        The envelope.
    badness_entered, kept : (G,) float
        Along the family's members in order: the expected mislabelled pooled items entered
        so far (nondecreasing) and the expected training samples kept.
    p : float
        The chance that a pooled item is a probe, ``R / (n + R)``.
    """
    if u.size == 0 or kept.size == 0:
        return 0.0
    rng = np.random.default_rng(0)
    # each mislabelled pooled item is a probe with chance p: the (j + 1)-th such probe arrives
    # after about Gamma(j + 1) / p of them
    arrivals = np.cumsum(rng.exponential(size=(SIMULATIONS, u.size)), axis=1) / p
    g = np.searchsorted(badness_entered, arrivals, side="left")
    before = np.where(g > 0, kept[np.maximum(g - 1, 0)], 0.0)
    before = np.where(g >= kept.size, kept[-1], before)
    ok = (1.0 - target) * before >= u[None, :] - 1e-9
    return float(np.where(ok, before, 0.0).max(axis=1).mean())


def design(
    n: int,
    R: int,
    level: float,
    target: float,
    badness_entered: np.ndarray,
    entered: np.ndarray,
    band_u: np.ndarray,
) -> tuple[str, np.ndarray, dict]:
    """The envelope with the largest expected kept size under the working model: the band
    (``band_u``) or a knot.

    Parameters
    ----------
    n, R : int
        Training samples and probes.
    level, target : float
        L and P.
    badness_entered, entered : (G,) float
        Along the family, in order: the working model's expected mislabelled pooled items, and
        the pooled items, entered so far.
    band_u : (J,) float
        The band, the baseline candidate.

    Returns
    -------
    (name, u, expected): ``"band"`` or ``"knot j"``, its envelope, and every candidate's
    expected kept size.
    """
    p = R / (n + R)
    kept = np.asarray(entered, np.float64) * n / (n + R)
    candidates = {"band": band_u}
    for j in knots_in_reach(n, R, level, target):
        candidates[f"knot {j}"] = knot(n, R, level, j)
    expected = {
        name: expected_kept(u, badness_entered, kept, p, target) for name, u in candidates.items()
    }
    best = max(expected, key=lambda name: (expected[name], name == "band"))
    # the working model is rough (a mixture of overlapping losses misjudges the noise rate):
    # a knot replaces the band only where it is expected to keep clearly more
    if expected[best] < PREFER_KNOT * expected["band"]:
        best = "band"
    return best, candidates[best], expected
