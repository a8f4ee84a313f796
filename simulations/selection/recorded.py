"""Every criterion's observed side on a trained network's recorded losses and
probabilities: what each keeps, scored against the clean labels, at every epoch; the
probability criteria (confident learning, cleanlab) on out-of-sample probabilities; and each
(clean, noisy) cell's loss over the epochs. The clean labels here only score selections.
"""

from __future__ import annotations

import numpy as np

from simulations.selection import rules
from simulations.selection.budgets import Budgets


def _threshold_selections(loss, noisy, b: Budgets, with_rsl: bool = True) -> dict:
    """The loss criteria that keep the smallest losses of each class at their budgets."""
    out = {
        "global": rules.select_global(loss, int(b.classwise.sum())),
        "classwise": rules.select_per_class(loss, noisy, b.classwise),
    }
    if with_rsl:
        out["rsl"] = rules.select_per_class(loss, noisy, b.rsl)
    return out


def _loss_selections(loss, noisy, b: Budgets, seed: int, with_rsl: bool = True) -> dict:
    out = _threshold_selections(loss, noisy, b, with_rsl=False)
    out["gmm"] = rules.select_gmm(loss, seed=seed)  # before RSL: the per-epoch rows' order
    if with_rsl:
        out["rsl"] = rules.select_per_class(loss, noisy, b.rsl)
    return out


def per_epoch_criteria(
    loss_matrix, val_acc, test_acc, clean, noisy, classes, b: Budgets, tick=None
):
    """Per epoch: each loss criterion's precision on that epoch's loss and on the mean so far
    (``tick`` called with 1 after each epoch)."""
    cum = np.cumsum(loss_matrix, axis=1, dtype=np.float64)
    rows = []
    for e in range(loss_matrix.shape[1]):
        mean_e = (cum[:, e] / (e + 1)).astype(np.float32)
        row = {"epoch": e, "test_accuracy": test_acc[e], "val_accuracy": val_acc[e]}
        for variant, loss in (("single", loss_matrix[:, e]), ("mean", mean_e)):
            for name, m in _loss_selections(loss, noisy, b, seed=e).items():
                row[f"{name}_{variant}"] = rules.metrics(m, clean, noisy, classes)[
                    "observed_precision"
                ]
        rows.append(row)
        if tick is not None:
            tick(1)
    return rows


def probability_criteria(probs, noisy) -> dict[str, tuple[np.ndarray | None, float | None]]:
    """``confident`` (the confident-learning paper's rule) and ``cleanlab`` (find_label_issues
    with its defaults), each with its agreement with cleanlab on the same probabilities."""
    confident = rules.select_confident(probs, noisy)
    kept = rules.cleanlab_keep(probs, noisy)
    out = {"confident": (confident, None), "cleanlab": (kept, None)}
    if kept is None:
        return out
    by_rule, by_default = rules.agreements_with_cleanlab(probs, noisy, confident, kept)
    return {"confident": (confident, by_rule), "cleanlab": (kept, by_default)}


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
