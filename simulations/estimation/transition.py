"""The transition matrix from labels alone, with its uncertainty.

Four sources of evidence, one method each: several annotators per item (Dawid-Skene),
one noisy label with out-of-sample probabilities (the confident joint, anchor points),
and (clean, noisy) pairs. Every method gives T, the class prior and the noise rate; the
uncertainty is a set of draws of (T, prior) from the Jeffreys-Dirichlet posterior (pairs)
or a bootstrap over items (the rest), summarised by ``summarise``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import nnls

from simulations.estimation import dawid_skene
from theory.conditions import CONDITIONS, report
from theory.errors import InputError
from theory.noise import noise_rate
from theory.validation import check_labels, check_unit

CROWD_METHODS = ("ds", "ds-easy")
METHODS = (*CROWD_METHODS, "confident", "anchor", "mixture", "pairs")
# a bootstrap refit of ds-easy stops sooner: the spread it feeds is sampling's, far above
# the last 1e-3 of the log likelihood
_REFIT_FTOL = 1e-8
ANCHOR_QUANTILE = 0.97  # Patrini et al. (2017): a high quantile, not the maximum, resists outliers


@dataclass
class Estimate:
    method: str
    T: np.ndarray
    prior: np.ndarray
    annotators: dict = field(default_factory=dict)  # key -> T of that annotator
    details: dict = field(default_factory=dict)

    @property
    def noise_rate(self) -> float:
        return noise_rate(self.T, self.prior)


def t_error(T_hat, T) -> float:
    """``sum |T_hat - T| / c * 100``: the T error of HOC (Zhu et al. 2021) and CIFAR-N."""
    return float(np.abs(np.asarray(T_hat) - T).sum() / len(T) * 100)


def _rows(counts: np.ndarray) -> np.ndarray:
    rows = counts.sum(1, keepdims=True)
    c = counts.shape[1]
    return np.divide(counts, rows, out=np.full(counts.shape, 1.0 / c), where=rows > 0)


def _pair_counts(clean, noisy, classes):
    counts = np.zeros((classes, classes))
    np.add.at(counts, (clean, noisy), 1.0)
    return counts


def from_pairs(clean, noisy, classes: int) -> Estimate:
    """T and prior as frequencies of (clean, noisy) pairs."""
    counts = _pair_counts(clean, noisy, classes)
    prior = counts.sum(1) / counts.sum()
    return Estimate("pairs", _rows(counts), prior, details={"counts": counts})


def _pairs_draws(est: Estimate, draws: int, rng) -> tuple[np.ndarray, np.ndarray]:
    # Jeffreys prior Dirichlet(1/2): each row of T and the prior from its posterior
    counts = est.details["counts"]
    Ts = np.stack([rng.dirichlet(row + 0.5, size=draws) for row in counts], axis=1)
    priors = rng.dirichlet(counts.sum(1) + 0.5, size=draws)
    return Ts, priors


@dataclass
class _Crowd:
    patterns: np.ndarray  # (m, A + 1): annotations, then the target (or -1)
    counts: np.ndarray
    rule: str | None
    keys: list


def from_annotators(
    annotations, keys, classes: int, target=None, rule="auto", model="ds", independence=False
):
    """T of ``target`` (a derived label set) or of the first annotator, from (n, A) annotations.

    ``model``: ``ds`` (Dawid-Skene) or ``ds-easy`` (``dawid_skene.easy_items``: errors only on
    hard items). ``independence``: also test the first against the second
    (``details["independence"]``). ``rule``: how ``target`` relates to the annotations
    (``observed``, ``worst`` or ``auto`` to infer it, see ``dawid_skene.infer_rule``).
    """
    annotations = np.asarray(annotations)
    if target is not None and rule == "auto":
        rule = dawid_skene.infer_rule(annotations, np.asarray(target))
    tcol = np.full(len(annotations), dawid_skene.MISSING) if target is None else np.asarray(target)
    patterns, _, counts = dawid_skene.label_patterns(np.column_stack([annotations, tcol]))
    data = _Crowd(patterns, counts, None if target is None else rule, list(keys))
    ann = patterns[:, :-1]
    ds = dawid_skene.dawid_skene(ann, counts, classes)
    easy = (
        dawid_skene.easy_items(ann, counts, classes, start=ds)
        if model == "ds-easy" or independence
        else None
    )
    e = _crowd_estimate(data, classes, counts, ds if model == "ds" else easy, model)
    if independence:
        null = dawid_skene.easy_items(ann, counts, classes, start=ds, independent=True)
        e.details["independence"] = dawid_skene.independence_test(null, easy)
    return e


def _refit(data: _Crowd, classes: int, counts, model: str, warm) -> Estimate:
    ann = data.patterns[:, :-1]
    if model == "ds":
        fit = dawid_skene.dawid_skene(ann, counts, classes, start=warm.posterior)
    else:
        fit = dawid_skene.easy_items(ann, counts, classes, params=warm.params, ftol=_REFIT_FTOL)
    return _crowd_estimate(data, classes, counts, fit, model)


def _crowd_estimate(data: _Crowd, classes: int, counts, fit, model: str) -> Estimate:
    ann, tgt = data.patterns[:, :-1], data.patterns[:, -1]
    annotators = {}
    for a, key in enumerate(data.keys):
        law = dawid_skene.target_law(ann, ann[:, a], classes, "observed")
        annotators[key] = dawid_skene.transition_from_posterior(fit.posterior, counts, law)
    if data.rule is None:
        T = annotators[data.keys[0]]
    else:
        T = dawid_skene.transition_from_posterior(
            fit.posterior, counts, dawid_skene.target_law(ann, tgt, classes, data.rule)
        )
    details = {"data": data, "fit": fit, "iterations": fit.iterations, "rule": data.rule}
    if model == "ds-easy":
        details["easy_share"] = 1.0 - fit.hard
    return Estimate(model, T, fit.prior, annotators, details)


def _crowd_draws(est: Estimate, draws: int, rng, classes: int):
    data = est.details["data"]
    n = int(data.counts.sum())
    Ts, priors, ann = [], [], {k: [] for k in data.keys}
    for _ in range(draws):
        counts = rng.multinomial(n, data.counts / n).astype(float)
        e = _refit(data, classes, counts, est.method, est.details["fit"])
        Ts.append(e.T)
        priors.append(e.prior)
        for k in data.keys:
            ann[k].append(e.annotators[k])
    return np.array(Ts), np.array(priors), {k: np.array(v) for k, v in ann.items()}


def confident_joint(noisy, probs, classes: int) -> Estimate:
    """cleanlab's calibrated confident joint, read as T (rows = true class)."""
    from cleanlab.count import estimate_joint  # optional dependency, loaded when used

    joint = estimate_joint(noisy, probs)  # [given label, true label]
    return Estimate("confident", _rows(joint.T), joint.sum(0))


def anchor_points(noisy, probs, classes: int) -> Estimate:
    """Patrini et al.'s anchors: the probability row of each class's near-most confident item.

    ``probs`` must estimate P(noisy label | x) out of sample; the anchor of class i is the
    item at the 97th percentile of ``probs[:, i]``, and its probability row estimates T[i].
    """
    T = np.empty((classes, classes))
    for i in range(classes):
        col = probs[:, i]
        pick = np.argmin(np.abs(col - np.quantile(col, ANCHOR_QUANTILE, method="lower")))
        T[i] = probs[pick]
    T = _rows(np.clip(T, 0.0, None))
    noisy_prior = np.bincount(noisy, minlength=classes) / len(noisy)
    prior = _prior_from_noisy(T, noisy_prior)
    return Estimate("anchor", T, prior)


def _prior_from_noisy(T, noisy_prior):
    # the clean prior p solves p @ T = noisy prior; least squares on the simplex
    p, _ = nnls(T.T, noisy_prior)
    return p / p.sum() if p.sum() > 0 else np.full(len(T), 1.0 / len(T))


RIDGE = 1e-3  # added to each covariance: centred log-probabilities span c - 1 dimensions


def _log_density(z, resp, mass):
    """(n, c): log of each class's Gaussian (weighted mean and full covariance) at each row."""
    n, d = z.shape
    out = np.empty((n, resp.shape[1]))
    for i in range(resp.shape[1]):
        mean = resp[:, i] @ z / mass[i]
        dev = z - mean
        cov = (resp[:, i, None] * dev).T @ dev / mass[i] + RIDGE * np.eye(d)
        chol = np.linalg.cholesky(cov)
        w = solve_triangular(chol, dev.T, lower=True)
        out[:, i] = -0.5 * (w * w).sum(0) - np.log(np.diag(chol)).sum()
    return out - 0.5 * d * np.log(2 * np.pi)


def loss_mixture(noisy, probs, classes: int, max_iter: int = 300, tol: float = 1e-8) -> Estimate:
    """T as the mixture weights that explain each observed class's loss vectors.

    Under class-conditional noise the noisy label depends on the item only through its true
    class, so out-of-sample losses ``-log probs`` and the noisy label are independent given
    the true class: the items labelled j hold a mixture, over true classes i with weights
    ``prior_i T[i, j]``, of the same per-class laws of the loss vector. EM fits that latent
    class model, with a Gaussian law (full covariance) per class on the centred
    log-probabilities, starting from the predicted class.
    """
    z = np.log(np.clip(probs, 1e-6, 1.0))
    z -= z.mean(1, keepdims=True)
    onehot = np.eye(classes)[noisy]
    resp = 0.9 * np.eye(classes)[probs.argmax(1)] + 0.1 / classes
    previous = -np.inf
    for _ in range(max_iter):
        mass = resp.sum(0) + 1e-12
        prior = mass / mass.sum()
        T = _rows(resp.T @ onehot + 1e-12)
        log_joint = np.log(prior)[None] + np.log(T[:, noisy]).T + _log_density(z, resp, mass)
        resp, log_evidence = dawid_skene.normalise_log(log_joint)
        ll = float(log_evidence.sum())
        if ll - previous <= tol * abs(ll):
            break
        previous = ll
    return Estimate("mixture", T, prior)


_SINGLE = {"confident": confident_joint, "anchor": anchor_points, "mixture": loss_mixture}


def from_probs(noisy, probs, classes: int, method: str) -> Estimate:
    est = _SINGLE[method](noisy, probs, classes)
    est.details.update({"noisy": noisy, "probs": probs})
    return est


def _probs_draws(est: Estimate, draws: int, rng, classes: int):
    noisy, probs = est.details["noisy"], est.details["probs"]
    Ts, priors = [], []
    for _ in range(draws):
        idx = rng.integers(0, len(noisy), len(noisy))
        e = _SINGLE[est.method](noisy[idx], probs[idx], classes)
        Ts.append(e.T)
        priors.append(e.prior)
    return np.array(Ts), np.array(priors), {}


def draws(est: Estimate, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """``count`` draws of (T, prior) that carry the estimate's sampling uncertainty."""
    rng = np.random.default_rng(seed)
    c = len(est.T)
    if est.method == "pairs":
        return (*_pairs_draws(est, count, rng), {})
    if est.method in CROWD_METHODS:
        return _crowd_draws(est, count, rng, c)
    return _probs_draws(est, count, rng, c)


def interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` interval of draws, entry by entry (draws along axis 0)."""
    tail = (1.0 - level) / 2.0
    return np.quantile(values, tail, axis=0), np.quantile(values, 1.0 - tail, axis=0)


def summarise(est: Estimate, Ts, priors, level: float) -> dict:
    """Intervals for T, the noise rate, margins and epsilon*, and each condition's probability."""
    level = check_unit(level, "--level")
    low, high = interval(Ts, level)
    if est.method == "pairs":
        # the Jeffreys interval's convention: an entry never observed has lower limit 0
        low = np.where(est.details["counts"] == 0, 0.0, low)
    reports = [report(T, p) for T, p in zip(Ts, priors, strict=True)]
    rates = np.array([r.noise_rate for r in reports])
    out = {"T_low": low.tolist(), "T_high": high.tolist()}
    out["noise_rate_low"], out["noise_rate_high"] = map(float, interval(rates, level))
    for name in ("row_margin", "column_margin", "epsilon_star"):
        lo, hi = interval(np.array([getattr(r, name) for r in reports]), level)
        out[f"{name}_low"], out[f"{name}_high"] = float(lo), float(hi)
    out["probabilities"] = {k: float(np.mean([getattr(r, k) for r in reports])) for k in CONDITIONS}
    return out


def check_probs(probs, n: int, classes: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=float)
    if probs.shape != (n, classes):
        raise InputError(f"--probs must have shape ({n}, {classes}), not {probs.shape}")
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise InputError("--probs must be finite and non-negative")
    if not np.allclose(probs.sum(1), 1.0, atol=1e-4):
        raise InputError("--probs rows must sum to 1 (predicted class probabilities)")
    return probs


def check_annotations(arrays: dict) -> np.ndarray:
    """(n, A) annotations from label arrays of equal length; negative entries are missing."""
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise InputError("the --noisy label arrays differ in length")
    cols = []
    for key, a in arrays.items():
        a = np.asarray(a)
        seen = check_labels(a[a >= 0] if a.dtype.kind in "iuf" else a, f"labels {key!r}")
        col = np.full(len(a), dawid_skene.MISSING, dtype=np.int64)
        col[a >= 0] = seen
        cols.append(col)
    return np.column_stack(cols)
