"""Conditions on T that the small-loss theory needs, and one report of them all.

Every public function takes a raw ``T`` (and prior), validates it once and works on the
trusted array through the private helpers below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from theory.noise import _class_noise_rates, _margin, _noise_rate
from theory.ties import exceeds
from theory.validation import check_prior, check_transition

# the boolean conditions of a report, in the order every table lists them
CONDITIONS = (
    "row_dominant",
    "column_dominant",
    "diagonally_dominant",
    "globally_separable",
    "cleanlab_valid",
)


def _off_diagonal_max(T: np.ndarray, axis: int | None) -> np.ndarray:
    off = T.copy()
    np.fill_diagonal(off, -np.inf)
    return off.max(axis=axis)


def _failing_row(T: np.ndarray) -> list[int]:
    return np.flatnonzero(~exceeds(np.diag(T), _off_diagonal_max(T, axis=1))).tolist()


def _failing_column(T: np.ndarray) -> list[int]:
    return np.flatnonzero(~exceeds(np.diag(T), _off_diagonal_max(T, axis=0))).tolist()


def _globally_separable(T: np.ndarray) -> bool:
    return bool(exceeds(np.min(np.diag(T)), _off_diagonal_max(T, axis=None)))


def _cleanlab_valid(T: np.ndarray, p: np.ndarray) -> bool:
    return bool(np.all(exceeds(p * np.diag(T), (p @ T) * p)))


def classes_failing_row(T) -> list[int]:
    """Classes i with ``T[i,i] <= max_{j!=i} T[i,j]`` (the classifier argmax g* is not f*)."""
    return _failing_row(check_transition(T))


def classes_failing_column(T) -> list[int]:
    """Observed classes j with ``T[j,j] <= max_{i!=j} T[i,j]``.

    In such a column the clean loss is not below every noisy loss."""
    return _failing_column(check_transition(T))


def row_dominant(T) -> bool:
    """``T[i,i] > T[i,j]`` for every i and j != i (Lemma 2: argmax g* = f*)."""
    return not classes_failing_row(T)


def column_dominant(T) -> bool:
    """``T[j,j] > T[i,j]`` for every j and i != j (Theorem 1's inequality, per column)."""
    return not classes_failing_column(T)


def diagonally_dominant(T) -> bool:
    """The paper's condition for Theorem 1: row and column dominance at once."""
    T = check_transition(T)
    return not _failing_row(T) and not _failing_column(T)


def globally_separable(T) -> bool:
    """Every clean loss below every noisy loss: ``min_j T[j,j] > max_{i!=j} T[i,j]``."""
    return _globally_separable(check_transition(T))


def cleanlab_valid(T, prior=None) -> bool:
    """cleanlab's learnability: ``P(noisy=k) P(clean=k) < P(noisy=k, clean=k)`` for every k
    (strict: sides within ``TIE`` fail it)."""
    T = check_transition(T)
    return _cleanlab_valid(T, check_prior(prior, len(T)))


def _epsilon_star_flipping(T: np.ndarray) -> float | None:
    gaps = [
        T[j, j] - T[i, j] for j in range(len(T)) for i in range(len(T)) if i != j and T[i, j] > 0
    ]
    return 0.5 * min(gaps) if gaps else None


def epsilon_star_flipping(T) -> float | None:
    """Theorem 2's limit over the pairs that exist: half of ``min (T_jj - T_ij)`` over ``i != j``
    with ``T[i,j] > 0`` (None when nothing flips). The paper's ``epsilon_star`` also counts
    columns into which nothing flips, where no noisy sample can overtake a clean one; this one
    is the limit a prediction about real samples needs."""
    return _epsilon_star_flipping(check_transition(T))


def epsilon_star(T) -> float:
    """Theorem 2's global limit, half the column margin.

    Negative when no epsilon preserves the order."""
    return 0.5 * _margin(check_transition(T).T)


@dataclass(frozen=True)
class ClassReport:
    cls: int
    eta: float | None
    clean_loss: float | None
    min_noisy_loss: float | None

    def to_dict(self) -> dict:
        return {
            "class": self.cls,
            "eta": self.eta,
            "clean_loss": self.clean_loss,
            "min_noisy_loss": self.min_noisy_loss,
        }


@dataclass(frozen=True)
class ConditionReport:
    classes: int
    noise_rate: float
    row_dominant: bool
    column_dominant: bool
    diagonally_dominant: bool
    globally_separable: bool
    cleanlab_valid: bool
    row_margin: float
    column_margin: float
    epsilon_star: float
    epsilon_star_flipping: float | None
    classes_failing_row: list[int]
    classes_failing_column: list[int]
    per_class: list[ClassReport]
    prior: list[float]
    T: list[list[float]]

    def verdicts(self) -> dict[str, bool]:
        """The five conditions by name."""
        return {k: getattr(self, k) for k in CONDITIONS}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["per_class"] = [c.to_dict() for c in self.per_class]
        return d


def _finite_or_none(x: float) -> float | None:
    # + 0.0 turns the -0.0 of -log(1) into 0.0
    return float(x) + 0.0 if np.isfinite(x) else None


def report(T, prior=None) -> ConditionReport:
    """Every condition, margin and per-class loss atom of one transition matrix.

    ``T``: (c, c) row-stochastic, rows = clean class; ``prior``: (c,) or None (uniform).
    """
    T = check_transition(T)
    c = len(T)
    p = check_prior(prior, c)
    eta = _class_noise_rates(T, p)
    per_class = []
    with np.errstate(divide="ignore"):
        for j in range(c):
            flips_in = [T[i, j] for i in range(c) if i != j and T[i, j] > 0]
            per_class.append(
                ClassReport(
                    cls=j,
                    eta=_finite_or_none(eta[j]),
                    clean_loss=_finite_or_none(-np.log(T[j, j])),
                    min_noisy_loss=float(-np.log(max(flips_in))) if flips_in else None,
                )
            )
    failing_row, failing_column = _failing_row(T), _failing_column(T)
    cm = _margin(T.T)
    return ConditionReport(
        classes=c,
        noise_rate=_noise_rate(T, p),
        row_dominant=not failing_row,
        column_dominant=not failing_column,
        diagonally_dominant=not failing_row and not failing_column,
        globally_separable=_globally_separable(T),
        cleanlab_valid=_cleanlab_valid(T, p),
        row_margin=_margin(T),
        column_margin=cm,
        epsilon_star=0.5 * cm,
        epsilon_star_flipping=_epsilon_star_flipping(T),
        classes_failing_row=failing_row,
        classes_failing_column=failing_column,
        per_class=per_class,
        prior=p.tolist(),
        T=T.tolist(),
    )
