"""Noise transition matrices ``T[clean, noisy]``: constructors, validation, noise rates.

``rate`` is the parameter of a noise family; ``noise_rate`` is the real fraction of wrong
labels. They differ for ``uniform`` (a flip may land on the true class).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
from scipy.optimize import brentq

from theory.errors import InputError

ROW_SUM_TOL = 1e-6
STRUCTURED_CIFAR10_MAP = (0, 1, 0, 5, 7, 3, 6, 7, 8, 1)
CIFAR10N_NAMES = ("aggre", "random1", "random2", "random3", "worse")
FAMILIES = ("symmetric", "uniform", "pairwise", "structured")


def validate_transition(T, name: str = "T") -> np.ndarray:
    """Return ``T`` as a float64 array, or raise InputError naming the first problem."""
    try:
        T = np.asarray(T, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} is not a numeric matrix ({exc})") from None
    if T.ndim != 2:
        raise InputError(f"{name} must be a 2-D matrix, got {T.ndim} dimension(s)")
    if T.size == 0:
        raise InputError(f"{name} is empty")
    if T.shape[0] != T.shape[1]:
        raise InputError(f"{name} must be square, got shape {T.shape[0]}x{T.shape[1]}")
    if T.shape[0] < 2:
        raise InputError(f"{name} needs at least 2 classes, got {T.shape[0]}")
    bad = np.argwhere(~np.isfinite(T))
    if len(bad):
        i, j = bad[0]
        raise InputError(f"{name}[{i},{j}] is {T[i, j]}: entries must be finite")
    bad = np.argwhere(T < 0)
    if len(bad):
        i, j = bad[0]
        raise InputError(f"{name}[{i},{j}] = {T[i, j]:g} is negative")
    sums = T.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOL)
    if len(off):
        i = off[0]
        raise InputError(f"row {i} of {name} sums to {sums[i]:.6g}, not 1 (rows are clean classes)")
    return T


def validate_rate(rate, name: str = "rate") -> float:
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {rate!r}") from None
    if not np.isfinite(rate) or not 0.0 <= rate <= 1.0:
        raise InputError(f"{name} = {rate:g} is outside [0, 1]")
    return rate


def validate_classes(classes) -> int:
    if isinstance(classes, (bool, np.bool_)) or int(classes) != classes:
        raise InputError(f"classes must be an integer, got {classes!r}")
    if classes < 2:
        raise InputError(f"classes = {classes} is fewer than 2")
    return int(classes)


def validate_prior(prior, classes: int, name: str = "prior") -> np.ndarray:
    """A probability vector of length ``classes``; ``None`` means uniform."""
    if prior is None:
        return np.full(classes, 1.0 / classes)
    try:
        p = np.asarray(prior, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError(f"{name} is not numeric") from None
    if p.shape != (classes,):
        raise InputError(f"{name} has {p.size} entries, expected {classes} (one per class)")
    if not np.all(np.isfinite(p)):
        raise InputError(f"{name} has NaN or infinite entries")
    if np.any(p < 0):
        raise InputError(f"{name}[{int(np.flatnonzero(p < 0)[0])}] is negative")
    if p.sum() <= 0:
        raise InputError(f"{name} sums to 0")
    # Counts are accepted as a prior: normalising them is what a user means.
    return p / p.sum()


def symmetric(rate, classes) -> np.ndarray:
    """Co-teaching's convention: ``T[i,i] = 1-r``, every other entry ``r/(c-1)``."""
    r, c = validate_rate(rate), validate_classes(classes)
    T = np.full((c, c), r / (c - 1))
    np.fill_diagonal(T, 1.0 - r)
    return T


def uniform(rate, classes) -> np.ndarray:
    """The RSL authors' convention: flip w.p. r to a class drawn from all c (true one included)."""
    r, c = validate_rate(rate), validate_classes(classes)
    return (1.0 - r) * np.eye(c) + r / c


def pairwise(rate, classes) -> np.ndarray:
    """Class i flips to ``(i+1) mod c`` with probability r."""
    r, c = validate_rate(rate), validate_classes(classes)
    T = (1.0 - r) * np.eye(c)
    T[np.arange(c), (np.arange(c) + 1) % c] += r
    return T


def structured_cifar10(rate) -> np.ndarray:
    """truck->automobile, bird->airplane, deer->horse, cat<->dog, each w.p. r."""
    r = validate_rate(rate)
    T = np.eye(10)
    for i, j in enumerate(STRUCTURED_CIFAR10_MAP):
        if i != j:
            T[i, i] = 1.0 - r
            T[i, j] = r
    return T


def cifar10n(name: str) -> np.ndarray:
    """A CIFAR-10N human-noise matrix shipped with the package (CC BY-NC 4.0, Wei et al. 2022)."""
    if name not in CIFAR10N_NAMES:
        raise InputError(f"unknown CIFAR-10N label set {name!r}; choose from {', '.join(CIFAR10N_NAMES)}")
    path = resources.files("theory") / "data" / "cifar10n" / f"T_{name}.csv"
    with resources.as_file(path) as p:
        return validate_transition(np.loadtxt(p, delimiter=","), name=f"cifar10n-{name}")


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
            raise InputError(f"structured noise is defined for 10 classes (CIFAR-10), got {classes}")
        return structured_cifar10(rate)
    if classes is None:
        raise InputError(f"noise {noise!r} needs a number of classes")
    return {"symmetric": symmetric, "uniform": uniform, "pairwise": pairwise}[noise](rate, classes)


def estimate(clean, noisy, classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised confusion counts of (clean, noisy) label pairs -> (T, clean prior)."""
    clean, noisy = _labels(clean, "clean"), _labels(noisy, "noisy")
    if clean.shape != noisy.shape:
        raise InputError(f"clean and noisy labels differ in length ({clean.size} vs {noisy.size})")
    if clean.size == 0:
        raise InputError("label arrays are empty")
    top = int(max(clean.max(), noisy.max())) + 1
    c = top if classes is None else validate_classes(classes)
    if top > c:
        raise InputError(f"a label is {top - 1}, outside 0..{c - 1}")
    counts = np.bincount(clean * c + noisy, minlength=c * c).reshape(c, c).astype(np.float64)
    n_i = counts.sum(axis=1)
    empty = np.flatnonzero(n_i == 0)
    if len(empty):
        raise InputError(f"clean class {empty[0]} has no samples, so its row of T is undefined")
    return counts / n_i[:, None], n_i / n_i.sum()


def _labels(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise InputError(f"{name} labels must be 1-D, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise InputError(f"{name} labels must be integers")
    a = a.astype(np.int64)
    if a.size and a.min() < 0:
        raise InputError(f"{name} labels contain a negative value ({a.min()})")
    return a


def class_noise_rates(T, prior=None) -> np.ndarray:
    """``eta_j``: fraction of samples observed as j that are wrong (NaN where nothing is observed as j)."""
    T = validate_transition(T)
    p = validate_prior(prior, len(T))
    mass = p @ T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, 1.0 - p * np.diag(T) / mass, np.nan)


def noise_rate(T, prior=None) -> float:
    """Overall fraction of wrong labels, ``1 - sum_i pi_i T[i,i]``."""
    T = validate_transition(T)
    return float(1.0 - validate_prior(prior, len(T)) @ np.diag(T))


def _margin(M: np.ndarray) -> float:
    """``min_i (M[i,i] - max_{j!=i} M[i,j])`` of an already validated square array."""
    off = M.copy()
    np.fill_diagonal(off, -np.inf)
    return float(np.min(np.diag(M) - off.max(axis=1)))


def row_margin(T) -> float:
    return _margin(validate_transition(T))


def column_margin(T) -> float:
    return _margin(validate_transition(T).T)


def random_transition(classes, margin: float, seed, kind: str = "both", concentration: float = 1.0) -> np.ndarray:
    """A random row-stochastic matrix whose ``kind`` margin equals ``margin`` exactly.

    ``kind`` is ``row``, ``column`` or ``both`` (the smaller of the two margins). A random
    base matrix A (Dirichlet rows) is moved along the segment towards the identity (margin
    1) or towards a cyclic permutation (margin -1); the margin is continuous along each
    segment, so the point that attains ``margin`` is found by root finding. Deterministic
    given ``seed``. ``margin`` must lie in (-1, 1).
    """
    c = validate_classes(classes)
    if not -1.0 < margin < 1.0:
        raise InputError(f"margin = {margin:g} is outside (-1, 1)")
    measure = {"row": row_margin, "column": column_margin,
               "both": lambda M: min(row_margin(M), column_margin(M))}.get(kind)
    if measure is None:
        raise InputError(f"unknown margin kind {kind!r}; choose row, column or both")
    rng = np.random.default_rng(seed)
    A = rng.dirichlet(np.full(c, concentration), size=c)
    end = np.eye(c) if measure(A) <= margin else np.roll(np.eye(c), 1, axis=1)
    path = lambda lam: (1.0 - lam) * A + lam * end  # noqa: E731
    lam = brentq(lambda t: measure(path(t)) - margin, 0.0, 1.0, xtol=1e-14)
    T = path(lam)
    return T / T.sum(axis=1, keepdims=True)
