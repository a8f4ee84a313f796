"""The paper's lemmas and theorems as functions (closed forms, no sampling).

The input space is described by *regions*: region m has probability mass ``masses[m]``
and true class ``true_class[m]``; a classifier is a label per region. This is general
enough to express every deterministic classifier on a finite partition, which is all
Lemma 1 and Lemma 2 speak about.
"""

from __future__ import annotations

import numpy as np

from theory.conditions import epsilon_star
from theory.errors import InputError
from theory.ties import exceeds, ties
from theory.validation import check_transition


def _regions(T, masses, true_class, predicted=None):
    T = check_transition(T)
    c = len(T)
    w = np.asarray(masses, dtype=np.float64).ravel()
    f_star = np.asarray(true_class).ravel()
    if w.shape != f_star.shape:
        raise InputError(f"masses ({w.size}) and true_class ({f_star.size}) differ in length")
    if np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError("masses must be finite, non-negative and not all zero")
    if f_star.size and (f_star.min() < 0 or f_star.max() >= c):
        raise InputError(f"true_class holds a class outside 0..{c - 1}")
    if predicted is None:
        return T, w / w.sum(), f_star.astype(np.int64), None
    f = np.asarray(predicted).ravel()
    if f.shape != f_star.shape:
        raise InputError(f"predicted ({f.size}) and true_class ({f_star.size}) differ in length")
    if f.size and (f.min() < 0 or f.max() >= c):
        raise InputError(f"predicted holds a class outside 0..{c - 1}")
    return T, w / w.sum(), f_star.astype(np.int64), f.astype(np.int64)


# --- Lemma 1 -------------------------------------------------------------------------


def noisy_risk(T, masses, true_class, predicted) -> float:
    """Lemma 1: ``P(f(x) != noisy) = E_x[1 - T[f*(x), f(x)]]``."""
    T, w, f_star, f = _regions(T, masses, true_class, predicted)
    return float(w @ (1.0 - T[f_star, f]))


def min_noisy_risk(T, masses, true_class) -> float:
    """The smallest noisy 0-1 risk of any classifier.

    It is attained by predicting ``argmax_k T[f*(x), k]`` everywhere."""
    T, w, f_star, _ = _regions(T, masses, true_class)
    return float(w @ (1.0 - T[f_star].max(axis=1)))


def fstar_minimises_noisy_risk(T, masses, true_class) -> bool:
    """Whether f* attains the minimum of Lemma 1 (guaranteed, and unique, under row dominance)."""
    T, w, f_star, _ = _regions(T, masses, true_class)
    attains = ~exceeds(T[f_star].max(axis=1), np.diag(T)[f_star])  # a tie attains it too
    return bool(np.all(attains | (w == 0)))


# --- Lemma 2 -------------------------------------------------------------------------


def gstar(T, true_class) -> np.ndarray:
    """The cross-entropy minimiser on noisy labels: ``g*(x) = T[f*(x)]``."""
    T = check_transition(T)
    return T[np.asarray(true_class, dtype=np.int64)]


def gstar_classifier(T) -> list[frozenset[int]]:
    """For each true class i, the set ``argmax_k T[i,k]`` (a set: ties are possible)."""
    T = check_transition(T)
    return [frozenset(np.flatnonzero(ties(row, row.max())).tolist()) for row in T]


def lemma2_holds(T) -> bool:
    """Whether ``argmax g*`` equals f* everywhere (every class with mass): row dominance."""
    return all(s == {i} for i, s in enumerate(gstar_classifier(T)))


# --- Theorem 1 -----------------------------------------------------------------------


def loss_atoms(T) -> np.ndarray:
    """``L[i,j] = -log T[i,j]``: the loss under g* of a sample of true class i observed as j."""
    T = check_transition(T)
    with np.errstate(divide="ignore"):
        return -np.log(T)


def theorem1_ordering(T, j: int) -> bool:
    """Clean samples observed as j have strictly smaller loss than every noisy one observed as j."""
    T = check_transition(T)
    others = [T[i, j] for i in range(len(T)) if i != j and T[i, j] > 0]
    return all(exceeds(T[j, j], t) for t in others)


# --- Theorem 2 -----------------------------------------------------------------------


def theorem2_bound(T, i: int, j: int, eps: float) -> float:
    """Lower bound on ``loss(x2) - loss(x1)`` for any eps-close g: ``log((T_jj-eps)/(T_ij+eps))``.

    Meaningful (positive) for ``eps < pair_epsilon_limit(T, i, j)``; NaN where ``T_jj <= eps``.
    """
    T = check_transition(T)
    if eps < 0:
        raise InputError(f"eps = {eps:g} is negative")
    if T[j, j] <= eps:
        return float("nan")
    with np.errstate(divide="ignore"):
        # a difference of logs: the ratio overflows for tiny T_ij + eps
        return float(np.log(T[j, j] - eps) - np.log(T[i, j] + eps))


def pair_epsilon_limit(T, i: int, j: int) -> float:
    """``(T_jj - T_ij) / 2``: below it the clean-before-noisy order of the pair is guaranteed."""
    T = check_transition(T)
    return 0.5 * (T[j, j] - T[i, j])


# epsilon* = column margin / 2: the order holds for every pair of every class below it.
# One definition, in conditions; this name is the one Theorem 2's statement uses.
global_epsilon_limit = epsilon_star


def _shift_down(row: np.ndarray, j: int, amount: float, eps: float) -> np.ndarray:
    """Lower ``row[j]`` by ``amount``, spread over the other entries.

    Each other entry is raised by at most eps and stays at most 1."""
    out = row.copy()
    out[j] -= amount
    left = amount
    for k in np.argsort(row):
        if k == j or left <= 0:
            continue
        add = min(eps, 1.0 - out[k], left)
        out[k] += add
        left -= add
    return out


def _shift_up(row: np.ndarray, j: int, amount: float, eps: float) -> np.ndarray:
    """Raise ``row[j]`` by ``amount``, taken from the other entries.

    Each other entry is lowered by at most eps and stays at least 0."""
    out = row.copy()
    out[j] += amount
    left = amount
    for k in np.argsort(-row):
        if k == j or left <= 0:
            continue
        take = min(eps, out[k], left)
        out[k] -= take
        left -= take
    return out


def tightness_witness(T, i: int, j: int, eps: float):
    """Outputs ``(g1, g2)`` that reverse Theorem 1's order for the pair, or None if none exists.

    ``g1`` is eps-close to ``g*(x1) = T[j]`` (x1 clean, observed j) and ``g2`` eps-close to
    ``g*(x2) = T[i]`` (x2 of class i observed as j), both on the simplex, with
    ``g2[j] >= g1[j]`` so ``loss(x2) <= loss(x1)``. The construction moves ``g1[j]`` down and
    ``g2[j]`` up as far as the sup-norm ball and the simplex allow (the most adversarial
    pair), so returning None proves no eps-close pair reverses the order. It exists exactly
    when ``eps >= (T_jj - T_ij) / 2`` (a tie at equality, a strict reversal beyond).
    """
    T = check_transition(T)
    c = len(T)
    if eps < 0:
        raise InputError(f"eps = {eps:g} is negative")
    if i == j or not (0 <= i < c and 0 <= j < c):
        raise InputError(f"need two different classes in 0..{c - 1}, got i={i}, j={j}")
    r1, r2 = T[j], T[i]
    others = np.arange(c) != j
    down = min(eps, r1[j], float(np.minimum(eps, 1.0 - r1[others]).sum()))
    up = min(eps, 1.0 - r2[j], float(np.minimum(eps, r2[others]).sum()))
    if exceeds(r1[j] - down, r2[j] + up):
        return None
    return _shift_down(r1, j, down, eps), _shift_up(r2, j, up, eps)
