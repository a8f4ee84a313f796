"""Run files made outside the trainer, for the tests of ``analyse``: logits over epochs of a
network that learns the clean class and memorises the noisy label, the training samples and
probes drawn alike (the exchangeable model), and a clean validation split."""

import numpy as np

from simulations.synthetic import generate
from theory import noise


def synthetic_run(seed=0, n=3_000, probes=300, epochs=4, c=4, rate=0.3, val=500, probs=True):
    """The arrays of a run file (``simulations.selection.runfile``) and its T."""
    rng = np.random.default_rng(seed)
    T = noise.pairwise(rate, c)
    prior = np.linspace(2, 1, c) / np.linspace(2, 1, c).sum()
    clean = rng.choice(c, n + probes, p=prior)
    noisy = generate.noisy_labels(clean, T, seed + 1).astype(np.int64)
    rows = np.arange(n + probes)
    logits = rng.normal(0, 1, (n + probes, epochs, c)).astype(np.float32)
    logits[rows, :, clean] += 2.0
    logits[rows, :, noisy] += np.linspace(0.5, 2.5, epochs, dtype=np.float32)[None, :]
    arrays = {
        "noisy": noisy,
        "logits": logits,
        "clean": clean,
        "T": T,
        "prior": prior,
    }
    if probes:
        arrays["probe"] = rows >= n
    if probs:
        z = np.exp(logits[:, -1] - logits[:, -1].max(1, keepdims=True))
        arrays["probs"] = z / z.sum(1, keepdims=True)
    if val:
        v_clean = rng.choice(c, val, p=prior)
        v_logits = rng.normal(0, 1, (val, epochs, c)).astype(np.float32)
        v_logits[np.arange(val), :, v_clean] += 2.0
        arrays.update(val_logits=v_logits, val_clean=v_clean)
    return arrays, T
