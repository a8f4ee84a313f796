"""Selection precision counted from probes, with no clean training label and no T: for any
selection that keeps the smallest scores of each class, a point estimate, an interval and a
lower bound at a stated confidence; and the largest budgets whose bound reaches a target
precision, with a confidence that holds after that search.

Probes are samples drawn like the training samples, labelled by the same noisy process and
trained on with them, so that together with the n training samples they form n + R
exchangeable items, R of them probes (the exchangeable model). For a threshold on each
class's scores that does not depend on which items are probes, let S be the number of items,
probes and training samples alike, that are mislabelled and at or below their class's
threshold. The probes among them, y, are a draw of R from n + R without replacement:
``y ~ Hypergeom(n + R, S, R)``; the mislabelled training samples kept are ``N = S - y``, so

    N_hat = y n / R,   and   N <= S_up(y) - y   with probability 1 - a,

where ``S_up(y)`` is the largest S at which seeing y or fewer has probability at least a. The
precision of the k kept is ``1 - N / k``. The counting needs neither T nor the mislabelled
count: the probes' own share of mislabelled samples carries it, and the count N is the
realised one. What it does need is exchangeability: the probes a uniformly random part of the
pool, with the training set's clean-class prior (a stratified split gives it; ``analyse``
warns when the probes' observed labels are distributed unlike the training samples'), and
labelled by the true noise process (real annotations, or T's draw when the noise is truly
class-conditional: probes labelled from a class-level T under instance-dependent noise are
mislabelled unlike the training samples, and the bounds then fail).

Choosing the largest budget whose bound reaches P is a search over many thresholds, and a
bound valid at one threshold is biased low at the one the search picks (it sits just below
the next mislabelled probe). So the target search uses a band that holds at every threshold
of a nested family at once: order the mislabelled items by the smallest budget that keeps
them; the number of training samples among them before the (j + 1)-th probe, W_j, is the
number of failures before the (j + 1)-th success of draws with success share p = R / (n + R)
(``nbinom``; the family-wise error under sampling without replacement, the exchangeable
model's own, is checked exactly in the tests at the worst case, every item mislabelled, and
stays at or below the level there). With ``u_j`` its quantile at one
local level for every j, ``P(W_j > u_j for some j <= J) = a`` is solved for the local level by
running the walk exactly (``_crossing``), and ``N <= u_y`` then holds for every member of the
family together. J is the largest count at which a bound could still reach P. Families:

- global: one ranking of all training samples; every threshold;
- per-class and RSL: a share of each class (its own budgets' shape) scaled by one factor;
  the thresholds are quantiles of each class's training and probe scores pooled, so the
  family does not depend on which items are probes (one band on the union's counts: the
  union's precision is bounded, not each class's). The shares must not read a probe's
  label: ``analyse`` gives every class one share where T came from the probes' pairs
  (measured, T's shares from those pairs broke the level).

The envelope the search uses is the band or one knot (``envelope``), chosen from the pooled
scores without their labels.

The count predictions at given budgets (``predict``, ``Counts.of_budgets``) put each class's
threshold at its k-th smallest training score, which depends a little on which items are
probes: a probe just above the last kept training sample is left out, so y is biased low by
about R / n of a probe near each cut. Small where R is far below n; the target search, whose
family is pooled quantiles, is free of it.

Each criterion's bound and each target is valid at level L on its own: picking the
best-looking of several afterwards is not covered.

The guarantee is over the draw of the probes: with probability at least L, the kept set
is empty or its precision reaches P. A run that keeps nothing makes no claim; among the
runs that do keep something the share that reach P can be lower when keeping is rare (the
bound is as tight as the probes allow, and where they barely allow a budget, the budget
sits near P). tests/selection/test_bounds.py measures both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter
from scipy.stats import hypergeom, nbinom

from simulations.selection import envelope
from theory.budgets import share_count
from theory.errors import InputError
from theory.validation import check_unit

ENVELOPES = ("design", "band")  # the target search's envelopes: chosen per run, or the band
SCALE_GRID = 1024  # scales of the per-class family the target search visits
# of the local level, each halving its log-range log(2 J): after 16 the two ends differ by a
# factor below 1.0002 at J = 500, less than one count of any bound
_BISECTIONS = 16
_bands: dict = {}


def _check_counts(n: int, R: int) -> None:
    if n < 1 or R < 1:
        raise InputError(f"counting needs training samples and probes; got n = {n}, R = {R}")


def bad_upper(y, n: int, R: int, alpha: float) -> np.ndarray:
    """Upper bound on the mislabelled training samples kept, one-sided at level ``1 - alpha``.

    Parameters
    ----------
    y : int or array of int
        Mislabelled probes kept by the same thresholds.
    n, R : int
        Training samples and probes.
    alpha : float
        Error probability of the bound, in (0, 1).

    Returns
    -------
    ndarray of int64, shape of ``y``: ``S_up(y) - y`` (see the module).
    """
    _check_counts(n, R)
    y = np.asarray(y, dtype=np.int64)
    lo, hi = y.copy(), n + y  # S holds y probes and at most all n training samples
    while np.any(hi > lo):
        mid = (lo + hi + 1) // 2
        ok = hypergeom.cdf(y, n + R, mid, R) >= alpha
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid - 1)
    return lo - y


def bad_lower(y, n: int, R: int, alpha: float) -> np.ndarray:
    """Lower bound on the mislabelled training samples kept, one-sided at level ``1 - alpha``:
    ``S_low(y) - y``, the smallest S at which seeing y or more has probability at least
    ``alpha``, less y (0 when y = 0)."""
    _check_counts(n, R)
    y = np.asarray(y, dtype=np.int64)
    lo, hi = y.copy(), n + y
    while np.any(hi > lo):
        mid = (lo + hi) // 2
        ok = hypergeom.sf(y - 1, n + R, mid, R) >= alpha
        lo, hi = np.where(ok, lo, mid + 1), np.where(ok, mid, hi)
    return lo - y


def _crossing(u: np.ndarray, p: float) -> float:
    """``P(W_j > u_j for some j)``, W_j the failures before success j + 1 of Bernoulli(p).

    Each step adds a geometric count, and convolving with ``p (1 - p)^k`` is the recurrence
    ``out[k] = (1 - p) out[k - 1] + p in[k]`` (``lfilter``): linear in the support, where an
    FFT convolution costs its log too and ran 150 s for one band at n = 10^6, R = 5,000."""
    bounds_ = np.asarray(u, dtype=np.int64)
    alive = np.zeros(int(bounds_[-1]) + 1)
    alive[0] = 1.0
    for uj in bounds_:
        alive[: uj + 1] = lfilter([p], [1.0, p - 1.0], alive[: uj + 1])
        alive[uj + 1 :] = 0.0
    return float(1.0 - alive.sum())


def band(n: int, R: int, level: float, target: float) -> np.ndarray:
    """Simultaneous bound ``u`` (float64, shape (J,)): with probability ``level``, every member
    of a nested family that keeps y < J mislabelled probes keeps at most ``u[y]`` mislabelled
    training samples; J is the largest y whose bound could still let precision reach
    ``target`` (0: nothing can be certified)."""
    _check_counts(n, R)
    key = (n, R, level, target)
    if key in _bands:
        return _bands[key]
    alpha, p = 1.0 - level, R / (n + R)
    room = (1.0 - target) * n  # the most mislabelled samples a kept set of at most n can hold
    pointwise = nbinom.ppf(level, np.arange(1, R + 2), p)
    # with y = R there is no next probe to bound the walk by
    J = min(int(np.searchsorted(pointwise, room, side="right")), R)
    if J == 0:
        u = np.zeros(0)
    else:
        js = np.arange(1, J + 1)
        lo, hi = alpha / (2 * J), alpha  # Bonferroni's local level is safe; alpha is not
        for _ in range(_BISECTIONS):
            if np.array_equal(nbinom.ppf(1 - lo, js, p), nbinom.ppf(1 - hi, js, p)):
                break  # the counts are whole: both ends give the same band
            mid = np.sqrt(lo * hi)
            lo, hi = (mid, hi) if _crossing(nbinom.ppf(1 - mid, js, p), p) <= alpha else (lo, mid)
        u = nbinom.ppf(1 - lo, js, p)
    _bands[key] = u
    return u


@dataclass(frozen=True)
class CountPrediction:
    """The precision of a kept set, counted from the probes the same rule keeps."""

    point: float | None  # 1 - N_hat / k; None when nothing is kept
    low: float | None  # two-sided interval at ``level``
    high: float | None
    bound: float | None  # one-sided lower bound at ``confidence`` (None without one)
    kept_bad_probes: int  # y: mislabelled probes the rule keeps
    bad_probes: int  # mislabelled probes in all


def predict(
    kept: int,
    y: int,
    n: int,
    R: int,
    bad_probes: int,
    level: float = 0.9,
    confidence: float | None = None,
) -> CountPrediction:
    """The precision of ``kept`` training samples when the same rule keeps ``y`` of the
    mislabelled probes, with its interval at ``level`` and its bound at ``confidence``.

    Parameters
    ----------
    kept, y : int
        Training samples kept, and mislabelled probes the same rule keeps.
    n, R, bad_probes : int
        Training samples, probes, and mislabelled probes.
    level : float
        Of the two-sided interval, in (0, 1).
    confidence : float or None
        Of the one-sided lower bound.
    """
    if kept == 0:
        return CountPrediction(None, None, None, None, int(y), int(bad_probes))
    tail = (1.0 - check_unit(level, "level")) / 2
    high_bad, low_bad = bad_upper(y, n, R, tail), bad_lower(y, n, R, tail)
    bound = None
    if confidence is not None:
        bound = max(0.0, 1.0 - float(bad_upper(y, n, R, 1.0 - confidence)) / kept)
    return CountPrediction(
        max(0.0, 1.0 - y * n / R / kept),
        max(0.0, 1.0 - float(high_bad) / kept),
        min(1.0, 1.0 - float(low_bad) / kept),
        bound,
        int(y),
        int(bad_probes),
    )


class Counts:
    """One score per training sample and per probe, for selections that keep the smallest
    scores of each observed class.

    Parameters
    ----------
    scores : (n,) float
        Training samples' scores (a loss at one epoch, or the epoch-mean loss).
    noisy : (n,) int
        Their observed labels.
    probe_scores : (R,) float
    probe_clean, probe_noisy : (R,) int
        The probes' scores and their clean and observed labels.
    classes : int
    """

    def __init__(self, scores, noisy, probe_scores, probe_clean, probe_noisy, classes: int):
        self.scores, self.noisy = np.asarray(scores), np.asarray(noisy)
        self.probe_scores = np.asarray(probe_scores)
        self.probe_noisy = np.asarray(probe_noisy)
        self.bad = np.asarray(probe_clean) != self.probe_noisy
        self.c, self.n, self.R = classes, self.scores.size, self.probe_scores.size
        self.sorted = [np.sort(self.scores[self.noisy == j]) for j in range(classes)]
        self.bad_sorted = [
            np.sort(self.probe_scores[self.bad & (self.probe_noisy == j)]) for j in range(classes)
        ]
        self.order = [
            np.flatnonzero(self.noisy == j)[np.argsort(self.scores[self.noisy == j], kind="stable")]
            for j in range(classes)
        ]
        self._badness = None

    def _working(self) -> tuple[np.ndarray, np.ndarray]:
        """The working model's chance that each training sample and each probe is
        mislabelled (``envelope.working_badness`` on the pooled scores), fitted once."""
        if self._badness is None:
            both = envelope.working_badness(np.concatenate([self.scores, self.probe_scores]))
            self._badness = both[: self.n], both[self.n :]
        return self._badness

    def _envelope(self, target, confidence, how, pooled_badness_entered, entered):
        u = band(self.n, self.R, confidence, target)
        if how == "band":
            return "band", u
        name, u, _ = envelope.design(
            self.n, self.R, confidence, target, pooled_badness_entered, entered, u
        )
        return name, u

    @property
    def bad_probes(self) -> int:
        return int(self.bad.sum())

    def _kept_bad(self, thresholds) -> np.ndarray:
        """Mislabelled probes at or below their class's threshold; thresholds (..., c)."""
        t = np.asarray(thresholds, dtype=np.float64)
        return sum(
            np.searchsorted(self.bad_sorted[j], t[..., j], side="right") for j in range(self.c)
        )

    def _thresholds(self, ks) -> np.ndarray:
        return np.array([self.sorted[j][k - 1] if k > 0 else -np.inf for j, k in enumerate(ks)])

    def of_budgets(self, ks, level: float = 0.9, confidence: float | None = None):
        """``predict`` for the ``ks[j]`` smallest scores of each class j together."""
        ks = np.asarray(ks, dtype=np.int64)
        y = int(self._kept_bad(self._thresholds(ks)))
        return predict(int(ks.sum()), y, self.n, self.R, self.bad_probes, level, confidence)

    def of_selection(self, mask, level: float = 0.9, confidence: float | None = None):
        """``of_budgets`` of a selection that keeps the smallest scores of each class."""
        return self.of_budgets(
            np.bincount(self.noisy[np.asarray(mask, bool)], minlength=self.c), level, confidence
        )

    def _kept(self, ks) -> np.ndarray:
        mask = np.zeros(self.n, bool)
        for j, k in enumerate(ks):
            mask[self.order[j][:k]] = True
        return mask

    def largest_global(self, target: float, confidence: float, how: str = "design") -> dict:
        """The largest number of smallest scores of all whose simultaneous bound reaches
        ``target``; every threshold is a member of the family. ``how``: ``design`` (the
        envelope ``envelope.design`` picks) or ``band``."""
        name, u = "band", None
        if how == "band":
            u = band(self.n, self.R, confidence, target)
        else:
            bad_t, bad_p = self._working()
            pooled = np.concatenate([self.scores, self.probe_scores])
            by = np.argsort(pooled, kind="stable")
            entered = np.cumsum(np.concatenate([bad_t, bad_p])[by])
            name, u = self._envelope(
                target, confidence, how, entered, np.arange(1, pooled.size + 1)
            )
        order = np.argsort(self.scores, kind="stable")
        bad = np.sort(np.concatenate(self.bad_sorted))
        y = np.searchsorted(bad, self.scores[order], side="right")
        kept = _largest(y, np.arange(1, self.n + 1), u, target)
        ks = np.bincount(self.noisy[order[:kept]], minlength=self.c)
        mask = np.zeros(self.n, bool)
        mask[order[:kept]] = True
        return self._row(mask, ks, kept, u, y[kept - 1] if kept else 0, name)

    def largest_scaled(self, shares, target: float, confidence: float, how: str = "design"):
        """``shares`` of each class's pooled scores scaled by the largest factor whose
        simultaneous bound reaches ``target`` (on a grid of ``SCALE_GRID`` factors); ``how``
        as in ``largest_global``."""
        scales = np.linspace(1.0, SCALE_GRID, SCALE_GRID) / SCALE_GRID
        thresholds = np.full((SCALE_GRID, self.c), -np.inf)
        ks = np.zeros((SCALE_GRID, self.c), np.int64)
        entered = np.zeros(SCALE_GRID)
        bad_entered = np.zeros(SCALE_GRID)
        if how != "band":
            bad_t, bad_p = self._working()
        for j in range(self.c):
            in_t, in_p = self.noisy == j, self.probe_noisy == j
            pooled = np.concatenate([self.scores[in_t], self.probe_scores[in_p]])
            by = np.argsort(pooled, kind="stable")
            pooled = pooled[by]
            m = share_count(scales * shares[j], pooled.size)
            thresholds[:, j] = np.where(m > 0, pooled[np.maximum(m - 1, 0)], -np.inf)
            ks[:, j] = np.searchsorted(self.sorted[j], thresholds[:, j], side="right")
            entered += m
            if how != "band":
                cum = np.concatenate(
                    [[0.0], np.cumsum(np.concatenate([bad_t[in_t], bad_p[in_p]])[by])]
                )
                bad_entered += cum[m]
        name, u = self._envelope(target, confidence, how, bad_entered, entered)
        y = self._kept_bad(thresholds)
        kept = ks.sum(1)
        g = _largest(y, kept, u, target) - 1
        chosen = ks[g] if g >= 0 else np.zeros(self.c, np.int64)
        return self._row(
            self._kept(chosen), chosen, int(chosen.sum()), u, y[g] if g >= 0 else 0, name
        )

    def _row(self, mask, ks, kept: int, u, y, envelope_name: str = "band") -> dict:
        point = bound = None
        if kept:
            point = max(0.0, 1.0 - int(y) * self.n / self.R / kept)
            bound = max(0.0, 1.0 - float(u[int(y)]) / kept)
        return {
            "mask": mask,
            "budgets": [int(k) for k in ks],
            "predicted_precision": point,
            "precision_bound": bound,
            "envelope": envelope_name,
        }


def _largest(y: np.ndarray, kept: np.ndarray, u: np.ndarray, target: float) -> int:
    """1 + the last position of a family (its kept counts ``kept`` and mislabelled probes
    ``y``, in order) whose simultaneous bound ``1 - u[y] / kept`` reaches ``target``; 0 when
    none does."""
    if u.size == 0:
        return 0
    bound = 1.0 - u[np.minimum(y, u.size - 1)] / np.maximum(kept, 1)
    ok = np.flatnonzero((y < u.size) & (kept > 0) & (bound >= target - 1e-12))
    return int(ok[-1]) + 1 if ok.size else 0
