"""The scores the criteria rank, from a run's recorded losses and outputs: the epoch-mean loss
(RSL) and the area under the margin (AUM, Pleiss et al. 2020)."""

from __future__ import annotations

import numpy as np


def mean_loss(loss_matrix: np.ndarray) -> np.ndarray:
    """Each sample's loss averaged over the epochs (RSL's ranking score).

    Parameters
    ----------
    loss_matrix : (n, E) float
        Every sample's loss at each epoch.

    Returns
    -------
    (n,) float32
    """
    # a running float64 sum, as the per-epoch means are computed: the same bits in both
    total = np.cumsum(loss_matrix, axis=1, dtype=np.float64)[:, -1]
    return (total / loss_matrix.shape[1]).astype(np.float32)


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The margin of the assigned label's logit over the largest other logit, each epoch.

    Parameters
    ----------
    logits : (n, E, c) float
        Every sample's outputs (before the softmax) at each epoch.
    labels : (n,) int
        The labels the samples were trained on.

    Returns
    -------
    (n, E) float64
    """
    z = np.asarray(logits, dtype=np.float64)
    idx = np.asarray(labels, dtype=np.int64)[:, None, None]
    assigned = np.take_along_axis(z, idx, axis=2)[..., 0]
    others = z.copy()
    np.put_along_axis(others, np.broadcast_to(idx, (z.shape[0], z.shape[1], 1)), -np.inf, axis=2)
    return assigned - others.max(axis=2)


def aum(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The area under the margin: each sample's margin (``margins``) averaged over the epochs,
    as ``aum.AUMCalculator`` computes it from one update a sample each epoch. Large is clean.

    Returns
    -------
    (n,) float64
    """
    return margins(logits, labels).mean(axis=1)
