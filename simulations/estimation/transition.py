"""The transition matrix from labels alone, with its uncertainty.

Four sources of evidence, one method each: several annotators per item (Dawid-Skene),
one noisy label with out-of-sample probabilities (the confident joint, anchor points),
and (clean, noisy) pairs. Every method gives T, the class prior and the noise rate; the
uncertainty is a set of draws of (T, prior) from the Jeffreys-Dirichlet posterior (pairs)
or a bootstrap over items (the rest), summarised by ``summarise``.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls
from threadpoolctl import threadpool_limits

from simulations.estimation import dawid_skene
from simulations.estimation.methods import CROWD_METHODS
from theory.conditions import CONDITIONS, report
from theory.errors import InputError
from theory.noise import noise_rate
from theory.validation import check_labels, check_unit

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


def _crowd_estimate(data: _Crowd, classes: int, counts, fit, model: str) -> Estimate:
    T, annotators = _crowd_transitions(data, classes, counts, fit.posterior)
    details = {"data": data, "fit": fit, "iterations": fit.iterations, "rule": data.rule}
    if model == "ds-easy":
        details["easy_share"] = 1.0 - fit.hard
    return Estimate(model, T, fit.prior, annotators, details)


def _crowd_draws(est: Estimate, draws: int, rng, classes: int, tick):
    """Refits of the crowd model on multinomial redraws of the pattern counts, as one stack:
    ``ds`` by ``dawid_skene_batch`` (each refit what ``dawid_skene`` gives it), ``ds-easy`` one
    L-BFGS-B refit at a time from the full-data fit, with the compiled objective."""
    data, fit = est.details["data"], est.details["fit"]
    n = int(data.counts.sum())
    counts = np.array([rng.multinomial(n, data.counts / n) for _ in range(draws)], dtype=float)
    ann = data.patterns[:, :-1]
    if est.method == "ds":
        priors, _, posts, _ = dawid_skene.dawid_skene_batch(
            ann, counts, classes, start=fit.posterior, progress=tick
        )
    else:
        refits = dawid_skene.refit_easy_items(
            ann, counts, classes, fit.params, _REFIT_FTOL, progress=tick
        )
        priors = np.array([r.prior for r in refits])
        posts = np.array([r.posterior for r in refits])
    Ts, annotators = _crowd_transitions(data, classes, counts, posts)
    return Ts, priors, annotators


def _crowd_transitions(data: _Crowd, classes: int, counts, posterior):
    """T of the target (or first annotator) and of every annotator, from pattern posteriors:
    one fit's (m, c) or a stack's (B, m, c)."""
    ann, tgt = data.patterns[:, :-1], data.patterns[:, -1]
    annotators = {}
    for a, key in enumerate(data.keys):
        law = dawid_skene.target_law(ann, ann[:, a], classes, "observed")
        annotators[key] = dawid_skene.transition_from_posterior(posterior, counts, law)
    if data.rule is None:
        return annotators[data.keys[0]], annotators
    law = dawid_skene.target_law(ann, tgt, classes, data.rule)
    return dawid_skene.transition_from_posterior(posterior, counts, law), annotators


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


class _MixtureData:
    """What every EM step of ``loss_mixture`` reads, laid out once: per item its centred
    log-probabilities z, their products z_k z_l (k <= l), the one-hot noisy label and a 1,
    as the rows of ``F`` (features, n). A weighted M-step is then one product
    (weights x responsibilities) @ F.T, and an E-step's log joint one product coef @ F, the
    quadratic form of each class's Gaussian expanded over the products.

    The centred log-probabilities of p columns lie in the p - 1 directions orthogonal to
    the ones, where z is written (d = p - 1 coordinates): along the ones every covariance is
    the ridge alone and every deviation 0, so the p-dimensional density is the (p - 1)-
    dimensional one times a constant, ``offset`` in logs, which the E-step adds back (the
    same fit and likelihood, 15% fewer features)."""

    def __init__(self, noisy, probs, classes: int):
        z = np.log(np.clip(probs, 1e-6, 1.0))
        z -= z.mean(1, keepdims=True)
        self.offset = 0.0
        if z.shape[1] > 1:
            p = z.shape[1]
            basis = np.linalg.qr(np.eye(p)[:, :-1] - 1.0 / p)[0]  # orthonormal, orthogonal to 1
            z = z @ basis
            self.offset = -0.5 * np.log(2 * np.pi * RIDGE)
        self.n, self.d = z.shape
        self.classes = classes
        self.upper = np.triu_indices(self.d)
        self.k = len(self.upper[0])
        products = z[:, self.upper[0]] * z[:, self.upper[1]]
        onehot = np.eye(classes)[noisy]
        self.F = np.ascontiguousarray(
            np.concatenate([products, z, onehot, np.ones((self.n, 1))], 1).T
        )
        self.FT = np.ascontiguousarray(self.F.T)
        self.twice = np.where(self.upper[0] == self.upper[1], 1.0, 2.0)  # off-diagonal pairs
        self.start = (0.9 * np.eye(classes)[probs.argmax(1)] + 0.1 / classes).T.copy()


def _mixture_m_step(data: _MixtureData, resp, weights):
    """(prior, T, mean, cov) of B weighted fits from their responsibilities (B, c, n)."""
    B, c, n = resp.shape
    d, k = data.d, data.k
    sums = ((resp * weights[:, None, :]).reshape(B * c, n) @ data.FT).reshape(B, c, -1)
    mass = sums[:, :, -1] + 1e-12
    prior = mass / mass.sum(1, keepdims=True)
    T = _rows_stack(sums[:, :, k + d : k + d + c] + 1e-12)
    mean = sums[:, :, k : k + d] / mass[:, :, None]
    second = sums[:, :, :k] / mass[:, :, None]
    cov = np.empty((B, c, d, d))
    cov[:, :, data.upper[0], data.upper[1]] = second
    cov[:, :, data.upper[1], data.upper[0]] = second
    cov -= mean[:, :, :, None] * mean[:, :, None, :]
    cov += RIDGE * np.eye(d)
    return prior, T, mean, cov


def _mixture_e_step(data: _MixtureData, prior, T, mean, cov, weights):
    """(responsibilities (B, c, n), log likelihood (B,)) of B fits' parameters."""
    B, c = prior.shape
    d = data.d
    chol = np.linalg.cholesky(cov)
    log_det = np.log(np.diagonal(chol, axis1=2, axis2=3)).sum(2)
    precision = np.linalg.inv(cov)
    pm = (precision @ mean[..., None])[..., 0]
    const = (
        np.log(prior)
        - log_det
        - 0.5 * d * np.log(2 * np.pi)
        - 0.5 * (mean * pm).sum(2)
        + data.offset
    )
    coef = np.concatenate(
        [
            -0.5 * data.twice * precision[:, :, data.upper[0], data.upper[1]],
            pm,
            np.log(T),
            const[:, :, None],
        ],
        2,
    )
    log_joint = (coef.reshape(B * c, -1) @ data.F).reshape(B, c, data.n)
    top = log_joint.max(1, keepdims=True)
    log_joint -= top
    # a class e^-300 below the item's likeliest is 0: subnormal floats, which exp returns
    # from -708 down and products with F make of anything small, cost 100 times a normal
    # one and doubled the whole fit on informative probabilities
    np.putmask(log_joint, log_joint < _NEGLIGIBLE, -np.inf)
    np.exp(log_joint, out=log_joint)
    total = log_joint.sum(1, keepdims=True)
    log_joint /= total
    return log_joint, (weights * (np.log(total[:, 0]) + top[:, 0])).sum(1)


def _rows_stack(counts: np.ndarray) -> np.ndarray:
    rows = counts.sum(-1, keepdims=True)
    c = counts.shape[-1]
    return np.divide(counts, rows, out=np.full(counts.shape, 1.0 / c), where=rows > 0)


_NEGLIGIBLE = -300.0
# responsibilities of this many (fit, class, item) entries at a time: a stack stays in cache
_MIXTURE_ENTRIES = 1 << 19


def mixture_fits(
    data: _MixtureData,
    weights,
    max_iter: int = 300,
    tol: float = 1e-8,
    progress=None,
    start=None,
    posterior: bool = False,
    accelerate: bool = True,
):
    """``loss_mixture``'s EM for B item weightings (B, n) at once (a bootstrap's resamples are
    multinomial counts of the items), each from the same start and stopped by the same rule
    at its own step (``_squarem_step``; ``max_iter`` counts EM steps): each gives what
    ``loss_mixture`` gives on the resampled rows from the same start, to rounding.
    ``start``: the responsibilities (c, n) of the first M-step (default: the predicted
    class); ``accelerate=False``: plain EM steps. The fits run as stacks on two threads
    (NumPy and BLAS, held to one thread each, run without the GIL); ``progress`` is called
    with the number of fits that just stopped. Returns (T (B, c, c), prior (B, c), EM steps
    (B,)), and with ``posterior`` the last E-step's responsibilities (B, c, n) too."""
    W = np.atleast_2d(np.asarray(weights, dtype=float))
    B, c = len(W), data.classes
    start = data.start if start is None else np.asarray(start, dtype=float)
    out = (np.empty((B, c, c)), np.empty((B, c)), np.zeros(B, dtype=np.int64))
    if posterior:
        out += (np.empty((B, c, data.n)),)
    lock = threading.Lock()

    def report(k: int) -> None:
        if progress is not None and k:
            with lock:
                progress(k)

    threads = 2 if B > 1 and (os.cpu_count() or 1) > 1 else 1
    queues = [list(range(t, B, threads))[::-1] for t in range(threads)]
    args = (max_iter, tol, out, report, accelerate)
    with threadpool_limits(limits=1, user_api="blas"):  # BLAS threads cost more than they give
        if threads == 1:
            _mixture_stack(data, W, start, queues[0], *args)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                jobs = [pool.submit(_mixture_stack, data, W, start, q, *args) for q in queues]
                for job in jobs:
                    job.result()
    return out


def _em_map(data: _MixtureData, resp, w):
    """One EM step of B fits from their responsibilities: (responsibilities, log likelihood
    of the parameters the M-step made, prior, T)."""
    prior, T, mean, cov = _mixture_m_step(data, resp, w)
    resp, ll = _mixture_e_step(data, prior, T, mean, cov, w)
    return resp, ll, prior, T


def _squarem_step(data: _MixtureData, resp, w):
    """Three EM steps' work for each of B fits, accelerated (SQUAREM, Varadhan and Roland
    2008, step length -|r|/|v|): two EM steps from ``resp``, a step along their squared
    extrapolation (projected back onto the simplex, where any responsibilities give valid
    parameters; norms over the items as weighted), and one EM step from there; a fit whose
    extrapolated step lowers the likelihood below the second plain step's keeps that plain
    step (so a step goes down no more than EM's own, approximate here: the covariance's
    ridge and small offsets make the M-step not quite the maximiser). Returns
    (responsibilities, log likelihood, prior, T)."""
    r1, _, _, _ = _em_map(data, resp, w)
    r2, ll2, prior2, T2 = _em_map(data, r1, w)
    d1 = np.subtract(r1, resp, out=r1)  # r1 is not read again
    d2 = r2 - resp
    d2 -= d1
    d2 -= d1  # r2 - 2 r1 + resp
    # weighted, so that a resample's fit is the fit of its rows
    n1 = np.sqrt(np.einsum("bcn,bcn,bn->b", d1, d1, w))
    n2 = np.sqrt(np.einsum("bcn,bcn,bn->b", d2, d2, w))
    # at -1 the extrapolation is the second plain step itself
    alpha = np.minimum(-n1 / np.where(n2 > 0, n2, 1.0), -1.0)[:, None, None]
    jump = np.multiply(d2, alpha * alpha, out=d2)  # resp - 2 alpha d1 + alpha^2 d2, in place
    jump += resp
    d1 *= -2 * alpha
    jump += d1
    np.clip(jump, 0.0, None, out=jump)
    jump /= jump.sum(1, keepdims=True)
    r3, ll3, prior3, T3 = _em_map(data, jump, w)
    down = ~(np.isfinite(ll3) & (ll3 >= ll2))
    if down.any():
        r3[down], ll3[down], prior3[down], T3[down] = r2[down], ll2[down], prior2[down], T2[down]
    return r3, ll3, prior3, T3


# a step and the EM steps it costs (iterations count EM steps); plain EM is the baseline
# that ``smallloss bench`` times against
STEPS = {True: (_squarem_step, 3), False: (_em_map, 1)}


def _mixture_stack(
    data: _MixtureData, W, start, pending: list, max_iter, tol, out, report, accelerate=True
):
    """Steps (SQUAREM, or plain EM without ``accelerate``) on a stack of fits taken from
    ``pending``; a fit that stops hands its slot to the next one, so the stack stays full.
    Writes each fit's (T, prior, EM steps) and, where ``out`` has room for them, its
    responsibilities into ``out``."""
    c = data.classes
    out_T, out_prior, out_iter = out[:3]
    step, maps = STEPS[accelerate]
    slots = max(1, _MIXTURE_ENTRIES // (c * data.n))
    live = np.zeros(0, dtype=np.int64)
    resp, w = np.zeros((0, c, data.n)), np.zeros((0, data.n))
    previous, iteration = np.zeros(0), np.zeros(0, dtype=np.int64)
    while pending or len(live):
        new = [pending.pop() for _ in range(min(slots - len(live), len(pending)))]
        if new:
            live = np.concatenate([live, new])
            resp = np.concatenate([resp, np.broadcast_to(start, (len(new), c, data.n))])
            w = np.concatenate([w, W[new]])
            previous = np.concatenate([previous, np.full(len(new), -np.inf)])
            iteration = np.concatenate([iteration, np.zeros(len(new), dtype=np.int64)])
        iteration += maps
        resp, ll, prior, T = step(data, resp, w)
        done = (ll - previous <= tol * np.abs(ll)) | (iteration >= max_iter)
        if not done.any():  # the stack goes on as it is, uncopied
            previous = ll
            continue
        k = live[done]
        out_T[k], out_prior[k], out_iter[k] = T[done], prior[done], iteration[done]
        if len(out) > 3:
            out[3][k] = resp[done]
        report(len(k))
        keep = ~done
        live, resp, w, previous, iteration = (v[keep] for v in (live, resp, w, ll, iteration))


def loss_mixture(
    noisy, probs, classes: int, max_iter: int = 300, tol: float = 1e-8, start=None
) -> Estimate:
    """T as the mixture weights that explain each observed class's loss vectors.

    Under class-conditional noise the noisy label depends on the item only through its true
    class, so out-of-sample losses ``-log probs`` and the noisy label are independent given
    the true class: the items labelled j hold a mixture, over true classes i with weights
    ``prior_i T[i, j]``, of the same per-class laws of the loss vector. EM (accelerated by
    SQUAREM) fits that latent class model, with a Gaussian law (full covariance) per class
    on the centred log-probabilities, starting from the predicted class (``mixture_fits``),
    or from the responsibilities ``start`` (c, n). ``details["posterior"]`` holds the fit's (c, n).
    """
    data = _MixtureData(noisy, probs, classes)
    T, prior, _, post = mixture_fits(
        data, np.ones((1, len(noisy))), max_iter, tol, start=start, posterior=True
    )
    return Estimate("mixture", T[0], prior[0], details={"mixture": data, "posterior": post[0]})


_SINGLE = {"confident": confident_joint, "anchor": anchor_points, "mixture": loss_mixture}


def from_probs(noisy, probs, classes: int, method: str) -> Estimate:
    est = _SINGLE[method](noisy, probs, classes)
    est.details.update({"noisy": noisy, "probs": probs})
    return est


def _probs_draws(est: Estimate, draws: int, rng, classes: int, tick):
    """Refits on items drawn with replacement, the probabilities held fixed. The mixture's
    refits run as one stack of weighted EMs (``mixture_fits``: the same draws, the same
    fits), each started, as mclust's MclustBootstrap starts its refits, from the full fit's
    responsibilities of its items, so each refit stays in the full fit's basin (and its
    classes keep their labels). The interval is then conditional on that mode: it leaves
    out refits that would land elsewhere, and where the likelihood is flat a refit may stop
    near its start; the confident joint and anchors refit one resample at a time."""
    noisy, probs = est.details["noisy"], est.details["probs"]
    n = len(noisy)
    resamples = (rng.integers(0, n, n) for _ in range(draws))
    if est.method == "mixture":
        weights = np.array([np.bincount(idx, minlength=n) for idx in resamples], dtype=float)
        data, start = est.details["mixture"], est.details["posterior"]
        Ts, priors, _ = mixture_fits(data, weights, progress=tick, start=start)
        return Ts, priors, {}
    Ts, priors = [], []
    for idx in resamples:
        e = _SINGLE[est.method](noisy[idx], probs[idx], classes)
        Ts.append(e.T)
        priors.append(e.prior)
        tick(1)
    return np.array(Ts), np.array(priors), {}


MIN_DRAWS = 10  # fewer draws give no usable 5% / 95% quantiles


def draws(
    est: Estimate, count: int, seed: int, progress=None
) -> tuple[np.ndarray, np.ndarray, dict]:
    """``count`` draws of (T, prior) that carry the estimate's sampling uncertainty.

    ``progress``: called with the number of draws just finished, as they finish (a progress
    bar's ``update``)."""
    rng = np.random.default_rng(seed)
    c = len(est.T)
    tick = progress or (lambda k: None)
    if est.method == "pairs":
        out = (*_pairs_draws(est, count, rng), {})
        tick(count)
        return out
    if est.method in CROWD_METHODS:
        return _crowd_draws(est, count, rng, c, tick)
    return _probs_draws(est, count, rng, c, tick)


def interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` interval of draws, entry by entry (draws along axis 0)."""
    tail = (1.0 - level) / 2.0
    return np.quantile(values, tail, axis=0), np.quantile(values, 1.0 - tail, axis=0)


def summarise(est: Estimate, Ts, priors, level: float) -> dict:
    """Intervals for T, the noise rate, margins and epsilon*, and for each condition the share
    of the draws in which it holds (``bootstrap_share``: a calibrated probability only for
    ``pairs``, whose draws are a posterior's; for the other methods a share of bootstrap
    refits, see the README)."""
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
    out["bootstrap_share"] = {
        k: float(np.mean([getattr(r, k) for r in reports])) for k in CONDITIONS
    }
    return out


def check_probs(probs, n: int, classes: int) -> np.ndarray:
    """(n, c) out-of-sample probabilities for n labels that reach class ``classes - 1``: at
    least ``classes`` columns (more: classes no label gives), finite, non-negative, rows
    summing to 1 within 1e-4. Every message names ``--probs``."""
    try:
        probs = np.asarray(probs, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"--probs must be numbers, not {np.asarray(probs).dtype}") from None
    if probs.ndim != 2 or len(probs) != n or probs.shape[1] < classes:
        raise InputError(
            f"--probs has shape {probs.shape}, but the labels need ({n}, {classes}): {n} "
            f"items whose labels reach class {classes - 1}"
        )
    if not np.isfinite(probs).all():
        raise InputError("--probs holds NaN or infinite values")
    if (probs < 0).any():
        raise InputError("--probs holds negative values")
    sums = probs.sum(1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-4)
    if len(bad):
        raise InputError(
            f"--probs rows must sum to 1 (predicted class probabilities): row {bad[0]} sums "
            f"to {sums[bad[0]]:.6g} ({len(bad)} rows off by more than 1e-4)"
        )
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
