"""Every check of user input, in one place.

Public functions call these once, at the boundary, and pass the arrays they return (converted,
trusted) inward; private helpers never check again. Each check raises ``InputError`` with one
line that names the bad entry, so the CLI can print it as is.

One rule per kind of input:

- labels: 1-D, integer dtype or floats that are all finite whole numbers (``1.0`` is the
  label 1, as files written by pandas hold them; ``1.5`` and ``True`` are not labels),
  non-negative, below ``classes`` when that is given;
- a transition matrix: square, at least 2 classes, finite, non-negative, rows summing to 1
  within ``ROW_SUM_TOL`` (rows are clean classes);
- a prior: one finite non-negative entry per class with a positive sum (counts are
  normalised: that is what a user who passes counts means);
- numbers: finite, in their stated range; integers are whole numbers and never booleans.
"""

from __future__ import annotations

import numpy as np

from theory.errors import InputError

ROW_SUM_TOL = 1e-6


def check_float(
    x,
    name: str,
    low: float = -np.inf,
    high: float = np.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``x`` as a finite float in the interval from ``low`` to ``high`` (closed unless told)."""
    if isinstance(x, (bool, np.bool_)):
        raise InputError(f"{name} must be a number, got {x!r}")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {x!r}") from None
    if not np.isfinite(v):
        raise InputError(f"{name} = {v:g} must be finite")
    too_low = v <= low if low_open else v < low
    too_high = v >= high if high_open else v > high
    if too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise InputError(f"{name} = {v:g} is outside {lo}{low:g}, {high:g}{hi}")
    return v


def check_unit(x, name: str = "rate") -> float:
    """A probability or rate in [0, 1]."""
    return check_float(x, name, 0.0, 1.0)


def check_int(x, name: str, low: int | None = None, high: int | None = None) -> int:
    """A whole number (``3`` or ``3.0``, never ``True``) within ``[low, high]``."""
    if isinstance(x, (bool, np.bool_)):
        raise InputError(f"{name} must be an integer, got {x!r}")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an integer, got {x!r}") from None
    if not np.isfinite(v) or v != int(v):
        raise InputError(f"{name} must be an integer, got {x!r}")
    v = int(v)
    if low is not None and v < low:
        raise InputError(f"{name} = {v} is below {low}")
    if high is not None and v > high:
        raise InputError(f"{name} = {v} is above {high}")
    return v


def check_classes(classes) -> int:
    """A number of classes: an integer of at least 2."""
    return check_int(classes, "classes", low=2)


def check_labels(
    labels,
    name: str = "labels",
    *,
    classes: int | None = None,
    n: int | None = None,
    nonempty: bool = True,
    dtype=np.int64,
) -> np.ndarray:
    """Labels as a contiguous 1-D array of ``dtype`` (int64, or int32 for the kernels).

    Integer dtypes pass; floats pass when every value is a finite whole number; anything
    else (booleans, strings, 1.5, NaN) is refused.
    """
    a = np.asarray(labels)
    if a.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {a.shape}")
    if n is not None and a.size != n:
        raise InputError(f"{name} have {a.size} entries, expected {n}")
    if nonempty and a.size == 0:
        raise InputError(f"{name} are empty")
    if a.size == 0:
        return np.ascontiguousarray(a, dtype=dtype)
    if not np.issubdtype(a.dtype, np.integer):
        whole = (
            np.issubdtype(a.dtype, np.floating)
            and np.all(np.isfinite(a))
            and np.all(a == np.round(a))
        )
        if not whole:
            raise InputError(f"{name} must be integers, got {a.dtype}")
    lo, hi = a.min(), a.max()
    if lo < 0:
        raise InputError(f"{name} contain a negative value ({int(lo)})")
    if classes is not None and hi >= classes:
        raise InputError(f"{name} hold {int(hi)}, outside 0..{classes - 1}")
    return np.ascontiguousarray(a, dtype=dtype)


def check_transition(T, name: str = "T") -> np.ndarray:
    """``T`` as a float64 row-stochastic square matrix, or InputError naming the first problem."""
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
    if len(T) < 2:
        raise InputError(f"{name} needs at least 2 classes, got {len(T)}")
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


def check_prior(prior, classes: int, name: str = "prior") -> np.ndarray:
    """A probability vector of length ``classes`` (float64, normalised); ``None`` is uniform."""
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
    return p / p.sum()


def check_scores(x, name: str = "losses") -> np.ndarray:
    """Per-sample scores (losses) as a contiguous 1-D float32 array without NaN."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {x.shape}")
    if np.isnan(x).any():
        raise InputError(f"{name} contain NaN")
    return x
