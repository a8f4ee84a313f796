"""Selection precision counted from probes, with no clean training label: for any selection
that keeps the smallest losses of each class, a point estimate and a lower bound at a stated
confidence; and the largest budgets whose bound reaches a target precision.

Probes are drawn like training samples and trained on with labels drawn from T, as the
training labels were; so under class-conditional noise the mislabelled probes of observed class
j are a random sample of the training set's mislabelled samples of observed class j, and their
losses at any epoch a random sample of those samples' losses. Keeping the k smallest training
losses of class j (threshold t) keeps k samples, counted; of those, m_j G_j(t) are mislabelled,
where m_j = n_j (1 - pi_j) is the mislabelled count that T and the prior expect among the n_j
samples labelled j, and G_j(t) the share of mislabelled losses at or below t. The r_j
mislabelled probes, x_j of them at or below t, estimate G_j(t) by x_j / r_j, and
Clopper-Pearson bounds it above at level L, so that

    precision of the k kept >= 1 - m_j U_j(t) / k   (with probability L, for one t).

- global: one ranking; the mislabelled probes of every class pooled (a random sample of all
  mislabelled samples), one bound;
- per-class and RSL (a threshold t_j in each class): the mislabelled probes of all classes are
  again pooled, each counted as kept when its loss is at or below its own class's threshold;
  they are a random sample of all mislabelled samples, each of class j with probability
  m_j / M (M = sum_j m_j), so x of r kept estimates the share of all mislabelled samples that
  the union keeps, and one Clopper-Pearson bound holds for the union. The shape of the
  budgets must not come from the probes that bound them: thresholds fitted class by class to
  a few probes each fall just below those probes, and the count x then misses them (on
  digits, per-class budgets shared out by each class's own probes reached 0.95 in fewer than
  70% of runs at a nominal 90%). So each criterion keeps its own budgets, scaled down by the
  largest factor in (0, 1] whose union bound reaches P: per-class, the clean count T expects
  in each class, n_j pi_j; RSL, its num(i).

The searches scan budgets and keep the largest whose bound reaches P, so the level is nominal:
how often the precision reaches P is measured, not assumed (README;
tests/selection/test_precision_bounds.py under the sampling model). m_j is an expectation, and
the realised count varies around it, which the bound leaves out.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import beta

from theory import precision
from theory.budgets import largest_share, share_count
from theory.validation import check_prior, check_transition, check_unit


def share_upper(x, r: int, level: float | None) -> np.ndarray:
    """Upper bound on a binomial share after ``x`` successes in ``r`` trials: one-sided
    Clopper-Pearson at ``level``; the share itself when ``level`` is None; 1 when r = 0."""
    x = np.asarray(x, dtype=float)
    if r == 0:
        return np.ones_like(x)
    if level is None:
        return x / r
    # Beta(x + 1, r - x) is undefined at x = r, where the bound is 1 anyway
    return np.where(x >= r, 1.0, beta.ppf(level, x + 1, np.maximum(r - x, 1)))


def mislabelled_counts(noisy: np.ndarray, T, prior) -> np.ndarray:
    """m_j: how many of the samples labelled j T and the prior expect to be mislabelled."""
    T = check_transition(T)
    p = check_prior(prior, len(T))
    col = p @ T
    clean_share = np.divide(p * np.diag(T), col, out=np.ones_like(col), where=col > 0)
    return np.bincount(noisy, minlength=len(T)) * (1 - clean_share)


def _largest(bound: np.ndarray, target: float) -> int:
    ok = np.flatnonzero(bound >= target - 1e-12)
    return int(ok[-1]) + 1 if ok.size else 0


class Bounds:
    """One ranking score of the training samples and of the probes, and the mislabelled
    counts T and the prior imply."""

    def __init__(self, scores, noisy, probe_scores, probe_clean, probe_noisy, T, prior):
        self.scores, self.noisy = np.asarray(scores), np.asarray(noisy)
        self.c = len(check_transition(T))
        self.m = mislabelled_counts(self.noisy, T, prior)
        wrong = np.asarray(probe_clean) != np.asarray(probe_noisy)
        probes, labels = np.asarray(probe_scores)[wrong], np.asarray(probe_noisy)[wrong]
        self.pooled = np.sort(probes)
        self.probes = [np.sort(probes[labels == j]) for j in range(self.c)]
        columns = [np.flatnonzero(self.noisy == j) for j in range(self.c)]
        self.sorted = [idx[np.argsort(self.scores[idx], kind="stable")] for idx in columns]
        self.order = np.argsort(self.scores, kind="stable")
        # x_j at each budget k = 1..n_j: mislabelled probes at or below the k-th smallest loss
        self.below = [
            np.searchsorted(self.probes[j], self.scores[idx], side="right")
            for j, idx in enumerate(self.sorted)
        ]

    def global_curves(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """(point, bound) of the precision of the k smallest of all, k = 1..n."""
        x = np.searchsorted(self.pooled, self.scores[self.order], side="right")
        k = np.arange(1, x.size + 1)
        m, r = self.m.sum(), self.pooled.size
        return 1 - m * share_upper(x, r, None) / k, 1 - m * share_upper(x, r, level) / k

    def union(self, ks, level: float | None) -> tuple[float | None, float | None]:
        """(point, bound) of the precision of the k_j smallest of each class together; the
        bound is None without a ``level``, and both are None when nothing is kept."""
        kept = int(np.sum(ks))
        if kept == 0:
            return None, None
        x = sum(int(self.below[j][k - 1]) for j, k in enumerate(ks) if k)
        M, r = self.m.sum(), self.pooled.size
        point = float(1 - M * share_upper(x, r, None) / kept)
        if level is None:
            return point, None
        return point, float(1 - M * share_upper(x, r, level) / kept)

    def of_selection(self, mask, level: float | None = None) -> tuple:
        """(point, bound) of any selection that keeps, in each class, the smallest scores (a
        global or per-class threshold); the bound is None without a ``level``."""
        ks = np.bincount(self.noisy[np.asarray(mask, bool)], minlength=self.c)
        return self.union(ks, level)

    def global_(self, target: float, level: float) -> dict:
        point, bound = self.global_curves(level)
        k = _largest(bound, target)
        mask = np.zeros(self.scores.size, bool)
        mask[self.order[:k]] = True
        return {
            "mask": mask,
            "budgets": k,
            "predicted_precision": float(point[k - 1]) if k else None,
            "precision_bound": float(bound[k - 1]) if k else None,
        }

    def scaled(self, shares: np.ndarray, target: float, level: float) -> dict:
        """``shares`` of each class scaled by the largest factor in (0, 1] whose union bound
        reaches ``target``."""
        sizes = np.array([idx.size for idx in self.sorted])

        def counts(scale):
            return share_count(scale * shares, sizes)

        def bound(scale):
            return self.union(counts(scale), level)[1]

        return self._kept(counts(largest_share(bound, target)), level)

    def _kept(self, ks, level: float) -> dict:
        mask = np.zeros(self.scores.size, bool)
        for j, k in enumerate(ks):
            mask[self.sorted[j][:k]] = True
        point, bound = self.union(ks, level)
        return {
            "mask": mask,
            "budgets": [int(k) for k in ks],
            "predicted_precision": point,
            "precision_bound": bound,
        }


def target_selections(last: Bounds, mean: Bounds, T, prior, target: float, level: float) -> dict:
    """``--keep target:P --confidence L``: for each loss criterion, the selection whose
    precision is at least P with (nominal) confidence L, by the probes' counts: global and
    per-class on ``last`` (the last epoch's losses), RSL on ``mean`` (the epoch-mean loss)."""
    target = check_unit(target, "target precision")
    level = check_unit(level, "--confidence")
    T, p = check_transition(T), check_prior(prior, len(T))
    return {
        "global": last.global_(target, level),
        "classwise": last.scaled(precision._oracle_fractions(T, p), target, level),
        "rsl": mean.scaled(precision._rsl_fractions(T, p), target, level),
    }


def global_bound(last: Bounds, kept: int, level: float) -> dict:
    """Point estimate and bound of the precision of the ``kept`` smallest losses of all (e.g.
    Co-teaching's forget rate)."""
    if kept == 0:
        return {"predicted_precision": None, "precision_bound": None}
    point, bound = last.global_curves(level)
    return {
        "predicted_precision": float(point[kept - 1]),
        "precision_bound": float(bound[kept - 1]),
    }
