"""Noise transition matrices ``T[clean, noisy]``: constructors, validation, noise rates.

``rate`` is the parameter of a noise family; ``noise_rate`` is the real fraction of wrong
labels. They differ for ``uniform`` (a flip may land on the true class).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
from scipy.optimize import brentq

from theory.errors import InputError
from theory.validation import (
    check_classes,
    check_labels,
    check_prior,
    check_transition,
    check_unit,
)

STRUCTURED_CIFAR10_MAP = (0, 1, 0, 5, 7, 3, 6, 7, 8, 1)
CIFAR10N_NAMES = ("aggre", "random1", "random2", "random3", "worse")
FAMILIES = ("symmetric", "uniform", "pairwise", "structured")


def symmetric(rate, classes) -> np.ndarray:
    """Co-teaching's convention: ``T[i,i] = 1-r``, every other entry ``r/(c-1)``."""
    r, c = check_unit(rate), check_classes(classes)
    T = np.full((c, c), r / (c - 1))
    np.fill_diagonal(T, 1.0 - r)
    return T


def uniform(rate, classes) -> np.ndarray:
    """The RSL authors' convention: flip w.p. r to a class drawn from all c (true one included)."""
    r, c = check_unit(rate), check_classes(classes)
    return (1.0 - r) * np.eye(c) + r / c


def pairwise(rate, classes) -> np.ndarray:
    """Class i flips to ``(i+1) mod c`` with probability r."""
    r, c = check_unit(rate), check_classes(classes)
    T = (1.0 - r) * np.eye(c)
    T[np.arange(c), (np.arange(c) + 1) % c] += r
    return T


def structured_cifar10(rate) -> np.ndarray:
    """truck->automobile, bird->airplane, deer->horse, cat<->dog, each w.p. r."""
    r = check_unit(rate)
    T = np.eye(10)
    for i, j in enumerate(STRUCTURED_CIFAR10_MAP):
        if i != j:
            T[i, i] = 1.0 - r
            T[i, j] = r
    return T


def cifar10n(name: str) -> np.ndarray:
    """A CIFAR-10N human-noise matrix shipped with the package (CC BY-NC 4.0, Wei et al. 2022)."""
    if name not in CIFAR10N_NAMES:
        raise InputError(
            f"unknown CIFAR-10N label set {name!r}; choose from {', '.join(CIFAR10N_NAMES)}"
        )
    path = resources.files("theory") / "data" / "cifar10n" / f"T_{name}.csv"
    with resources.as_file(path) as p:
        return check_transition(np.loadtxt(p, delimiter=","), name=f"cifar10n-{name}")


def cifar10n_labels() -> dict[str, np.ndarray]:
    """CIFAR-10N's label arrays (clean, aggre, random1-3, worse), as shipped with the package."""
    path = resources.files("theory") / "data" / "cifar10n" / "labels.npz"
    with resources.as_file(path) as p, np.load(p) as z:
        return {k: z[k].astype(np.int64) for k in z.files}


def named(noise: str, rate=None, classes=None) -> np.ndarray:
    """The matrix of a noise name as the CLI spells it (``symmetric``, ``cifar10n-worse``, ...)."""
    if noise.startswith("cifar10n-"):
        return cifar10n(noise.removeprefix("cifar10n-"))
    if noise not in FAMILIES:
        names = ", ".join(FAMILIES + tuple(f"cifar10n-{n}" for n in CIFAR10N_NAMES))
        raise InputError(f"unknown noise {noise!r}; choose from {names}")
    if rate is None:
        raise InputError(f"noise {noise!r} needs a rate")
    if noise == "structured":
        if classes not in (None, 10):
            raise InputError(
                f"structured noise is defined for 10 classes (CIFAR-10), got {classes}"
            )
        return structured_cifar10(rate)
    if classes is None:
        raise InputError(f"noise {noise!r} needs a number of classes")
    return {"symmetric": symmetric, "uniform": uniform, "pairwise": pairwise}[noise](rate, classes)


def estimate(clean, noisy, classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised confusion counts of (clean, noisy) label pairs -> (T, clean prior)."""
    clean = check_labels(clean, "clean labels")
    noisy = check_labels(noisy, "noisy labels")
    if clean.shape != noisy.shape:
        raise InputError(f"clean and noisy labels differ in length ({clean.size} vs {noisy.size})")
    top = int(max(clean.max(), noisy.max())) + 1
    c = top if classes is None else check_classes(classes)
    if top > c:
        raise InputError(f"a label is {top - 1}, outside 0..{c - 1}")
    counts = np.bincount(clean * c + noisy, minlength=c * c).reshape(c, c).astype(np.float64)
    n_i = counts.sum(axis=1)
    empty = np.flatnonzero(n_i == 0)
    if len(empty):
        raise InputError(f"clean class {empty[0]} has no samples, so its row of T is undefined")
    return counts / n_i[:, None], n_i / n_i.sum()


def class_noise_rates(T, prior=None) -> np.ndarray:
    """``eta_j``: the fraction of samples observed as j that are wrong.

    It is NaN where no sample is observed as j.

    ``T``: (c, c) row-stochastic; ``prior``: (c,) or None (uniform). Returns (c,) float64.
    """
    T = check_transition(T)
    return _class_noise_rates(T, check_prior(prior, len(T)))


def _class_noise_rates(T: np.ndarray, p: np.ndarray) -> np.ndarray:
    mass = p @ T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, 1.0 - p * np.diag(T) / mass, np.nan)


def noise_rate(T, prior=None) -> float:
    """Overall fraction of wrong labels, ``1 - sum_i pi_i T[i,i]``."""
    T = check_transition(T)
    return _noise_rate(T, check_prior(prior, len(T)))


def _noise_rate(T: np.ndarray, p: np.ndarray) -> float:
    return float(1.0 - p @ np.diag(T))


def _margin(M: np.ndarray) -> float:
    """``min_i (M[i,i] - max_{j!=i} M[i,j])`` of an already validated square array."""
    off = M.copy()
    np.fill_diagonal(off, -np.inf)
    return float(np.min(np.diag(M) - off.max(axis=1)))


def row_margin(T) -> float:
    """``min_i (T[i,i] - max_{j!=i} T[i,j])``: positive iff T is row dominant."""
    return _margin(check_transition(T))


def column_margin(T) -> float:
    """``min_j (T[j,j] - max_{i!=j} T[i,j])``: positive iff T is column dominant."""
    return _margin(check_transition(T).T)


def random_transition(
    classes, margin: float, seed, kind: str = "both", concentration: float = 1.0
) -> np.ndarray:
    """A random row-stochastic matrix whose ``kind`` margin equals ``margin`` exactly.

    ``kind`` is ``row``, ``column`` or ``both`` (the smaller of the two margins). A random
    base matrix A (Dirichlet rows) is moved along the segment towards the identity (margin
    1) or towards a cyclic permutation (margin -1); the margin is continuous along each
    segment, so the point that attains ``margin`` is found by root finding. Deterministic
    given ``seed``. ``margin`` must lie in (-1, 1).
    """
    c = check_classes(classes)
    if not -1.0 < margin < 1.0:
        raise InputError(f"margin = {margin:g} is outside (-1, 1)")
    measure = {
        "row": row_margin,
        "column": column_margin,
        "both": lambda M: min(row_margin(M), column_margin(M)),
    }.get(kind)
    if measure is None:
        raise InputError(f"unknown margin kind {kind!r}; choose row, column or both")
    rng = np.random.default_rng(seed)
    A = rng.dirichlet(np.full(c, concentration), size=c)
    end = np.eye(c) if measure(A) <= margin else np.roll(np.eye(c), 1, axis=1)
    path = lambda lam: (1.0 - lam) * A + lam * end  # noqa: E731
    lam = brentq(lambda t: measure(path(t)) - margin, 0.0, 1.0, xtol=1e-14)
    T = path(lam)
    return T / T.sum(axis=1, keepdims=True)
