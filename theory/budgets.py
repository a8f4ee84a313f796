"""Budgets chosen for a target precision: keep as much as the loss laws allow while the
predicted precision stays at or above P.

- global: the largest share of all samples whose smallest-loss part has precision >= P;
- per-class: for each observed class, the largest share whose precision in that class is
  >= P (so the union is >= P too; a class that cannot reach P keeps nothing);
- RSL: RSL's own budgets scaled by the largest factor in (0, 1] that keeps precision >= P.

Precision need not fall monotonically with the budget (a noisy atom below the clean one makes
it rise), so each search scans a grid of budgets, takes the largest that reaches P and refines
it by bisection towards the next grid point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory import precision
from theory.validation import check_prior, check_transition, check_unit

GRID = 64  # budgets scanned before the bisection
SHARE_SLACK = 1e-9  # a share times a size that rounding leaves just below a whole count


def share_count(share, size=1) -> np.ndarray:
    """How many of ``size`` samples a ``share`` keeps: ``floor(share * size)``, with a slack of
    ``SHARE_SLACK`` so that a product which rounding leaves just below a whole number (0.7 *
    10 = 6.999...) keeps that number. Every budget in the project is rounded here.

    Parameters
    ----------
    share : float or array_like of float
        The share kept (of each class, for arrays), or a count already computed (then
        ``size`` is 1).
    size : int or array_like of int
        The number of samples the share is of, broadcast against ``share``.

    Returns
    -------
    numpy.ndarray
        int64 counts, of the broadcast shape of ``share`` and ``size`` (0-d for scalars).
    """
    return np.floor(share * size + SHARE_SLACK).astype(np.int64)


@dataclass(frozen=True)
class TargetBudgets:
    target: float
    global_fraction: float  # share of all samples
    classwise: np.ndarray  # share of each observed class
    rsl_scale: float  # factor applied to RSL's budgets
    rsl: np.ndarray  # share of each observed class

    def counts(self, sizes) -> tuple[np.ndarray, int, np.ndarray]:
        """(per-class, global, RSL) sample budgets for observed classes of ``sizes`` samples.

        Parameters
        ----------
        sizes : array_like
            ``(c,)`` int: how many samples carry each observed label.

        Returns
        -------
        tuple of (numpy.ndarray, int, numpy.ndarray)
            ``(c,)`` int64 per-class budgets, the global budget, ``(c,)`` int64 RSL budgets,
            each rounded by ``share_count``.
        """
        sizes = np.asarray(sizes)
        return (
            share_count(self.classwise, sizes),
            int(share_count(self.global_fraction, sizes.sum())),
            share_count(self.rsl, sizes),
        )


def largest_share(prec, target: float, top: float = 1.0, grid: int = GRID) -> float:
    """The largest ``f`` in [0, top] with ``prec(f) >= target`` (0 when none on the grid)."""
    fs = np.linspace(0.0, top, grid + 1)[1:]
    ok = [f for f in fs if _reaches(prec(f), target)]
    if not ok:
        return 0.0
    lo = max(ok)
    hi = min((f for f in fs if f > lo), default=None)
    if hi is None:
        return float(lo)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _reaches(prec(mid), target) else (lo, mid)
    return float(lo)


def _reaches(p: float | None, target: float) -> bool:
    return p is not None and p >= target - 1e-12


def target_budgets(laws, mean_laws, T, prior, target: float) -> TargetBudgets:
    """Budgets of the three loss criteria for predicted precision ``target`` (see the module).
    ``laws``: cell laws of the ranked loss; ``mean_laws``: of the epoch-mean loss (RSL)."""
    T = check_transition(T)
    p = check_prior(prior, len(T))
    target = check_unit(target, "target precision")
    observed = p @ T  # each observed class's share; all of them sum to 1

    def glob(f):
        return precision._global_(laws, T, p, f).precision

    mass = p[:, None] * T

    def column(j):
        # observed class j's budget moves only its own column's cells
        cells = [i for i, _ in precision._cells(laws, mass, [j])]
        comps, w = [laws[i][j] for i in cells], mass[cells, j]

        def prec(f):
            kept = np.zeros(len(T))
            # summed as _per_class sums its column, so the budgets stay bit for bit the same
            kept[cells] = precision.kept_below_budget(comps, w, f * sum(w.tolist()))
            return kept[j] / kept.sum() if kept.sum() > 0 else None

        return prec

    classwise = np.array(
        [largest_share(column(j), target) if observed[j] > 0 else 0.0 for j in range(len(T))]
    )
    base = precision._rsl_fractions(T, p)

    def rsl(scale):
        return precision._per_class(mean_laws, T, p, scale * base).precision

    scale = largest_share(rsl, target)
    return TargetBudgets(target, largest_share(glob, target), classwise, scale, scale * base)
