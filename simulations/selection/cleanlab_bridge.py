"""From cleanlab's inputs to a run: the labels and the out-of-sample ``pred_probs`` that
``cleanlab.filter.find_label_issues(labels, pred_probs)`` takes, as the arrays of the run
format (``runfile``) that ``smallloss analyse`` reads. numpy only: cleanlab is not imported.

Out-of-sample probabilities are one look at each sample, so without recorded training losses
the run has one "epoch": ``losses`` (n, 1) = ``-log pred_probs[i, labels[i]]``, the
probability clipped to [``MIN_PROB``, 1] so that a zero gives a finite loss. Training losses
recorded over epochs (``losses``, (n, E)) are kept as given instead.

>>> import numpy as np
>>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
>>> run = run_from_pred_probs([0, 1, 1], p)
>>> sorted(run), [round(float(v), 3) for v in run["losses"].ravel()]
(['losses', 'noisy', 'probs'], [0.105, 0.223, 1.204])
"""

from __future__ import annotations

import numpy as np

from simulations.selection import runfile
from theory.errors import InputError

# -log(1e-12) = 27.6: a probability of zero (a confident out-of-fold model) stays finite
MIN_PROB = 1e-12


def label_losses(labels, pred_probs, min_prob: float = MIN_PROB) -> np.ndarray:
    """(n, 1) float32: ``-log pred_probs[i, labels[i]]``, the probability clipped to
    [``min_prob``, 1]."""
    labels, pred_probs = np.asarray(labels), np.asarray(pred_probs, dtype=np.float64)
    if pred_probs.ndim != 2 or labels.shape != (pred_probs.shape[0],):
        raise InputError(
            f"pred_probs {pred_probs.shape} and labels {labels.shape}: expected (n, classes) "
            "and (n,)"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= pred_probs.shape[1]):
        raise InputError(
            f"labels run {labels.min()}..{labels.max()}, outside the {pred_probs.shape[1]} "
            "columns of pred_probs"
        )
    p = np.take_along_axis(pred_probs, labels.astype(np.int64)[:, None], axis=1)
    return (-np.log(np.clip(p, min_prob, 1.0))).astype(np.float32)


def run_from_pred_probs(
    labels, pred_probs, losses=None, *, min_prob: float = MIN_PROB, **arrays
) -> dict:
    """The run's arrays from cleanlab's inputs: ``noisy`` = ``labels`` (n,), ``probs`` =
    ``pred_probs`` (n, c), and ``losses``: the given (n, E) training losses, or else
    ``label_losses`` (n, 1). ``**arrays``: other keys of the run format (``probe``,
    ``clean``, ``T``, ...). Checked as ``analyse`` reads it (``runfile.from_arrays``): save it
    with ``np.savez(path, **run)`` (or ``runfile.write``) for ``smallloss analyse``."""
    if losses is None:
        losses = label_losses(labels, pred_probs, min_prob)
    run = {"noisy": np.asarray(labels), "probs": np.asarray(pred_probs), "losses": losses}
    run.update(arrays)
    runfile.from_arrays(run, where="the run from pred_probs")
    return run


def write_run(path, labels, pred_probs, losses=None, **arrays) -> None:
    """``run_from_pred_probs`` written to ``path`` (``.npz``) for ``smallloss analyse``."""
    runfile.write(path, run_from_pred_probs(labels, pred_probs, losses, **arrays))
