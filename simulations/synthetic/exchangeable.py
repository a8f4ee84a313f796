"""Training samples and probes drawn alike (the exchangeable model that the probe counts of
``simulations.selection.bounds`` assume), for checking a confidence level by sampling: losses
over epochs, lognormal per cell and larger where the label is wrong; or scores that say
nothing about the labels, where no kept set beats the noise rate (the case a search over
budgets gets wrong most easily)."""

from __future__ import annotations

import numpy as np

from simulations.synthetic import generate
from theory import noise


def lognormal_losses(seed: int, n: int, probes: int, T, prior, epochs: int = 3):
    """(L, clean, noisy, probe_L, probe_clean, probe_noisy): n training samples and ``probes``
    probes, losses (·, epochs) float32 with median 0.2 where the label is right and 0.7 where
    it is wrong (times 1 + 0.1 clean class), log-sd 0.8."""
    rng = np.random.default_rng(seed)
    c = len(T)
    clean = rng.choice(c, n + probes, p=prior)
    noisy = generate.noisy_labels(clean, T, seed + 1).astype(np.int64)
    scale = np.where(clean == noisy, 0.2, 0.7) * (1 + 0.1 * clean)
    L = rng.lognormal(np.log(scale)[:, None], 0.8, (n + probes, epochs)).astype(np.float32)
    return L[:n], clean[:n], noisy[:n], L[n:], clean[n:], noisy[n:]


def uninformative(seed: int, n: int, probes: int, rate: float, classes: int = 4):
    """The same six arrays under symmetric noise at ``rate``, with one uniform score per
    sample that is independent of its labels: every kept set is as clean as the whole."""
    rng = np.random.default_rng(seed)
    T = noise.symmetric(rate, classes)
    clean = rng.choice(classes, n + probes)
    noisy = generate.noisy_labels(clean, T, seed + 1).astype(np.int64)
    L = rng.random(n + probes).astype(np.float32)
    return L[:n], clean[:n], noisy[:n], L[n:], clean[n:], noisy[n:]
