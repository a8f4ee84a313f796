"""The scores the criteria rank, from a run's recorded losses and outputs: the epoch-mean loss
(RSL) and the area under the margin (AUM, Pleiss et al. 2020)."""

from __future__ import annotations

import numba as nb
import numpy as np

from simulations.io import row_blocks

# what the one-pass kernels compile for; other dtypes take the NumPy expressions
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def kernel_takes(a: np.ndarray) -> bool:
    """Whether the kernels here and in ``runfile`` take ``a`` as it is (float32, float64)."""
    return a.dtype in KERNEL_DTYPES


@nb.njit(parallel=True, cache=True)
def _margins_kernel(logits, labels, out):
    n, E, c = logits.shape
    for i in nb.prange(n):
        y = labels[i]
        for e in range(E):
            other = -np.inf
            for k in range(c):
                if k != y:
                    other = max(other, np.float64(logits[i, e, k]))
            out[i, e] = np.float64(logits[i, e, y]) - other


def _margins_pass(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n, E) float64: the assigned label's logit less the largest other, each epoch."""
    n, E, _ = logits.shape
    out = np.empty((n, E))
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if out.size:
        for i, j in row_blocks(logits):
            _margins_kernel(logits[i:j], labels[i:j], out[i:j])
    return out


@nb.njit(parallel=True, cache=True)
def _row_means_kernel(a, out):
    n, E = a.shape
    for i in nb.prange(n):
        total = 0.0
        for e in range(E):
            total += np.float64(a[i, e])
        out[i] = total / E


def _row_means_pass(a: np.ndarray) -> np.ndarray:
    """(n,) float64: each row's mean as ``np.cumsum(a, axis=1, dtype=float64)[:, -1] / E``
    gives it (a sequential float64 sum), without the (n, E) float64 cumulative sums."""
    out = np.empty(a.shape[0])
    if a.size:
        for i, j in row_blocks(a):
            _row_means_kernel(a[i:j], out[i:j])
    return out


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
    # (``_row_means_pass`` is that sum without the (n, E) float64 cumulative sums)
    loss_matrix = np.asarray(loss_matrix)
    if loss_matrix.ndim == 2 and loss_matrix.shape[1] and kernel_takes(loss_matrix):
        return _row_means_pass(loss_matrix).astype(np.float32)
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
    logits = np.asarray(logits)
    if logits.ndim == 3 and kernel_takes(logits) and logits.shape[2] > 1:
        return _margins_pass(logits, np.asarray(labels))
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


def confidence(loss_matrix: np.ndarray) -> np.ndarray:
    """Each sample's probability of its label averaged over the epochs, ``mean_e exp(-loss)``
    (Dataset Cartography's confidence), as ``np.exp(-losses.astype(float64)).mean(axis=1)``
    gives it bit for bit, a block of rows at a time: no (n, E) float64 array.

    Returns
    -------
    (n,) float64
    """
    loss_matrix = np.asarray(loss_matrix)
    out = np.empty(loss_matrix.shape[0])
    for i, j in row_blocks(loss_matrix):
        out[i:j] = np.exp(-np.asarray(loss_matrix[i:j], dtype=np.float64)).mean(axis=1)
    return out


def epoch_summaries(loss_matrix: np.ndarray) -> dict[str, np.ndarray]:
    """What the criteria read of an (n, E) loss matrix, in one pass over it: ``last`` (the
    last epoch's loss, float32), ``mean`` (``mean_loss``, float32) and ``confidence``
    (``confidence``, float64), each (n,). A mapped matrix is read a block at a time and
    never copied whole, so that a run's losses need not fit in memory twice."""
    loss_matrix = np.asarray(loss_matrix)
    n = loss_matrix.shape[0]
    last = np.empty(n, np.float32)
    mean = np.empty(n, np.float32)
    conf = np.empty(n)
    for i, j in row_blocks(loss_matrix):
        block = loss_matrix[i:j]
        last[i:j] = block[:, -1]
        mean[i:j] = mean_loss(block)
        conf[i:j] = np.exp(-np.asarray(block, dtype=np.float64)).mean(axis=1)
    return {"last": last, "mean": mean, "confidence": conf}
