"""Confident learning's population rule, for any model whose outputs can be integrated.

Confident learning compares coordinates of g(x) instead of ranking one: with thresholds
``t_j = E[g_j(x) | noisy = j]``, a sample labelled j is dropped when its largest
above-threshold coordinate is another class. Its precision therefore depends on the joint law
of the whole output vector, not on the loss laws.

Each true class i is represented by weighted points: weights ``w`` (summing to 1), the
probability ``L[m, j]`` that the point is labelled j (``T[i, j]`` under class-conditional
noise, ``t(x, i)_j`` under instance noise) and the output ``G[m]``. Points come from fixed
quasi-Monte Carlo rules (no sampling): Sobol points pushed through the Dirichlet's gamma
quantiles (perturbed model) or the Gaussian classes (overlap model).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from theory.losses import overlap_points, qmc_points_for


def _thresholds(points, p) -> np.ndarray:
    """``t_j = E[g_j(x) | noisy = j]`` (inf for a class nothing is labelled)."""
    c = len(p)
    num, den = np.zeros(c), np.zeros(c)
    for i, (w, L, G) in enumerate(points):
        num += p[i] * (w[:, None] * L * G).sum(axis=0)
        den += p[i] * (w[:, None] * L).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.inf)


def confident_kept(points, p) -> tuple[np.ndarray, np.ndarray]:
    """(kept, mass): the expected kept and total mass of every (true, noisy) cell.

    ``points[i] = (w, L, G)`` for true class i; ``p``: the clean prior."""
    c = len(p)
    t = _thresholds(points, p)
    kept, mass = np.zeros((c, c)), np.zeros((c, c))
    for i, (w, L, G) in enumerate(points):
        above = t <= G
        star = np.where(above.any(axis=1), np.where(above, G, -1.0).argmax(axis=1), -1)
        keep = (star[:, None] < 0) | (star[:, None] == np.arange(c))
        mass[i] = p[i] * (w[:, None] * L).sum(axis=0)
        kept[i] = p[i] * (w[:, None] * L * keep).sum(axis=0)
    return kept, mass


FUZZ = 1e-6  # cleanlab's slack in its threshold test and in its prediction == label test


def cleanlab_kept(points, p) -> tuple[np.ndarray, np.ndarray]:
    """(kept, mass) of cleanlab's default ``find_label_issues`` (``prune_by_noise_rate``) in
    the population, read from cleanlab 2.x:

    1. the confident joint: a sample counts in (noisy k, guess j) when some coordinate reaches
       its threshold (up to ``FUZZ``), j being that coordinate, or the argmax of g when
       several do; each noisy row is rescaled to the mass of its noisy class;
    2. for each noisy class k and each j != k, the samples labelled k with the largest margin
       ``g_j - g_k`` are flagged, as much mass as the rescaled joint puts at (k, j);
    3. a sample whose argmax (with ``FUZZ`` added to its label's coordinate) is its label is
       never flagged.
    A flag that splits a point (several samples at one value) takes the needed part of it;
    a point flagged for several j counts its largest part (the flagged sets are nested).
    """
    c = len(p)
    t = _thresholds(points, p)
    joint, mass = np.zeros((c, c)), np.zeros((c, c))
    for i, (w, L, G) in enumerate(points):
        sure = t - FUZZ <= G
        several = sure.sum(axis=1) > 1
        guess = np.where(several, G.argmax(axis=1), sure.argmax(axis=1))
        seen = sure.any(axis=1)
        wl = p[i] * w[:, None] * L
        mass[i] = wl.sum(axis=0)
        for k in range(c):
            joint[k] += np.bincount(guess[seen], wl[seen, k], minlength=c)
    row_mass = joint.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        prune = np.where(row_mass > 0, joint / row_mass, 0.0) * mass.sum(axis=0)[:, None]
    owner = np.concatenate([np.full(len(w), i) for i, (w, _, _) in enumerate(points)])
    GT = np.concatenate([G for _, _, G in points]).T.copy()  # rows: classes, contiguous
    weight = np.concatenate([p[i] * w[:, None] * L for i, (w, L, _) in enumerate(points)])
    kept = np.zeros((c, c))
    for k in range(c):
        rows = np.flatnonzero(weight[:, k] > 0)
        if rows.size == 0:
            continue
        g = GT if rows.size == GT.shape[1] else GT[:, rows]
        wk = weight[rows, k]
        unit = float(np.median(wk))  # most flagged points are noisy ones, the lighter kind
        flagged = np.zeros(rows.size)
        for j in np.flatnonzero(prune[k] > 0):
            if j != k:
                share = _top_mass(g[j] - g[k], wk, prune[k, j], unit)
                np.maximum(flagged, share, out=flagged)
        # argmax with FUZZ added at k is k: no earlier class above g_k + FUZZ, no later one
        # at or above it
        lead = g[k] + FUZZ
        own = np.ones(rows.size, dtype=bool)
        if k > 0:
            own &= g[:k].max(axis=0) < lead
        if k < c - 1:
            own &= g[k + 1 :].max(axis=0) <= lead
        flagged[own] = 0.0
        kept[:, k] = np.bincount(owner[rows], wk * (1.0 - flagged), minlength=c)
    return kept, mass


def _top_mass(score, weight, need, unit) -> np.ndarray:
    """The share of each point flagged when the ``need`` heaviest-scoring mass is taken in the
    order of a stable sort, largest first. Only the points scoring at or above the ``r``-th
    largest score are sorted (ties at that score included, so they are a prefix of the stable
    order), ``r`` doubling (from twice ``need / unit``) until they hold ``need``. Ties are the
    rule, not the exception: the classes other than j and k share one Sobol rule, so each of
    them repeats the same margins g_j - g_k."""
    out = np.zeros(score.size)
    r = 2 * int(np.ceil(need / unit)) + 16
    while True:
        if r >= score.size:
            top = np.argsort(-score, kind="stable")
        else:
            kth = -np.partition(-score, r - 1)[r - 1]
            top = np.flatnonzero(score >= kth)
            top = top[np.lexsort((top, -score[top]))]
        before = np.cumsum(weight[top]) - weight[top]
        if r >= score.size or before[-1] + weight[top[-1]] >= need:
            break
        r *= 2
    out[top] = np.clip((need - before) / weight[top], 0.0, 1.0)
    return out


def perturbed_points(T, eps: float, alpha: float, points: int | None = None) -> list:
    """``g = (1 - eps) T[i] + eps D``, ``D ~ Dirichlet(alpha 1_c)``, on one Sobol rule."""
    c = len(T)
    m = qmc_points_for(c) if points is None else points
    u = stats.qmc.Sobol(d=c, scramble=True, seed=0).random(m)
    g = stats.gamma.ppf(np.clip(u, 1e-12, 1 - 1e-12), alpha)
    D = g / g.sum(axis=1, keepdims=True)
    w = np.full(m, 1.0 / m)
    return [(w, np.broadcast_to(T[i], (m, c)), (1 - eps) * T[i] + eps * D) for i in range(c)]


def overlap_class_points(T, separation: float, prior, points: int | None = None) -> list:
    """``g = T^T q(x)`` at the Sobol points of each Gaussian class."""
    c = len(T)
    m = qmc_points_for(c) if points is None else points
    w = np.full(m, 1.0 / m)
    out = []
    for i in range(c):
        _, q = overlap_points(c, separation, prior, i, m)
        out.append((w, np.broadcast_to(T[i], (m, c)), q @ T))
    return out
