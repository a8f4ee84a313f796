"""Several annotators per item: Dawid-Skene EM, run on the distinct label patterns.

Items with the same labels from every annotator share one posterior, so EM runs over the
``m`` distinct patterns with their counts (903 patterns for CIFAR-10N's 50,000 items): the
same fixed point as an item-wise EM, and a bootstrap over items becomes a multinomial
redraw of the pattern counts.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numba as nb
import numpy as np
from scipy.optimize import minimize
from scipy.sparse import csr_matrix
from scipy.special import softmax
from scipy.stats import chi2
from threadpoolctl import threadpool_limits

MISSING = -1  # an annotator who did not label the item
_FLOOR = 1e-12  # keeps log(0) out of the E-step when a confusion entry has no mass


def label_patterns(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patterns (m, A), inverse (n,), counts (m,)) of an (n, A) label matrix."""
    patterns, inverse, counts = np.unique(labels, axis=0, return_inverse=True, return_counts=True)
    return patterns, inverse.reshape(-1), counts


@dataclass(frozen=True)
class DawidSkene:
    prior: np.ndarray  # (c,) true-class prior
    confusions: np.ndarray  # (A, c, c), rows = true class, columns = given label
    posterior: np.ndarray  # (m, c) per pattern
    iterations: int
    log_likelihood: float


def _one_hot(patterns: np.ndarray, classes: int) -> np.ndarray:
    """(m, A, c); a missing label is a zero row."""
    return (patterns[:, :, None] == np.arange(classes)).astype(float)


def _m_step(weights, posterior, onehot):
    mass = weights[:, None] * posterior
    prior = mass.sum(0) / weights.sum()
    counts = np.einsum("mi,maj->aij", mass, onehot)
    rows = counts.sum(2, keepdims=True)
    uniform = 1.0 / counts.shape[2]
    confusions = np.divide(counts, rows, out=np.full_like(counts, uniform), where=rows > 0)
    return prior, confusions


def normalise_log(log_joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of log joint probabilities -> (posterior rows, log evidence per row), stably.

    The rows are along the last axis: (m, c) gives (m, c) and (m,); a stack (B, m, c) of B
    fits gives (B, m, c) and (B, m)."""
    top = log_joint.max(-1, keepdims=True)
    joint = np.exp(log_joint - top)
    total = joint.sum(-1, keepdims=True)
    return joint / total, (np.log(total) + top)[..., 0]


def _e_step(prior, confusions, onehot):
    log_conf = np.log(np.maximum(confusions, _FLOOR))
    with np.errstate(divide="ignore"):
        log_joint = np.log(prior)[None, :] + np.einsum("maj,aij->mi", onehot, log_conf)
    return normalise_log(log_joint)


def majority_start(patterns: np.ndarray, classes: int) -> np.ndarray:
    """Each pattern's share of votes per class: the start Dawid and Skene used."""
    votes = _one_hot(patterns, classes).sum(1)
    return votes / np.maximum(votes.sum(1, keepdims=True), 1)


def dawid_skene(
    patterns: np.ndarray,
    counts: np.ndarray,
    classes: int,
    *,
    start: np.ndarray | None = None,
    max_iter: int = 500,
    tol: float = 1e-9,
) -> DawidSkene:
    """Maximum-likelihood prior and per-annotator confusions, with each pattern's posterior.

    ``start``: an (m, c) posterior to begin from (default: the majority vote); a bootstrap
    passes the full-data fit so each refit takes a few iterations.
    """
    onehot = _one_hot(patterns, classes)
    weights = np.asarray(counts, dtype=float)
    posterior = majority_start(patterns, classes) if start is None else start
    previous, iterations = -np.inf, 0
    while iterations < max_iter:
        iterations += 1
        prior, confusions = _m_step(weights, posterior, onehot)
        posterior, log_evidence = _e_step(prior, confusions, onehot)
        ll = float(weights @ log_evidence)
        if ll - previous <= tol * abs(ll):
            break
        previous = ll
    return DawidSkene(prior, confusions, posterior, iterations, ll)


# A stack of fits holds at most this many (fit, pattern, class) entries at once: B fits at
# CIFAR-10N's size (903 patterns, 10 classes) run 400 at a time, in a few tens of MB
_BATCH_ENTRIES = 1 << 22


def batch_slices(fits: int, per_fit: int):
    """Slices of ``range(fits)`` whose stacks of ``per_fit`` entries each fit ``_BATCH_ENTRIES``."""
    step = max(1, _BATCH_ENTRIES // max(1, per_fit))
    return [slice(k, min(k + step, fits)) for k in range(0, fits, step)]


def _flat_one_hot(patterns: np.ndarray, classes: int) -> np.ndarray:
    """(m, A c): annotator a's label j of pattern p in column a c + j; missing: zeros."""
    return _one_hot(patterns, classes).reshape(len(patterns), -1)


def _read_labels(flat_onehot: np.ndarray, log_conf: np.ndarray) -> np.ndarray:
    """(B, m, c): sum over annotators of log_conf[b, a, i, label of p by a], for B fits.

    ``log_conf`` (B, A, c, c) is laid out (B, A c, c) with the label first, so one matrix
    product reads every pattern's labels for every fit."""
    B, A, c, _ = log_conf.shape
    return flat_onehot @ log_conf.transpose(0, 1, 3, 2).reshape(B, A * c, c)


def _label_counts(mass: np.ndarray, flat_onehot: np.ndarray, A: int) -> np.ndarray:
    """(B, A, c, c): the mass (B, m, c) of each true class on each annotator's labels."""
    B, _, c = mass.shape
    counts = mass.transpose(0, 2, 1) @ flat_onehot  # (B, c, A c)
    return counts.reshape(B, c, A, c).transpose(0, 2, 1, 3)


def dawid_skene_batch(
    patterns: np.ndarray,
    counts: np.ndarray,
    classes: int,
    *,
    start: np.ndarray,
    max_iter: int = 500,
    tol: float = 1e-9,
    progress=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``dawid_skene`` for B count vectors at once (a bootstrap's resamples), as arrays.

    ``counts`` (B, m); ``start`` (m, c), the posterior every fit begins from. Each fit runs
    EM's steps as one stack and stops by ``dawid_skene``'s own rule, at its own iteration,
    so each gives what ``dawid_skene(patterns, counts[b], classes, start=start)`` gives, to
    rounding. ``progress`` is called with the number of fits that just stopped. Returns
    (prior (B, c), confusions (B, A, c, c), posterior (B, m, c), iterations (B,))."""
    W = np.atleast_2d(np.asarray(counts, dtype=float))
    B, m = W.shape
    A = patterns.shape[1]
    onehot = _flat_one_hot(patterns, classes)
    out_prior = np.empty((B, classes))
    out_conf = np.empty((B, A, classes, classes))
    out_post = np.empty((B, m, classes))
    out_iter = np.zeros(B, dtype=np.int64)
    for part in batch_slices(B, m * classes):
        live = np.arange(part.start, part.stop)
        post = np.broadcast_to(start, (len(live), m, classes)).copy()
        previous = np.full(len(live), -np.inf)
        for iteration in range(1, max_iter + 1):
            w = W[live]
            mass = w[:, :, None] * post
            prior = mass.sum(1) / w.sum(1, keepdims=True)
            conf = _label_counts(mass, onehot, A)
            rows = conf.sum(3, keepdims=True)
            conf = np.divide(conf, rows, out=np.full_like(conf, 1.0 / classes), where=rows > 0)
            with np.errstate(divide="ignore"):
                log_joint = np.log(prior)[:, None, :] + _read_labels(
                    onehot, np.log(np.maximum(conf, _FLOOR))
                )
            post, log_evidence = normalise_log(log_joint)
            ll = (w * log_evidence).sum(1)
            done = (ll - previous <= tol * np.abs(ll)) | (iteration == max_iter)
            k = live[done]
            out_prior[k], out_conf[k], out_post[k], out_iter[k] = (
                prior[done],
                conf[done],
                post[done],
                iteration,
            )
            if progress is not None and len(k):
                progress(len(k))
            live, post, previous = live[~done], post[~done], ll[~done]
            if not len(live):
                break
    return out_prior, out_conf, out_post, out_iter


def target_law(patterns: np.ndarray, target: np.ndarray, classes: int, rule: str) -> np.ndarray:
    """(m, c, c): the law of a derived label given each true class, per pattern.

    ``observed``: the label is a function of the annotations alone (a majority vote), so it
    is what was observed whatever the truth. ``worst``: the label is a wrong annotation
    whenever one exists (CIFAR-N's ``worse``), so its law depends on the truth: uniform over
    the annotations that differ from the true class, or the true class when none does.
    """
    m = len(patterns)
    if rule == "observed":  # a missing label (an annotator's) carries no mass
        law = np.zeros((m, classes, classes))
        seen = np.flatnonzero(target != MISSING)
        law[seen, :, target[seen]] = 1.0
        return law
    votes = _one_hot(patterns, classes).sum(1)  # (m, c)
    wrong = np.repeat(votes[:, None, :], classes, axis=1)
    wrong[:, np.arange(classes), np.arange(classes)] = 0.0
    n_wrong = wrong.sum(2, keepdims=True)
    own = np.broadcast_to(np.eye(classes), wrong.shape)
    return np.where(n_wrong > 0, wrong / np.maximum(n_wrong, 1), own)


def transition_from_posterior(posterior, counts, law) -> np.ndarray:
    """T[i, j] = P(label j | true i), from pattern posteriors and the label's law per pattern.

    ``posterior`` (m, c) and ``counts`` (m,) give one T; a stack (B, m, c) and (B, m) (a
    bootstrap's refits) gives (B, c, c)."""
    mass = np.einsum("...m,...mi,mij->...ij", np.asarray(counts, float), posterior, law)
    rows = mass.sum(-1, keepdims=True)
    c = mass.shape[-1]
    return np.divide(mass, rows, out=np.full_like(mass, 1.0 / c), where=rows > 0)


def infer_rule(annotations: np.ndarray, target: np.ndarray) -> str:
    """How a derived label set relates to the annotations: ``observed`` or ``worst``.

    A label that is not always one of the annotations, or that follows the strict majority
    wherever there is one, is a function of what was observed. One that is always an
    annotation but, where two agree against one, is the lone label more often than not,
    picks wrong annotations on purpose: it can only be modelled through the truth.
    """
    present = annotations != MISSING
    among = ((annotations == target[:, None]) & present).any(1)
    if not among.all():
        return "observed"
    c = int(max(annotations.max(), target.max())) + 1
    votes = _one_hot(annotations, c).sum(1)
    top = votes.max(1)
    strict = top > votes.sum(1) / 2
    if np.all(votes[strict].argmax(1) == target[strict]):
        return "observed"
    two_one = strict & (votes.sum(1) == 3) & (top == 2)
    lone = votes[np.arange(len(target)), target] == 1
    return "worst" if two_one.any() and lone[two_one].mean() > 0.5 else "observed"


@dataclass(frozen=True)
class EasyItems:
    """Dawid-Skene where a share of each class's items is easy: every annotator gets it right.

    Errors then fall only on the hard items, so annotators err together, which Dawid-Skene's
    independence given the class rules out. ``hard`` = 1 in every class is Dawid-Skene.
    """

    prior: np.ndarray  # (c,)
    hard: np.ndarray  # (c,) share of each true class's items that are hard
    confusions: np.ndarray  # (A, c, c) on hard items
    posterior: np.ndarray  # (m, c) over the true class
    log_likelihood: float
    iterations: int
    params: np.ndarray  # the optimiser's vector, to warm-start a refit


_HARD_FLOOR = 1e-6  # a class whose items are all easy still needs a hard row to be defined


def _unanimous(patterns: np.ndarray, classes: int) -> np.ndarray:
    """(m, c): 1 where every label the pattern has is that class (what an easy item shows)."""
    seen = patterns != MISSING
    return np.stack([((patterns == i) | ~seen).all(1) for i in range(classes)], 1).astype(float)


def _indicators(patterns: np.ndarray, classes: int) -> list:
    """Per annotator, the sparse (m, c) one-hot of its labels (a missing label: an empty
    row), held transposed, (c, m): the objective's counts are products with the transpose,
    which built afresh at every evaluation cost more than the product at small m."""
    out = []
    for column in patterns.T:
        rows = np.flatnonzero(column != MISSING)
        ones = np.ones(len(rows))
        out.append(csr_matrix((ones, (rows, column[rows])), shape=(len(column), classes)).T)
    return out


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """``scipy.special.log_softmax`` on a NumPy array, step for step (the same bits) without
    its array-namespace dispatch, which cost a third of an objective evaluation at small m."""
    top = x.max(axis, keepdims=True)
    top[~np.isfinite(top)] = 0
    shifted = x - top
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


def _easy_objective(x, weights, patterns, indicators, unanimous):
    """Minus the log likelihood, its gradient, and each pattern's (m, c) posterior over the
    true class (summed over easy and hard).

    Prior and confusion rows are softmax logits; ``hard`` is a box-bounded share, so a class
    with no easy items stops at 1 instead of sending a logit to infinity. The gradient is
    the complete-data score under the posterior (Fisher's identity): a logit's is its
    expected count minus its row's total times its probability. Each pattern reads its
    labels' columns and each count is a sparse product, so an evaluation costs m c per
    annotator, not the m c^2 of a dense one-hot: at c = 100 that decides minutes or
    seconds."""
    A, c = len(indicators), unanimous.shape[1]
    logit_prior, hard, logit_conf = x[:c], x[c : 2 * c], x[2 * c :].reshape(A, c, c)
    log_prior, log_conf = _log_softmax(logit_prior, 0), _log_softmax(logit_conf, 2)
    padded = np.concatenate([log_conf, np.zeros((A, c, 1))], axis=2)  # label -1 reads the 0s
    with np.errstate(divide="ignore"):
        log_hard = sum(padded[a][:, patterns[:, a]] for a in range(A)).T
        log_hard += log_prior + np.log(hard)
        log_easy = np.log(unanimous) + log_prior + np.log1p(-hard)
    post, log_evidence = normalise_log(np.concatenate([log_hard, log_easy], 1))
    mass_hard, mass_easy = weights[:, None] * post[:, :c], weights[:, None] * post[:, c:]
    n_hard, n_easy = mass_hard.sum(0), mass_easy.sum(0)
    n_class = n_hard + n_easy
    counts = np.stack([(ind @ mass_hard).T for ind in indicators])
    grad_hard = n_hard / hard - np.divide(n_easy, 1 - hard, out=np.zeros(c), where=hard < 1)
    grad = np.concatenate(
        [
            n_class - weights.sum() * np.exp(log_prior),
            grad_hard,
            (counts - counts.sum(2, keepdims=True) * np.exp(log_conf)).ravel(),
        ]
    )
    return -float(weights @ log_evidence), -grad, post[:, :c] + post[:, c:]


def easy_items(
    patterns: np.ndarray,
    counts: np.ndarray,
    classes: int,
    *,
    start: DawidSkene | None = None,
    params: np.ndarray | None = None,
    independent: bool = False,
    ftol: float = 1e-12,
) -> EasyItems:
    """Maximum likelihood of the easy-items model, by L-BFGS-B from Dawid-Skene's fit.

    EM crawls here: along the direction that trades easy items for a larger diagonal it
    moves the likelihood by 1e-5 an iteration for thousands of iterations, while a
    quasi-Newton step with the share bounded in (0, 1] converges in a few hundred
    gradient evaluations. ``params`` (a previous fit's) warm-starts a bootstrap refit.
    ``ftol``: the relative change of the likelihood at which to stop (a bootstrap refit,
    whose spread is sampling's, may stop sooner). ``independent`` holds every share at 1:
    Dawid-Skene, by the same optimiser and tolerance, the null of ``independence_test``.
    Each evaluation is the compiled objective (``_easy_objective`` is its NumPy reference,
    which the tests hold it to)."""
    args = (
        np.asarray(counts, dtype=float),
        np.ascontiguousarray(patterns, dtype=np.int64),
        _unanimous(patterns, classes),
    )
    if params is None:
        start = dawid_skene(patterns, counts, classes) if start is None else start
        params = start_params(start, classes, independent)
    res, posterior, nll = _lbfgsb(_compiled_objective, args, params, classes, independent, ftol)
    return _easy_result(res, posterior, nll, classes)


def start_params(start: DawidSkene, classes: int, independent: bool = False) -> np.ndarray:
    """The optimiser's vector at Dawid-Skene's fit ``start``: log prior, the easy shares'
    start (0.9: at 1 a share's gradient is 0; held at 1 when ``independent``), log
    confusions."""
    return np.concatenate(
        [
            np.log(np.maximum(start.prior, _FLOOR)),
            np.full(classes, 1.0 if independent else 0.9),
            np.log(np.maximum(start.confusions, _FLOOR)).ravel(),
        ]
    )


def _lbfgsb(objective, args, params, classes: int, independent: bool, ftol: float, blas=True):
    """L-BFGS-B with the shares bounded; ``blas``: hold BLAS to one thread here (a caller
    that runs many fits holds it once: each hold inspects the loaded libraries)."""
    A = (len(params) - 2 * classes) // classes**2
    bounds = [(None, None)] * classes + [(1.0 if independent else _HARD_FLOOR, 1.0)] * classes
    bounds += [(None, None)] * (A * classes * classes)
    with threadpool_limits(limits=1, user_api="blas") if blas else nullcontext():
        res = minimize(  # BLAS threads only add overhead at this size
            objective,
            params,
            args=args,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 5000, "ftol": ftol, "gtol": 1e-8},
        )
    nll, _, posterior = objective(res.x, *args)
    return res, posterior, nll


def _easy_result(res, posterior, nll, classes: int) -> EasyItems:
    x = res.x
    A = (len(x) - 2 * classes) // classes**2
    return EasyItems(
        softmax(x[:classes]),
        x[classes : 2 * classes].copy(),
        softmax(x[2 * classes :].reshape(A, classes, classes), axis=2),
        posterior,
        -nll,
        int(res.nit),
        x,
    )


@nb.njit(cache=True, nogil=True)
def _easy_kernel(x, weights, labels, unanimous):  # pragma: no cover - compiled
    """``_easy_objective`` in one pass over the patterns: (minus the log likelihood, its
    gradient, the (m, c) posterior). ``labels`` (m, A) int64 with -1 for missing,
    ``unanimous`` (m, c) as in ``_unanimous``."""
    m, A = labels.shape
    c = unanimous.shape[1]
    log_prior = x[:c] - x[:c].max()
    log_prior = log_prior - np.log(np.exp(log_prior).sum())
    hard = x[c : 2 * c]
    log_conf = np.empty((A, c, c))
    for a in range(A):
        for i in range(c):
            row = x[2 * c + (a * c + i) * c : 2 * c + (a * c + i + 1) * c]
            top = row.max()
            log_conf[a, i] = row - top - np.log(np.exp(row - top).sum())
    base_hard = log_prior + np.log(hard)
    base_easy = np.empty(c)
    for i in range(c):
        base_easy[i] = log_prior[i] + np.log1p(-hard[i]) if hard[i] < 1.0 else -np.inf
    posterior = np.empty((m, c))
    counts = np.zeros((A, c, c))
    n_hard, n_easy = np.zeros(c), np.zeros(c)
    v, u = np.empty(c), np.empty(c)
    nll = 0.0
    for p in range(m):
        top = -np.inf
        for i in range(c):
            s = base_hard[i]
            for a in range(A):
                if labels[p, a] >= 0:
                    s += log_conf[a, i, labels[p, a]]
            v[i] = s
            u[i] = base_easy[i] if unanimous[p, i] > 0 else -np.inf
            top = max(top, s, u[i])
        total = 0.0
        for i in range(c):
            v[i] = np.exp(v[i] - top)
            u[i] = np.exp(u[i] - top) if u[i] > -np.inf else 0.0
            total += v[i] + u[i]
        w = weights[p]
        nll -= w * (np.log(total) + top)
        for i in range(c):
            ph, pe = v[i] / total, u[i] / total
            posterior[p, i] = ph + pe
            n_hard[i] += w * ph
            n_easy[i] += w * pe
            for a in range(A):
                if labels[p, a] >= 0:
                    counts[a, i, labels[p, a]] += w * ph
    grad = np.empty_like(x)
    total_weight = weights.sum()
    for i in range(c):
        grad[i] = -(n_hard[i] + n_easy[i] - total_weight * np.exp(log_prior[i]))
        easy_term = n_easy[i] / (1.0 - hard[i]) if hard[i] < 1.0 else 0.0
        grad[c + i] = -(n_hard[i] / hard[i] - easy_term)
    for a in range(A):
        for i in range(c):
            row_total = counts[a, i].sum()
            for j in range(c):
                k = 2 * c + (a * c + i) * c + j
                grad[k] = -(counts[a, i, j] - row_total * np.exp(log_conf[a, i, j]))
    return nll, grad, posterior


def _compiled_objective(x, weights, labels, unanimous):
    nll, grad, posterior = _easy_kernel(x, weights, labels, unanimous)
    return float(nll), grad, posterior


def refit_easy_items(
    patterns: np.ndarray,
    counts: np.ndarray,
    classes: int,
    params: np.ndarray,
    ftol: float,
    progress=None,
) -> list[EasyItems]:
    """``easy_items(patterns, w, classes, params=params, ftol=ftol)`` for every row ``w`` of
    ``counts`` (B, m), with the objective compiled: the same L-BFGS-B from the same start,
    each evaluation one pass over the patterns (0.13 ms of CPU at CIFAR-10N's 903 patterns
    instead of 0.5), the fits on two threads (the compiled objective runs without the GIL).
    ``progress`` is called with 1 as each fit is returned."""
    labels = np.ascontiguousarray(patterns, dtype=np.int64)
    unanimous = _unanimous(patterns, classes)

    def one(w):
        args = (np.asarray(w, dtype=float), labels, unanimous)
        res, posterior, nll = _lbfgsb(
            _compiled_objective, args, params, classes, False, ftol, blas=False
        )
        return _easy_result(res, posterior, nll, classes)

    counts = np.atleast_2d(counts)
    tick = progress or (lambda k: None)
    out = []
    with threadpool_limits(limits=1, user_api="blas"):
        if len(counts) == 1 or (os.cpu_count() or 1) == 1:
            fits = map(one, counts)
            pool = nullcontext()
        else:
            pool = ThreadPoolExecutor(max_workers=2)
            fits = pool.map(one, counts)
        with pool:
            for fit in fits:
                out.append(fit)
                tick(1)
    return out


def independence_test(null: EasyItems, easy: EasyItems) -> dict:
    """Likelihood-ratio test of Dawid-Skene (errors independent given the class; ``null`` from
    ``easy_items(..., independent=True)``, not EM's fit, so both maxima are found to the same
    tolerance)
    against the easy-items model, which nests it at ``hard`` = 1.

    The null sits on the boundary of the share's range, where the statistic follows a
    mixture of chi-squares with at most ``c`` degrees of freedom; the chi-square with ``c``
    gives a conservative p-value."""
    statistic = max(0.0, 2.0 * (easy.log_likelihood - null.log_likelihood))
    df = len(easy.hard)
    return {"statistic": statistic, "df": df, "p_value": float(chi2.sf(statistic, df))}
