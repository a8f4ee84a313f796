"""Closed forms of the small-loss theory (Gui, Wang & Tian, IJCAI 2021) and beyond.

Pure numpy + scipy: nothing here samples data, imports torch, numba or `simulations`.
Convention everywhere: ``T[clean, noisy]``, rows sum to 1.

- ``errors``: ``InputError``, the one exception the public boundary raises for bad input;
- ``validation``: every check of user input, in one place (labels, T, prior, numbers);
- ``ties``: one tolerance for every strict comparison of probabilities;
- ``noise``: transition matrices: families, CIFAR-10N, random with a chosen margin; noise
  rates;
- ``losses``: loss laws per (clean, observed) cell, scipy.stats-style;
- ``conditions``: row / column / diagonal / global dominance, cleanlab validity, one report;
- ``rsl``: RSL's class-balanced budgets;
- ``probability``: confident learning's population rule, for outputs that can be integrated;
- ``claims``: Lemmas 1-2, Theorems 1-2, the tightness witness;
- ``precision``: predicted precision and recall of each selection criterion;
- ``instance``: instance-dependent noise in the overlap model: cell laws, ``T_bar``;
- ``regions``: where each condition holds over matrix families, precision as the model
  drifts from g* and as classes overlap;
- ``budgets``: budgets chosen for a target precision.

The modules are numpy and scipy only, so ``import theory`` imports them all.
"""

from theory import (
    budgets,
    claims,
    conditions,
    errors,
    instance,
    losses,
    noise,
    precision,
    probability,
    regions,
    rsl,
    ties,
    validation,
)
from theory.errors import InputError

__all__ = [
    "InputError",
    "budgets",
    "claims",
    "conditions",
    "errors",
    "instance",
    "losses",
    "noise",
    "precision",
    "probability",
    "regions",
    "rsl",
    "ties",
    "validation",
]
