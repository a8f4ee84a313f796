"""Past the paper: where each condition holds over matrix families, when precision first
drops as the model drifts from g*, and precision as classes overlap."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from theory import conditions, precision
from theory.errors import InputError
from theory.losses import cell_laws
from theory.validation import check_prior, check_transition


def two_class(a: float, b: float) -> np.ndarray:
    """``T(a, b) = [[1-a, a], [b, 1-b]]``: class 0 flips w.p. a, class 1 w.p. b."""
    return np.array([[1.0 - a, a], [b, 1.0 - b]])


def three_class(a: float, b: float) -> np.ndarray:
    """A family through the worked example of theory/README.md (a = 0.6, b = 0.45): class 0
    spreads a evenly, class 1 flips to 2 w.p. b, class 2 is nearly clean."""
    return np.array([[1.0 - a, a / 2, a / 2], [0.0, 1.0 - b, b], [0.05, 0.05, 0.90]])


# two-parameter families of T whose condition regions figure 1 draws (not noise families)
MATRIX_FAMILIES = {"two_class": two_class, "three_class": three_class}


def condition_grid(family, a_values, b_values, prior=None) -> dict[str, np.ndarray]:
    """Boolean maps ``[len(b), len(a)]`` of every condition over a two-parameter family, plus
    where per-class selection is exact but a global ranking is not (column dominant, not
    globally separable)."""
    fn = MATRIX_FAMILIES[family] if isinstance(family, str) else family
    out = {k: np.zeros((len(b_values), len(a_values)), dtype=bool) for k in conditions.CONDITIONS}
    for r, b in enumerate(b_values):
        for c, a in enumerate(a_values):
            rep = conditions.report(fn(a, b), prior)
            for k in conditions.CONDITIONS:
                out[k][r, c] = getattr(rep, k)
    out["classwise_only"] = out["column_dominant"] & ~out["globally_separable"]
    return out


def bayes_precision_grid(family, a_values, b_values, prior=None) -> dict[str, np.ndarray]:
    """Predicted oracle-budget precision of global and per-class selection under g*."""
    fn = MATRIX_FAMILIES[family] if isinstance(family, str) else family
    out = {k: np.zeros((len(b_values), len(a_values))) for k in ("global", "classwise")}
    for r, b in enumerate(b_values):
        for c, a in enumerate(a_values):
            T = fn(a, b)
            p = check_prior(prior, len(T))
            laws = cell_laws(T, "bayes")
            f = precision.oracle_fractions(T, p)
            out["global"][r, c] = precision.global_(laws, T, p, float((p @ T) @ f)).precision
            out["classwise"][r, c] = precision.per_class(laws, T, p, f).precision
    return out


def perturbed_break_epsilon(T) -> float:
    """The smallest eps at which the perturbed model's clean and noisy losses of some observed
    class overlap: ``min over T_ij > 0, i != j of D/(1+D)``, ``D = T_jj - T_ij``.

    Clean outputs ``g_j`` span ``[(1-eps) T_jj, (1-eps) T_jj + eps]`` and noisy ones
    ``[(1-eps) T_ij, (1-eps) T_ij + eps]``; they meet when ``eps = D/(1+D)``. Since
    ``D/(1+D) >= D/2``, this family keeps oracle precision 1 beyond Theorem 2's eps*: the
    theorem's bound is the worst case over all eps-close models, not a typical one.
    Returns 0 where some column is not dominant (no eps keeps precision 1).
    """
    T = check_transition(T)
    c = len(T)
    gaps = [T[j, j] - T[i, j] for i in range(c) for j in range(c) if i != j and T[i, j] > 0]
    if not gaps:
        return 1.0
    d = min(gaps)
    return d / (1.0 + d) if d > 0 else 0.0


def first_drop_epsilon(
    T, prior=None, criterion: str = "classwise", alpha: float = 1.0, tol: float = 1e-4
) -> float:
    """The eps at which predicted oracle-budget precision of ``criterion`` first falls below 1,
    found by bisection on the perturbed model's predictions (1.0 if it never does)."""
    T = check_transition(T)
    p = check_prior(prior, len(T))
    f = precision.oracle_fractions(T, p)

    def prec(eps):
        laws = cell_laws(T, "perturbed", epsilon=eps, alpha=alpha)  # eps = 0 is g*
        if criterion == "classwise":
            return precision.per_class(laws, T, p, f).precision or 0.0
        if criterion == "global":
            return precision.global_(laws, T, p, float((p @ T) @ f)).precision or 0.0
        raise InputError(f"unknown criterion {criterion!r}")

    top = 0.999  # at eps = 1 the output forgets T altogether
    if prec(0.0) < 1 - 1e-9:
        return 0.0
    if prec(top) >= 1 - 1e-9:
        return 1.0
    lo, hi = 0.0, top
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if prec(mid) >= 1 - 1e-9 else (lo, mid)
    return hi


def precision_vs_separation(T, separations, prior=None, keep="oracle") -> dict[str, np.ndarray]:
    """Predicted precision of global, per-class and RSL selection as class overlap shrinks."""
    T = check_transition(T)
    p = check_prior(prior, len(T))
    f = precision.oracle_fractions(T, p) if keep == "oracle" else np.full(len(T), float(keep))
    out = {k: np.zeros(len(separations)) for k in ("global", "classwise", "rsl")}
    for k, s in enumerate(separations):
        preds = precision.predict_all(T, p, "overlap", fractions=f, n=100_000, separation=s)
        for name in out:
            out[name][k] = preds[name].precision
    return out


def separation_for_precision(T, target: float, prior=None, criterion: str = "classwise") -> float:
    """The class separation at which predicted oracle precision reaches ``target``."""

    def gap(s):
        return precision_vs_separation(T, [s], prior)[criterion][0] - target

    if gap(20.0) < 0:
        return float("inf")
    return float(brentq(gap, 1e-3, 20.0, xtol=1e-3))
