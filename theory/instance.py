"""Instance-dependent noise in the overlap model: per-cell loss laws, ``T_bar`` and how many
samples have a transition row of their own that is not dominant.

In the overlap model (classes ``N(s e_k, I)``, posterior ``q(x)``), each recipe's transition
row ``t(x, i) = P(noisy = . | x, clean = i)`` is a known function of x:

- part-dependent: ``(1 - E q) e_i + E q softmax_{k != i}(x @ W[i])``, ``E q`` the mean of
  ``N(rate, sd^2)`` cut to [0, 1];
- pmd-k: ``(h/f) e_u + (1 - h/f) e_s`` (u, s the top two classes of q(x), whatever i);
- margin: ``e_{argmax_{k != i} q_k}`` where ``max_{k != i} q_k`` reaches the threshold (the
  smallest score the rule flipped), else ``e_i``.

The model output is the noisy-label posterior ``g(x) = sum_k q_k(x) t(x, k)``, and the law of
cell (i, j) is that of ``-log g_j(x)`` over class i weighted by ``t(x, i)_j``. The integral
over x uses the same fixed scrambled Sobol rule as ``losses`` (deterministic: no sampling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from theory.errors import InputError
from theory.losses import (
    Empirical,
    LossDistribution,
    overlap_points,
    qmc_points_for,
    smooth_laws,
)
from theory.validation import check_classes, check_prior, check_unit

KINDS = (1, 2, 3)


def pmd_h(delta, kind: int) -> np.ndarray:
    """PMD's ``h(D)`` of type 1, 2 or 3 (Zhang et al. 2021)."""
    if kind not in KINDS:
        raise InputError(f"unknown PMD type {kind!r}; choose 1, 2 or 3")
    d = np.abs(np.asarray(delta, dtype=np.float64))
    if kind == 1:
        return np.maximum(d**2 / 2 + 0.5, 0.5)
    if kind == 2:
        return d**3
    return (d**3 + d**2 + d) / 3


def pmd_factor(h, is_top, is_second, rate: float, kind: int = 1) -> float:
    """The factor f whose PMD noise has mean flip rate ``rate`` on these samples.

    A sample of clean class y keeps it with probability ``h/f`` if y is the top class, ``1 - h/f``
    if y is the second, 0 otherwise; the mean flip rate ``1 - E[s] - E[(top - second) h] / f``
    is linear in 1/f, and ``h/f <= 1`` bounds 1/f above."""
    h = np.asarray(h, dtype=np.float64)
    top, second = np.asarray(is_top, bool), np.asarray(is_second, bool)
    lift = (h[top].sum() - h[second].sum()) / h.size
    return factor_from_means(second.mean(), lift, float(h.max()), rate, kind)


def factor_from_means(second: float, lift: float, h_max: float, rate: float, kind: int) -> float:
    """``pmd_factor`` from ``E[s]``, ``E[(top - second) h]`` and ``max h``."""
    rate = check_unit(rate)
    top = 1.0 / max(h_max, 1e-300)
    low, high = sorted((1.0 - second - lift * top, 1.0 - second))
    if lift <= 0 or not low - 1e-12 <= rate <= high:
        raise InputError(
            f"pmd-{kind} reaches noise rates in [{low:.3f}, {high:.3f}] here, not {rate:g}"
        )
    inverse = min(max((1.0 - second - rate) / lift, 0.0), top)
    return 1.0 / inverse if inverse > 0 else float("inf")


def truncated_mean(rate: float, sd: float) -> float:
    """Mean of ``N(rate, sd^2)`` cut to [0, 1]: the expected flip rate of part-dependent noise."""
    a, b = (0.0 - rate) / sd, (1.0 - rate) / sd
    return float(stats.truncnorm.mean(a, b, loc=rate, scale=sd))


def rows(noise: str, x, q, i: int, params: dict) -> np.ndarray:
    """``t(x, i)`` per point: (points, c)."""
    n, c = q.shape
    out = np.zeros((n, c))
    if noise == "part-dependent":
        a = x @ params["W"][i]
        a[:, i] = -np.inf
        soft = np.exp(a - a.max(axis=1, keepdims=True))
        soft /= soft.sum(axis=1, keepdims=True)
        mean_q = truncated_mean(params["rate"], params["sd"])
        out = mean_q * soft
        out[:, i] += 1.0 - mean_q
        return out
    if noise.startswith("pmd-"):
        order = np.argsort(-q, axis=1, kind="stable")
        u, s = order[:, 0], order[:, 1]
        keep = pmd_h(q[np.arange(n), u] - q[np.arange(n), s], int(noise[-1])) / params["factor"]
        out[np.arange(n), u] += keep
        out[np.arange(n), s] += 1.0 - keep
        return out
    if noise == "margin":
        others = q.copy()
        others[:, i] = -np.inf
        best = others.argmax(axis=1)
        flip = others[np.arange(n), best] >= params["threshold"]
        out[np.arange(n), np.where(flip, best, i)] = 1.0
        return out
    raise InputError(f"unknown instance noise {noise!r}")


@dataclass
class InstanceLaws:
    laws: list[list[LossDistribution | None]]
    T_bar: np.ndarray  # P(noisy = j | clean = i) under the rule
    non_dominant_share: float  # share of samples whose own row t(x, y) is not row dominant
    points: list  # per true class (weights, label probabilities t(x, i), outputs g(x))


def overlap_laws(
    classes,
    noise: str,
    params: dict,
    *,
    separation: float,
    prior=None,
    sd: float = 0.0,
    points: int | None = None,
) -> InstanceLaws:
    """Cell laws of the overlap model under one instance-dependent noise (see the module)."""
    c = check_classes(classes)
    p = check_prior(prior, c)
    points = qmc_points_for(c) if points is None else points
    xs, qs, ts = [], [], []
    for i in range(c):
        x, q = overlap_points(c, separation, p, i, points)
        xs.append(x)
        qs.append(q)
    for i in range(c):
        ts.append([rows(noise, xs[i], qs[i], k, params) for k in range(c)])
    laws: list[list[LossDistribution | None]] = [[None] * c for _ in range(c)]
    T_bar = np.zeros((c, c))
    non_dominant = 0.0
    class_points = []
    for i in range(c):
        g = sum(qs[i][:, [k]] * ts[i][k] for k in range(c))  # noisy posterior at class i's points
        own = ts[i][i]
        class_points.append((np.full(points, 1.0 / points), own, g))
        T_bar[i] = own.mean(axis=0)
        others = np.delete(own, i, axis=1).max(axis=1)
        non_dominant += p[i] * float(np.mean(own[:, i] <= others))
        with np.errstate(divide="ignore"):
            loss = -np.log(g)
        for j in range(c):
            w = own[:, j]
            if w.sum() > 0:
                laws[i][j] = Empirical(loss[w > 0, j], w[w > 0])
    return InstanceLaws(smooth_laws(laws, sd), T_bar, non_dominant, class_points)
