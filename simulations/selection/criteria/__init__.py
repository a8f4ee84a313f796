"""A selection criterion as an object: what it reads, how it scores and keeps, and what the
theory predicts of it. ``simulations.selection.registry`` lists every one; ``simulate``,
``analyse``, the per-epoch rows, the tables and the figures iterate over that list.

A criterion's ``select`` sees a ``Scores``: the scored samples' and the probes' inputs on one
*variant* (``"single"``: the last epoch; ``"mean"``: every epoch averaged). It returns
(training mask, probes' mask), the probes judged by the very rule fitted on the training
samples, or None when the run lacks what the criterion reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

VARIANTS = ("single", "mean")
NEEDS = ("losses", "loss_matrix", "logits", "probabilities")


@dataclass
class Scores:
    """What a criterion may read on one variant. ``p_*`` are the probes' (empty arrays or None
    where the run has none); ``total``, ``classwise`` and ``rsl`` are the budgets a loss
    criterion ranks at (an int, and one count per observed class)."""

    variant: str
    noisy: np.ndarray
    p_noisy: np.ndarray
    classes: int
    total: int
    classwise: np.ndarray
    rsl: np.ndarray
    loss: np.ndarray  # (n,) the variant's loss
    p_loss: np.ndarray
    losses: np.ndarray | None = None  # (n, E) every epoch's loss, where a run recorded them
    p_losses: np.ndarray | None = None
    # (n,) the mean probability of the label over the variant's epochs, where recorded
    confidence: np.ndarray | None = None
    p_confidence: np.ndarray | None = None
    margin: np.ndarray | None = None  # (n,) the variant's margin, where the run has logits
    p_margin: np.ndarray | None = None
    probs: np.ndarray | None = None  # (n, c) out-of-sample probabilities
    p_probs: np.ndarray | None = None
    seed: int = 0

    @property
    def has_probes(self) -> bool:
        return self.p_noisy.size > 0


@dataclass(frozen=True)
class Criterion:
    name: str
    label: str  # as figures and tables print it
    color: str
    what: str
    needs: str  # one of NEEDS: the input without which ``select`` returns None
    select: Callable[[Scores], tuple[np.ndarray, np.ndarray | None] | None]
    headline: str = "single"  # the variant its bare fields report
    # the budgets it ranks at, read from a Budgets-like object (None: its own cut)
    budget: Callable | None = None
    per_class: bool = False  # ranks within each observed class
    law: bool = False  # theory.precision predicts it from the loss laws at its budgets
    simulated: bool = True  # a synthetic setting draws what it reads
    # the share of samples on which its mask agrees with cleanlab's own call on ``probs``
    agreement: Callable[[np.ndarray, np.ndarray, np.ndarray], float | None] | None = None

    @property
    def variants(self) -> tuple[str, ...]:
        """The variants it is read at: none for a rule on probabilities (one per run)."""
        return () if self.needs == "probabilities" else VARIANTS


def threshold(scores, noisy, p_scores, p_noisy, budgets, classes: int):
    """The smallest ``scores``: ``budgets`` an int (one ranking of all) or one count per
    observed class; the probes at or below the same thresholds."""
    from simulations.selection import rules

    if np.ndim(budgets) == 0:
        mask = rules.select_global(scores, int(budgets))
        t = np.full(classes, scores[mask].max() if mask.any() else -np.inf)
    else:
        mask = rules.select_per_class(scores, noisy, budgets)
        t = np.full(classes, -np.inf)
        for j in range(classes):
            kept = mask & (noisy == j)
            if kept.any():
                t[j] = scores[kept].max()
    p_mask = p_scores <= t[p_noisy] if p_scores.size else np.zeros(0, bool)
    return mask, p_mask


def at_budget(score: Callable[[Scores], tuple | None], budget: Callable):
    """A ``select`` that keeps the smallest of ``score(s)`` (training, probes) at ``budget``."""

    def select(s: Scores):
        got = score(s)
        if got is None:
            return None
        x, p = got
        return threshold(x, s.noisy, p, s.p_noisy, budget(s), s.classes)

    return select
