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


def confident_kept(points, p) -> tuple[np.ndarray, np.ndarray]:
    """(kept, mass): the expected kept and total mass of every (true, noisy) cell.

    ``points[i] = (w, L, G)`` for true class i; ``p``: the clean prior."""
    c = len(p)
    num, den = np.zeros(c), np.zeros(c)
    for i, (w, L, G) in enumerate(points):
        num += p[i] * (w[:, None] * L * G).sum(axis=0)
        den += p[i] * (w[:, None] * L).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(den > 0, num / den, np.inf)
    kept, mass = np.zeros((c, c)), np.zeros((c, c))
    for i, (w, L, G) in enumerate(points):
        above = t <= G
        star = np.where(above.any(axis=1), np.where(above, G, -1.0).argmax(axis=1), -1)
        keep = (star[:, None] < 0) | (star[:, None] == np.arange(c))
        mass[i] = p[i] * (w[:, None] * L).sum(axis=0)
        kept[i] = p[i] * (w[:, None] * L * keep).sum(axis=0)
    return kept, mass


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
