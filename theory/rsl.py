"""RSL's class-balanced budgets (Gui, Wang & Tian 2021, as in the authors' code).

One formula serves both the selection on data (``simulations.selection.rules.rsl_budgets``
floors it) and the predictions (``theory.precision.rsl_fractions`` divides it by the
expected class sizes).
"""

from __future__ import annotations

import numpy as np

from theory.errors import InputError

BETA = 0.2
GAMMAS = ("one", "mid", "z")  # gamma = 1, (1+z)/2, z


def proportions(eta, beta: float = BETA) -> np.ndarray:
    """``prop(i) = max(1 - (1+beta) eta_i, (1-beta)(1-eta_i))``: a share a little below 1-eta."""
    eta = np.nan_to_num(np.asarray(eta, dtype=np.float64))  # an empty class (NaN) keeps all
    return np.maximum(1.0 - (1.0 + beta) * eta, (1.0 - beta) * (1.0 - eta))


def num(noisy_counts, eta, prior, beta: float = BETA, gamma: str = "mid") -> np.ndarray:
    """``num(i) = min(gamma m p_i, prop(i) n_i)`` with ``z_i = prop(i) n_i / p_i``, ``m = min z``,
    ``z = max z / m``, over the classes that have something to keep. A class that is empty,
    has no prior mass, or keeps nothing (``eta_i = 1``, so ``prop(i) = 0``) gets 0 and is left
    out of ``m``: otherwise one fully mislabelled class would set every budget to 0.

    The budgets are not floored here; ``simulations.selection.rules.rsl_budgets`` floors them."""
    if gamma not in GAMMAS:
        raise InputError(f"unknown gamma {gamma!r}; choose from {', '.join(GAMMAS)}")
    n = np.asarray(noisy_counts, dtype=np.float64)
    p = np.asarray(prior, dtype=np.float64)
    available = proportions(eta, beta) * n
    live = (p > 0) & (available > 0)  # available > 0 needs n > 0
    if not live.any():
        return np.zeros(n.size)
    z = available[live] / p[live]
    ratio = z.max() / z.min()
    g = {"one": 1.0, "mid": (1.0 + ratio) / 2.0, "z": ratio}[gamma]
    return np.where(live, np.minimum(g * z.min() * p, available), 0.0)
