"""Dataset Cartography's confidence (Swayamdipta et al. 2020): the probability the network
gives the observed label, averaged over the epochs, ``mean_e exp(-loss_e)``. High is
"easy to learn"; kept here at the global budget, its highest first.

Averaging probabilities is not averaging losses (RSL): one epoch of a very large loss moves
the mean loss far and the mean probability little, so the two rankings differ where the
losses over epochs are uneven. On one epoch it ranks as the loss does."""

from __future__ import annotations

import numpy as np

from simulations.selection.criteria import Criterion, Scores, at_budget


def _confidence(losses: np.ndarray) -> np.ndarray:
    return np.exp(-np.asarray(losses, dtype=np.float64)).mean(axis=1)


def _negative_confidence(s: Scores):
    """The scores whose smallest are kept: minus the confidence over the variant's epochs."""
    if s.confidence is not None:  # analyse: computed in one pass over a mapped matrix
        return -s.confidence, -s.p_confidence if s.p_confidence.size else np.zeros(0)
    if s.losses is None:
        return None
    if s.variant == "single":
        x, p = s.losses[:, -1:], s.p_losses[:, -1:]
    else:
        x, p = s.losses, s.p_losses
    return -_confidence(x), -_confidence(p) if p.shape[0] else np.zeros(0)


CONFIDENCE = Criterion(
    "cartography",
    "confidence (Cartography)",
    "#17becf",
    "the largest mean probability of the observed label over epochs (Dataset Cartography's "
    "confidence; Swayamdipta et al. 2020), one ranking at the global budget; needs the "
    "losses of every epoch",
    needs="loss_matrix",
    select=at_budget(_negative_confidence, lambda b: b.total),
    headline="mean",
    simulated=False,
)
