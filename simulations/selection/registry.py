"""The selection criteria this project compares: one registry, read by every command and figure.

To add a criterion: give it an entry here, a selection function in ``simulations.selection.rules``,
and (where the theory can say something) a prediction in ``theory.precision``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Criterion:
    name: str
    label: str  # as figures and tables print it
    color: str
    # "loss": ranks one coordinate of g(x); "probabilities": compares coordinates;
    # "margins": ranks the recorded logits' margins, so only a training run has it
    ranks: str
    what: str


_ALL = (
    Criterion(
        "global",
        "global (Co-teaching)",
        "#d62728",
        "loss",
        "the smallest losses of the whole set, one ranking",
    ),
    Criterion(
        "classwise",
        "per-class",
        "#1f77b4",
        "loss",
        "the smallest losses of each observed class, at a per-class budget",
    ),
    Criterion(
        "rsl",
        "RSL",
        "#2ca02c",
        "loss",
        "per class, the smallest mean losses over epochs, at RSL's class-balanced budget",
    ),
    Criterion(
        "gmm",
        "GMM (DivideMix)",
        "#9467bd",
        "loss",
        "a 2-component Gaussian mixture on min-max normalised losses, keep the low one",
    ),
    Criterion(
        "aum",
        "AUM",
        "#ff7f0e",
        "margins",
        "the largest areas under the margin (the assigned logit over the largest other, averaged "
        "over epochs; Pleiss et al. 2020), one ranking; needs recorded logits",
    ),
    Criterion(
        "confident",
        "confident learning",
        "#8c564b",
        "probabilities",
        "drop a sample whose most likely above-threshold class is not its label "
        "(the confident-learning paper's rule)",
    ),
    Criterion(
        "cleanlab",
        "cleanlab",
        "#e377c2",
        "probabilities",
        "the complement of cleanlab.filter.find_label_issues with its defaults "
        "(prune by noise rate)",
    ),
)

REGISTRY: dict[str, Criterion] = {c.name: c for c in _ALL}
CRITERIA: tuple[str, ...] = tuple(REGISTRY)
# the criteria that rank losses at a budget: the ones the loss laws predict on real networks
LOSS_CRITERIA: tuple[str, ...] = ("global", "classwise", "rsl")
# the criteria a synthetic setting draws outputs for (no logits over epochs there)
SIMULATED: tuple[str, ...] = tuple(c.name for c in _ALL if c.ranks != "margins")
COLORS = {c.name: c.color for c in _ALL}
LABELS = {c.name: c.label for c in _ALL}
