"""The area under the margin (Pleiss et al. 2020): a criterion only a training run has, as it
reads the recorded logits."""

from __future__ import annotations

from simulations.selection.criteria import Criterion, Scores, at_budget


def _negative_margin(s: Scores):
    """AUM keeps large margins: as a score whose smallest are kept, the negative."""
    if s.margin is None:
        return None
    return -s.margin, -s.p_margin


AUM = Criterion(
    "aum",
    "AUM",
    "#ff7f0e",
    "the largest areas under the margin (the assigned logit over the largest other, averaged "
    "over epochs; Pleiss et al. 2020), one ranking; needs recorded logits",
    needs="logits",
    select=at_budget(_negative_margin, lambda b: b.total),
    simulated=False,
)
