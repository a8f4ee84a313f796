"""Predicted precision and recall of each selection criterion, from the cell loss laws.

A criterion that keeps the smallest losses up to a budget keeps everything below a
threshold and a share of whatever sits exactly at it. Solving for that threshold on the
mixture of cell laws gives the expected kept mass of every (true, observed) cell, hence
precision ``kept clean / kept`` and recall ``kept clean / all clean``. Ties at an atom are
split in proportion to mass, which is what breaking ties by sample index does on average.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from theory import probability, rsl
from theory.losses import Components, LossDistribution, Mixture, _cell_laws, epoch_sd
from theory.noise import _class_noise_rates
from theory.ties import exceeds
from theory.validation import check_prior, check_transition


@dataclass(frozen=True)
class Prediction:
    precision: float | None
    recall: float | None
    selected_fraction: float
    kept: np.ndarray  # kept[i, j]: expected kept mass of true class i observed as j


# Atoms closer than this (relative) are one value: the simulator's float32 outputs and
# losses resolve about 1e-7, so margins of T below ~1e-6 are ties there. Predictions for
# matrices with margins inside (0, 1e-5) may disagree with float32 simulation.
FLOAT32_RESOLUTION = 1e-6


MIXTURE_CACHE = 128  # a 100-class budget search revisits 100 columns and the whole grid
_mixtures: OrderedDict = OrderedDict()


def _prepared(laws, w: np.ndarray) -> tuple[Mixture, Components]:
    """``Mixture(laws, w)`` and ``Components(laws)``, reused while the same laws come with the
    same weights: a budget search asks for one column's mixture at every step, and building
    it sorts all its points (a 100-class overlap column holds 51,200). ``Components`` holds
    the laws, so while an entry lives no other object can take their ids, part of its key."""
    key = (tuple(map(id, laws)), w.tobytes())
    if key in _mixtures:
        _mixtures.move_to_end(key)
    else:
        _mixtures[key] = (Mixture(laws, w), Components(laws))
        if len(_mixtures) > MIXTURE_CACHE:
            _mixtures.popitem(last=False)
    return _mixtures[key]


def kept_below_budget(laws: list[LossDistribution], weights, budget: float) -> np.ndarray:
    """Kept mass of each component.

    The mixture of the components keeps its ``budget`` smallest-loss mass."""
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if budget >= total * (1 - 1e-12):
        return w.copy()
    if budget <= 0:
        return np.zeros_like(w)
    mix, components = _prepared(laws, w)
    t = float(mix.ppf(budget / total))
    # Atoms this close count as one: float32 losses cannot tell them apart, and the
    # bisection lands within rounding of an atom.
    d = FLOAT32_RESOLUTION * (1.0 + abs(t))
    below = w * components(t - d, left=True)
    at = w * components(t + d) - below
    theta = (budget - below.sum()) / at.sum() if at.sum() > 0 else 0.0
    return below + np.clip(theta, 0.0, 1.0) * at


def _summary(kept: np.ndarray, mass: np.ndarray) -> Prediction:
    clean_kept, clean_all, k = np.trace(kept), np.trace(mass), kept.sum()
    return Prediction(
        precision=float(clean_kept / k) if k > 0 else None,
        recall=float(clean_kept / clean_all) if clean_all > 0 else None,
        selected_fraction=float(k),
        kept=kept,
    )


def _cells(laws, mass, columns=None):
    c = len(mass)
    cols = range(c) if columns is None else columns
    return [(i, j) for j in cols for i in range(c) if laws[i][j] is not None and mass[i, j] > 0]


def per_class(laws, T, prior, fractions, *, validate: bool = True) -> Prediction:
    """Each observed class j keeps the ``fractions[j]`` share of its samples with smallest loss.
    ``validate=False``: T and the prior were checked by the caller (a bootstrap's inner loop
    calls this thousands of times on inputs checked once)."""
    if not validate:
        return _per_class(laws, T, prior, fractions)
    T = check_transition(T)
    return _per_class(laws, T, check_prior(prior, len(T)), fractions)


def _per_class(laws, T, p, fractions) -> Prediction:
    mass = p[:, None] * T
    kept = np.zeros_like(mass)
    for j in range(len(T)):
        cells = _cells(laws, mass, [j])
        if not cells:
            continue
        w = [mass[i, j] for i, _ in cells]
        k = kept_below_budget([laws[i][j] for i, _ in cells], w, fractions[j] * sum(w))
        for (i, _), kk in zip(cells, k):
            kept[i, j] = kk
    return _summary(kept, mass)


def global_(laws, T, prior, fraction: float, *, validate: bool = True) -> Prediction:
    """One ranking of all samples keeps the ``fraction`` share with smallest loss
    (``validate``: as in ``per_class``)."""
    if not validate:
        return _global_(laws, T, prior, fraction)
    T = check_transition(T)
    return _global_(laws, T, check_prior(prior, len(T)), fraction)


def _global_(laws, T, p, fraction) -> Prediction:
    mass = p[:, None] * T
    cells = _cells(laws, mass)
    k = kept_below_budget([laws[i][j] for i, j in cells], [mass[i, j] for i, j in cells], fraction)
    kept = np.zeros_like(mass)
    for (i, j), kk in zip(cells, k):
        kept[i, j] = kk
    return _summary(kept, mass)


def oracle_fractions(T, prior) -> np.ndarray:
    """The share of each observed class that is clean, ``1 - eta_j`` (the oracle budget)."""
    T = check_transition(T)
    return _oracle_fractions(T, check_prior(prior, len(T)))


def _oracle_fractions(T, p) -> np.ndarray:
    return np.nan_to_num(1.0 - _class_noise_rates(T, p), nan=0.0)


# --- GMM (DivideMix) ----------------------------------------------------------------------


def _two_means(x, w):
    """The optimal weighted 2-means split of 1-D points (every cut of the sorted points tried)."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    cw, cx, cxx = np.cumsum(ws), np.cumsum(ws * xs), np.cumsum(ws * xs * xs)
    tw, tx, txx = cw[-1], cx[-1], cxx[-1]
    lw, lx, lxx = cw[:-1], cx[:-1], cxx[:-1]
    rw, rx, rxx = tw - lw, tx - lx, txx - lxx
    with np.errstate(invalid="ignore", divide="ignore"):
        sse = (lxx - lx**2 / lw) + (rxx - rx**2 / rw)
    sse = np.where((lw > 0) & (rw > 0) & (xs[:-1] < xs[1:]), sse, np.inf)
    left = np.zeros(x.size, dtype=bool)
    if np.isfinite(sse).any():
        left[order[: int(np.argmin(sse)) + 1]] = True
    else:
        left[order[: x.size // 2]] = True
    return np.stack([left, ~left], axis=1).astype(float)


GMM_BINS = 1 << 14


def _binned(x, w, bins: int):
    """Weighted points merged into at most ``bins`` equal-width bins, each at its points'
    weighted mean. The fit then costs O(bins) per EM step instead of O(points) (overlap cells
    bring 16,384 points each), and no point moves by more than a bin's width, 1/16,384 of the
    range: two orders of magnitude below the fit's variance floor."""
    lo, hi = float(x.min()), float(x.max())
    if x.size <= bins or hi == lo:
        return x, w
    k = np.minimum(((x - lo) * (bins / (hi - lo))).astype(np.int64), bins - 1)
    mass = np.bincount(k, weights=w, minlength=bins)
    first = np.bincount(k, weights=w * x, minlength=bins)
    full = mass > 0
    return first[full] / mass[full], mass[full]


def _weighted_em(x, w, iters=10, tol=1e-2, reg=5e-4):
    """scikit-learn's GaussianMixture recipe (k-means start, then EM), on weighted points.

    Hand-written because GaussianMixture takes no sample weights, and the population fit
    needs them (atoms carry mass). DivideMix's settings: 10 iterations, tolerance 1e-2 on
    the mean log-likelihood, variance floor 5e-4. The k-means start is the optimal 2-means
    split, which k-means++ finds on such one-dimensional data.
    """
    w = w / w.sum()
    r = _two_means(x, w)
    prev = -np.inf
    for step in range(iters + 1):
        rw = r * w[:, None]
        nk = rw.sum(axis=0) + 1e-300
        pi, mu = nk, (rw * x[:, None]).sum(axis=0) / nk
        var = (rw * (x[:, None] - mu) ** 2).sum(axis=0) / nk + reg
        if step == iters:
            break
        logp = -0.5 * ((x[:, None] - mu) ** 2 / var + np.log(2 * np.pi * var)) + np.log(pi)
        top = logp.max(axis=1, keepdims=True)
        ll = float(w @ (top.ravel() + np.log(np.exp(logp - top).sum(axis=1))))
        r = np.exp(logp - top)
        r /= r.sum(axis=1, keepdims=True)
        if abs(ll - prev) < tol:
            break
        prev = ll
    return pi, mu, var


def gmm(laws, T, prior, n: int) -> Prediction:
    """The DivideMix selection on the population: losses min-max normalised with the expected
    extremes of n samples, DivideMix's 2-component fit, keep P(low-mean component) > 0.5."""
    T = check_transition(T)
    return _gmm(laws, T, check_prior(prior, len(T)), n)


def _gmm(laws, T, p, n) -> Prediction:
    mass = p[:, None] * T
    cells = _cells(laws, mass)
    mix = Mixture([laws[i][j] for i, j in cells], [mass[i, j] for i, j in cells])
    lo, hi = float(mix.ppf(1.0 / (n + 1))), float(mix.ppf(n / (n + 1.0)))
    scale = hi - lo if hi > lo else 1.0
    # one discretisation per distinct law: cells that share a law share its points
    unique: dict[int, list] = {}
    for i, j in cells:
        unique.setdefault(id(laws[i][j]), [laws[i][j], 0.0, []])
        unique[id(laws[i][j])][1] += mass[i, j]
        unique[id(laws[i][j])][2].append((i, j))
    pts = [(law.quantile_atoms(), m) for law, m, _ in unique.values()]
    x = np.concatenate([(v - lo) / scale for (v, _), _ in pts])
    w = np.concatenate([cw * m for (_, cw), m in pts])
    pi, mu, var = _weighted_em(*_binned(x, w, GMM_BINS))
    low = int(np.argmin(mu))
    logp = -0.5 * ((x[:, None] - mu) ** 2 / var + np.log(var)) + np.log(pi)
    keep = logp[:, low] > logp[:, 1 - low]
    kept = np.zeros_like(mass)
    start = 0
    for ((v, cw), _), (_, _, members) in zip(pts, unique.values()):
        share = float(cw @ keep[start : start + v.size])
        start += v.size
        for i, j in members:
            kept[i, j] = share * mass[i, j]
    return _summary(kept, mass)


# --- confident learning --------------------------------------------------------------------


def confident_bayes(T, prior) -> Prediction:
    """Confident learning when the model outputs ``g* = T[f*(x)]``.

    Under g* every cell is kept whole or dropped whole."""
    T = check_transition(T)
    return _confident_bayes(T, check_prior(prior, len(T)))


def _confident_bayes(T, p) -> Prediction:
    mass = p[:, None] * T
    col = mass.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(col > 0, (mass * T).sum(axis=0) / col, np.inf)
    kept = np.zeros_like(mass)
    for i in range(len(T)):
        above = np.flatnonzero(~exceeds(t, T[i]))  # reaching the threshold up to a tie
        star = above[np.argmax(T[i, above])] if above.size else -1
        for j in range(len(T)):
            if mass[i, j] > 0 and (star < 0 or star == j):
                kept[i, j] = mass[i, j]
    return _summary(kept, mass)


# --- RSL -------------------------------------------------------------------------------------


def rsl_fractions(T, prior, beta: float = rsl.BETA, gamma: str = "mid") -> np.ndarray:
    """RSL's num(i) as a share of each observed class, in expectation (no flooring)."""
    T = check_transition(T)
    return _rsl_fractions(T, check_prior(prior, len(T)), beta, gamma)


def _rsl_fractions(T, p, beta: float = rsl.BETA, gamma: str = "mid") -> np.ndarray:
    n = p @ T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, rsl.num(n, _class_noise_rates(T, p), p, beta, gamma) / n, 0.0)


def predict_all(
    T,
    prior=None,
    model: str = "bayes",
    *,
    fractions,
    n: int,
    epsilon=0.0,
    separation=1.0,
    alpha=1.0,
    sigma=0.0,
    rho=0.0,
    epochs=1,
    cleanlab=True,
) -> dict[str, Prediction | None]:
    """Every criterion's prediction for one setting (``cleanlab=False`` leaves out cleanlab's,
    the slowest at 100 classes).

    ``fractions``: the per-class budget (share of each observed class) of ``classwise``;
    ``global`` keeps the same total. ``rsl`` keeps RSL's own budgets of the epoch-mean
    loss; the others rank the last epoch's loss.
    """
    T = check_transition(T)
    p = check_prior(prior, len(T))
    single_sd = sigma if sigma > 0 else 0.0
    mean_sd = epoch_sd(sigma, rho, epochs) if sigma > 0 else 0.0
    common = {"epsilon": epsilon, "separation": separation, "alpha": alpha, "qmc_points": None}
    laws = _cell_laws(T, p, model, sd=single_sd, **common)
    mean_laws = laws if mean_sd == single_sd else _cell_laws(T, p, model, sd=mean_sd, **common)
    # the probability criteria read the outputs, not the (fluctuating) losses, so the epoch
    # fluctuation does not enter; both read one set of output points
    g_star = _is_g_star(model, epsilon)
    points = None
    if cleanlab or not g_star:
        points = _output_points(T, p, model, epsilon, separation, alpha)
    return {
        **_loss_criteria(laws, mean_laws, T, p, fractions, n),
        "confident": _confident_bayes(T, p) if g_star else confident_from_points(points, p),
        "cleanlab": cleanlab_from_points(points, p) if cleanlab else None,
    }


def _is_g_star(model: str, epsilon) -> bool:
    return model == "bayes" or (model == "perturbed" and epsilon == 0)


def _output_points(T, p, model, epsilon, separation, alpha) -> list:
    """The model's outputs as weighted points per true class (``theory.probability``)."""
    if _is_g_star(model, epsilon):
        return [(np.ones(1), T[i][None], T[i][None]) for i in range(len(T))]  # g* is T[i]
    if model == "perturbed":
        return probability.perturbed_points(T, epsilon, alpha)
    return probability.overlap_class_points(T, separation, p)


def cleanlab_from_points(points, p) -> Prediction:
    """cleanlab's default prediction from weighted output points (``theory.probability``)."""
    return _summary(*probability.cleanlab_kept(points, p))


def confident_from_points(points, p) -> Prediction:
    """Confident learning's prediction from weighted output points (``theory.probability``)."""
    return _summary(*probability.confident_kept(points, p))


def predict_from_laws(
    laws, mean_laws, T, prior, *, fractions, n: int, global_total=None, rsl_fractions=None
) -> dict[str, Prediction]:
    """The loss criteria's predictions from cell laws made elsewhere (``laws`` of the last
    epoch's loss, ``mean_laws`` of the epoch-mean loss), with cell masses ``prior_i T[i, j]``.

    ``global`` keeps ``global_total`` (default: what ``fractions`` keep in all) and ``rsl``
    keeps ``rsl_fractions`` (default: RSL's own budgets)."""
    T = check_transition(T)
    p = check_prior(prior, len(T))
    return _loss_criteria(laws, mean_laws, T, p, fractions, n, global_total, rsl_fractions)


def _loss_criteria(
    laws, mean_laws, T, p, fractions, n, global_total=None, rsl_fractions=None
) -> dict[str, Prediction]:
    fractions = np.asarray(fractions, dtype=np.float64)
    total = float((p @ T) @ fractions) if global_total is None else float(global_total)
    rsl_f = _rsl_fractions(T, p) if rsl_fractions is None else np.asarray(rsl_fractions, float)
    return {
        "global": _global_(laws, T, p, total),
        "classwise": _per_class(laws, T, p, fractions),
        "rsl": _per_class(mean_laws, T, p, rsl_f),
        "gmm": _gmm(laws, T, p, n),
    }
