"""The small-loss criteria: one ranking of every loss (Co-teaching), the smallest of each
observed class (per-class), RSL's epoch-mean loss at its class-balanced budgets, and
DivideMix's two-component mixture."""

from __future__ import annotations

from simulations.selection.criteria import Criterion, Scores, at_budget


def _loss(s: Scores):
    return s.loss, s.p_loss


def _gmm(s: Scores):
    from simulations.selection import rules

    mask, p_mask = rules.gmm_keep(s.loss, s.p_loss if s.has_probes else None, seed=s.seed)
    return mask, p_mask


GLOBAL = Criterion(
    "global",
    "global (Co-teaching)",
    "#d62728",
    "the smallest losses of the whole set, one ranking",
    needs="losses",
    select=at_budget(_loss, lambda b: b.total),
    budget=lambda b: b.total,
    law=True,
)
CLASSWISE = Criterion(
    "classwise",
    "per-class",
    "#1f77b4",
    "the smallest losses of each observed class, at a per-class budget",
    needs="losses",
    select=at_budget(_loss, lambda b: b.classwise),
    budget=lambda b: b.classwise,
    per_class=True,
    law=True,
)
RSL = Criterion(
    "rsl",
    "RSL",
    "#2ca02c",
    "per class, the smallest mean losses over epochs, at RSL's class-balanced budget",
    needs="losses",
    select=at_budget(_loss, lambda b: b.rsl),
    headline="mean",
    budget=lambda b: b.rsl,
    per_class=True,
    law=True,
)
GMM = Criterion(
    "gmm",
    "GMM (DivideMix)",
    "#9467bd",
    "a 2-component Gaussian mixture on min-max normalised losses, keep the low one",
    needs="losses",
    select=_gmm,
)
