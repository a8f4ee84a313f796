"""The selection criteria this project compares: one registry, read by every command and figure.

To add a criterion: write it in one file under ``simulations.selection.criteria`` (a
``Criterion`` with its ``select``) and add it to ``_ALL`` below. ``simulate``, ``analyse``
(its rows, the per-epoch rows, the per-sample table), ``train``'s record and the figures that
compare every criterion iterate over this list; ``tests/selection/test_every_criterion.py``
sends each one through them. A prediction from the theory is keyed by the criterion's name
in ``theory.precision``.
"""

from __future__ import annotations

from simulations.selection.criteria import VARIANTS, Criterion, Scores
from simulations.selection.criteria.cartography import CONFIDENCE
from simulations.selection.criteria.margin import AUM
from simulations.selection.criteria.probability import CLEANLAB, CONFIDENT
from simulations.selection.criteria.small_loss import CLASSWISE, GLOBAL, GMM, RSL

_ALL = (GLOBAL, CLASSWISE, RSL, GMM, AUM, CONFIDENT, CLEANLAB, CONFIDENCE)

REGISTRY: dict[str, Criterion] = {c.name: c for c in _ALL}
CRITERIA: tuple[str, ...] = tuple(REGISTRY)
# the criteria that rank losses at a budget: the ones the loss laws predict on real networks
LOSS_CRITERIA: tuple[str, ...] = tuple(c.name for c in _ALL if c.law)
# the criteria a synthetic setting draws outputs for
SIMULATED: tuple[str, ...] = tuple(c.name for c in _ALL if c.simulated)
# the criteria read from out-of-sample probabilities (one decision per run)
ON_PROBABILITIES: tuple[str, ...] = tuple(c.name for c in _ALL if c.needs == "probabilities")
# RSL's selection beside one global ranking of the same size (analyse's mask of that name):
# what stage 2 compares RSL with
EQUAL_SIZE_GLOBAL = "global_at_rsl_total"
COLORS = {c.name: c.color for c in _ALL}
LABELS = {c.name: c.label for c in _ALL}

__all__ = [
    "AUM",
    "CLASSWISE",
    "CLEANLAB",
    "COLORS",
    "CONFIDENCE",
    "CONFIDENT",
    "CRITERIA",
    "EQUAL_SIZE_GLOBAL",
    "GLOBAL",
    "GMM",
    "LABELS",
    "LOSS_CRITERIA",
    "ON_PROBABILITIES",
    "REGISTRY",
    "RSL",
    "SIMULATED",
    "VARIANTS",
    "Criterion",
    "Scores",
]
