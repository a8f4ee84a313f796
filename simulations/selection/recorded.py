"""Each (clean, noisy) cell's recorded loss over the epochs, beside its atom ``-log T_ij``:
what the loss laws are made of, read where every scored sample has a clean label."""

from __future__ import annotations

import numpy as np


def cell_summaries(loss_matrix, clean, noisy, T: np.ndarray) -> list[dict]:
    """Each (clean, noisy) cell's training loss over epochs beside its atom ``-log T_ij``."""
    cells = []
    for i in range(len(T)):
        for j in range(len(T)):
            m = (clean == i) & (noisy == j)
            if m.any():
                cells.append(
                    {
                        "clean": i,
                        "noisy": j,
                        "count": int(m.sum()),
                        "atom": float(-np.log(T[i, j])),
                        "mean_loss_by_epoch": loss_matrix[m].mean(axis=0).tolist(),
                    }
                )
    return cells
