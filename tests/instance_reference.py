"""Straight NumPy ports of the three instance-dependent noise recipes, written from their
published descriptions (theory/README.md, "Noise models"), not from the generators."""

from __future__ import annotations

import numpy as np
from scipy import stats


def part_dependent(X, y, rate, W, rng, sd=0.1):
    n, c = len(y), W.shape[2]
    q = stats.truncnorm.rvs(
        (0 - rate) / sd, (1 - rate) / sd, loc=rate, scale=sd, size=n, random_state=rng
    )
    a = np.empty((n, c))
    for k in range(c):
        mine = y == k
        a[mine] = X[mine] @ W[k]
    a[np.arange(n), y] = -np.inf
    p = np.exp(a - a.max(axis=1, keepdims=True))
    p = q[:, None] * p / p.sum(axis=1, keepdims=True)
    p[np.arange(n), y] += 1 - q
    u = rng.random(n)
    return np.minimum((u[:, None] >= np.cumsum(p, axis=1)).sum(axis=1), c - 1)


def pmd(eta, kind, factor, rng):
    order = np.argsort(-eta, axis=1)
    u, s = order[:, 0], order[:, 1]
    d = eta[np.arange(len(eta)), u] - eta[np.arange(len(eta)), s]
    h = {1: d**2 / 2 + 0.5, 2: d**3, 3: (d**3 + d**2 + d) / 3}[kind]
    return np.where(rng.random(len(eta)) < h / factor, u, s)


def margin(S, y, rate):
    others = S.astype(np.float64).copy()
    others[np.arange(len(y)), y] = -np.inf
    score, target = others.max(axis=1), others.argmax(axis=1)
    flip = np.argsort(-score, kind="stable")[: int(round(rate * len(y)))]
    out = y.copy()
    out[flip] = target[flip]
    return out


def realised(clean, noisy, c):
    T = np.zeros((c, c))
    np.add.at(T, (clean, noisy), 1)
    return T / T.sum(axis=1, keepdims=True)
