"""Selection criteria over per-sample losses: global, per-class, RSL, GMM, confident learning.

Every criterion returns a boolean mask of the samples it keeps as probably clean. Ties in
loss are broken by sample index (the first ones are kept), so a selection equals a stable
sort by loss.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from theory import rsl
from theory.budgets import share_count
from theory.errors import InputError
from theory.validation import check_labels, check_scores

KAPPA = -np.log(0.7)

# --- radix select ----------------------------------------------------------------------

_TOP = 11  # bits of the first histogram (2048 buckets a class)


@nb.njit(inline="always")
def _key(x):
    # order-preserving map float32 -> uint32: flip the sign bit of positives, all bits of negatives
    b = np.uint64(np.float32(x + np.float32(0.0)).view(np.uint32))
    if b >> np.uint64(31):
        return b ^ np.uint64(0xFFFFFFFF)
    return b | np.uint64(0x80000000)


@nb.njit(inline="always")
def _find_bucket(hist, need):
    cum = 0
    for b in range(hist.size):
        if cum + hist[b] >= need:
            return b, need - cum
        cum += hist[b]
    return hist.size - 1, need - cum


@nb.njit(nogil=True, cache=True)
def _radix_select(losses, labels, counts, out):
    """Two passes over the data: a histogram of the top key bits per class, then a pass that
    settles every sample outside its class's threshold bucket and gathers the rest; the few
    gathered samples are resolved by radix passes over the remaining bits, in index order."""
    c = counts.size
    n = losses.size
    low_bits = 32 - _TOP
    hist = np.zeros((c, 1 << _TOP), dtype=np.int64)
    for k in range(n):
        hist[labels[k], _key(losses[k]) >> np.uint64(low_bits)] += 1
    sizes = hist.sum(axis=1)
    need = np.minimum(counts, sizes)
    bucket = np.full(c, -1, dtype=np.int64)  # -1: keep none of the class; 1 << _TOP: keep all
    n_cand = 0
    for cls in range(c):
        if need[cls] >= sizes[cls]:
            bucket[cls] = 1 << _TOP
        elif need[cls] > 0:
            bucket[cls], need[cls] = _find_bucket(hist[cls], need[cls])
            n_cand += hist[cls, bucket[cls]]
    cand = np.empty(n_cand, dtype=np.int64)
    m = 0
    for k in range(n):
        cls = labels[k]
        b = np.int64(_key(losses[k]) >> np.uint64(low_bits))
        if b == bucket[cls]:
            cand[m] = k
            m += 1
            out[k] = False
        else:
            out[k] = b < bucket[cls]
    # refine the threshold key of each class on the gathered samples only
    prefix = np.zeros(c, dtype=np.uint64)
    for cls in range(c):
        if 0 <= bucket[cls] < (1 << _TOP):
            prefix[cls] = np.uint64(bucket[cls]) << np.uint64(low_bits)
    for shift, width in ((10, 11), (0, 10)):
        sub = np.zeros((c, 1 << width), dtype=np.int64)
        high = np.uint64(shift + width)
        mask = np.uint64((1 << width) - 1)
        for k in cand:
            cls = labels[k]
            key = _key(losses[k])
            if (key >> high) == (prefix[cls] >> high):
                sub[cls, (key >> np.uint64(shift)) & mask] += 1
        for cls in range(c):
            if 0 <= bucket[cls] < (1 << _TOP):
                b, need[cls] = _find_bucket(sub[cls], need[cls])
                prefix[cls] |= np.uint64(b) << np.uint64(shift)
    for k in cand:
        cls = labels[k]
        key = _key(losses[k])
        if key < prefix[cls]:
            out[k] = True
        elif key == prefix[cls] and need[cls] > 0:
            out[k] = True
            need[cls] -= 1


def _check_counts(counts, classes: int) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.size < classes:
        raise InputError(f"counts need one entry per class ({classes}), got shape {counts.shape}")
    if np.any(counts < 0) or np.any(counts != np.floor(counts)):
        raise InputError("counts must be non-negative integers")
    return counts.astype(np.int64)


def select_per_class(losses, labels, counts) -> np.ndarray:
    """Keep the ``counts[k]`` smallest losses of each observed class k (all of it if smaller).

    ``losses``: (n,) floats (float32 inside; no NaN); ``labels``: (n,) integers >= 0;
    ``counts``: one integer per class. Returns (n,) bool, True = kept. Ties at the budget are
    kept in index order, as a stable sort would.
    """
    losses = check_scores(losses)
    labels = check_labels(labels, n=losses.size, nonempty=False, dtype=np.int32)
    classes = int(labels.max()) + 1 if labels.size else 0
    counts = _check_counts(counts, classes)
    out = np.empty(losses.size, dtype=np.bool_)
    _radix_select(losses, labels, counts, out)
    return out


def select_global(losses, total: int) -> np.ndarray:
    """Keep the ``total`` smallest of the (n,) ``losses`` (Co-teaching's criterion); (n,) bool."""
    losses = check_scores(losses)
    return select_per_class(losses, np.zeros(losses.size, dtype=np.int32), [int(total)])


# --- RSL --------------------------------------------------------------------------------


def rsl_budgets(noisy_counts, eta, prior, beta: float = rsl.BETA, gamma: str = "mid") -> np.ndarray:
    """RSL's class-balanced ``num(i)`` (``theory.rsl.num``), floored as the authors do.

    Parameters
    ----------
    noisy_counts : array_like
        ``(c,)`` int: how many samples carry each observed label.
    eta : array_like
        ``(c,)`` float: each observed class's noise rate.
    prior : array_like
        ``(c,)`` float: the clean class prior.
    beta : float
        RSL's share of the balanced budget.
    gamma : str
        Which of RSL's budget rules (``theory.rsl.num``).

    Returns
    -------
    numpy.ndarray
        ``(c,)`` int64 budgets (``theory.budgets.share_count``).
    """
    return share_count(rsl.num(noisy_counts, eta, prior, beta, gamma))


def rsl_weights(mean_loss, labels, selected, kappa: float = KAPPA) -> np.ndarray:
    """``exp(-kappa t)`` with t the min-max normalised mean loss within each observed class."""
    mean_loss = np.asarray(mean_loss, dtype=np.float64)
    labels = np.asarray(labels)
    w = np.zeros(mean_loss.size)
    for k in np.unique(labels):
        idx = labels == k
        lo, hi = mean_loss[idx].min(), mean_loss[idx].max()
        t = (mean_loss[idx] - lo) / (hi - lo) if hi > lo else np.zeros(idx.sum())
        w[idx] = np.exp(-kappa * t)
    return np.where(selected, w, 0.0)


# --- GMM (DivideMix) and confident learning ----------------------------------------------

GMM_FIT_MAX = 200_000


def select_gmm(losses, seed=0, fit_max: int = GMM_FIT_MAX) -> np.ndarray:
    """DivideMix: min-max normalise, fit a 2-component GMM, keep P(low-mean component) > 0.5.

    Above ``fit_max`` samples the mixture is fitted on a seeded subsample (the fit is the
    costly part; the posterior is then evaluated on every sample).
    """
    return gmm_keep(losses, None, seed, fit_max)[0]


def gmm_keep(losses, others=None, seed=0, fit_max: int = GMM_FIT_MAX):
    """``select_gmm`` on ``losses``, and the same fitted rule (the same normalisation and
    mixture) applied to ``others``: (n,) bool, and (m,) bool or None. The probes of a run are
    the others: the rule is fitted on the training samples alone, as DivideMix fits it.

    The fit is scikit-learn's ``GaussianMixture(2, max_iter=10, tol=1e-2, reg_covar=5e-4,
    random_state=seed)`` written out for one dimension (``_fit_two_gaussians``): its
    k-means start (``_kmeans_labels``: k-means++ drawn from ``RandomState(seed)``, then
    Lloyd's steps as cuts of the sorted points) and its EM steps, the library's arithmetic on
    (n, 2) arrays. It keeps what the library keeps, sample by sample, on the tests' losses
    (``tests/selection/test_select_edges.py``, ``test_at_size.py``), in a fifth of the time
    at n = 10^6 and without importing scikit-learn."""
    x = check_scores(losses).astype(np.float64)
    y = None if others is None else check_scores(others).astype(np.float64)
    if x.size < 2:  # nothing to split in two
        return np.ones(x.size, dtype=bool), None if y is None else np.ones(y.size, dtype=bool)
    lo, hi = x.min(), x.max()

    def normalised(v):
        return (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)

    x = normalised(x)
    fit = x
    if x.size > fit_max:
        fit = np.random.default_rng(seed).choice(x, fit_max, replace=False)
    weights, means, variances = _fit_two_gaussians(fit, seed)
    low = int(np.argmin(means))
    high = 1 - low

    def keep(values):
        # P(low | v) > 0.5 is the low component's weighted log-density above the other's
        log_w = _log_gaussians(values, weights, means, variances)
        return log_w[:, low] > log_w[:, high]

    return keep(x), None if y is None else keep(normalised(y))


GMM_ITERATIONS, GMM_TOL, GMM_REG = 10, 1e-2, 5e-4  # DivideMix's settings
_EPS10 = 10 * np.finfo(np.float64).eps  # scikit-learn's guard on a component's mass


def _log_gaussians(x, weights, means, variances):
    """(n, 2): each component's log weight plus log density at ``x`` (scikit-learn's
    ``_estimate_weighted_log_prob`` for one feature, through the precision's square root)."""
    prec = 1.0 / np.sqrt(variances)
    y = x[:, None] * prec - means * prec
    return -0.5 * (np.log(2 * np.pi) + y * y) + np.log(prec) + np.log(weights)


def _gaussian_parameters(x, resp):
    nk = resp.sum(axis=0) + _EPS10
    means = (resp * x[:, None]).sum(axis=0) / nk
    diff = x[:, None] - means
    variances = (resp * diff * diff).sum(axis=0) / nk + GMM_REG
    return nk, means, variances


def _fit_two_gaussians(x, seed):
    """(weights, means, variances) of scikit-learn's two-component fit of 1-D ``x``: its
    k-means labels, then EM until the mean log-likelihood moves by less than ``GMM_TOL``
    or ``GMM_ITERATIONS`` steps."""
    resp = np.zeros((x.size, 2))
    resp[np.arange(x.size), _kmeans_labels(x, seed)] = 1.0
    nk, means, variances = _gaussian_parameters(x, resp)
    weights = nk / x.size
    lower = -np.inf
    for _ in range(GMM_ITERATIONS):
        prev = lower
        log_w = _log_gaussians(x, weights, means, variances)
        top = log_w.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(log_w - top).sum(axis=1, keepdims=True)) + top
        resp = np.exp(log_w - log_norm)
        lower = float(log_norm.mean())
        nk, means, variances = _gaussian_parameters(x, resp)
        weights = nk / nk.sum()
        if abs(lower - prev) < GMM_TOL:
            break
    return weights, means, variances


def _kmeans_labels(x, seed):
    """(n,) 0/1: scikit-learn's ``KMeans(2, n_init=1, random_state=seed)`` labels of 1-D
    ``x``, its k-means++ start and Lloyd's steps written for one dimension: the same draws
    from ``RandomState(seed)``, the same stopping rule (labels unchanged, or centres moved
    by at most 1e-4 of the variance), each step a cut of the sorted points at the centres'
    midpoint."""
    n = x.size
    z = x - x.mean()  # KMeans centres its copy of the data
    rs = np.random.RandomState(seed)
    first = z[rs.choice(n, p=np.full(n, 1.0 / n))]
    closest = (z - first) ** 2
    pot = closest.sum()
    picks = np.searchsorted(np.cumsum(closest), rs.uniform(size=2) * pot)
    picks = np.minimum(picks, n - 1)
    trial = np.minimum(closest, (z[None, :] - z[picks, None]) ** 2)
    second = z[picks[int(np.argmin(trial.sum(axis=1)))]]
    centres = np.array([first, second])
    if first == second:
        return np.zeros(n, np.int64)
    order = np.argsort(z, kind="stable")
    zs = z[order]
    total = np.concatenate([[0.0], np.cumsum(zs)])
    tol = float(np.var(x)) * 1e-4

    def cut_at(c):
        # points nearer the lower centre (a tie goes to centre 0, the first at its distance)
        mid = (c.min() + c.max()) / 2
        side = "right" if c[0] < c[1] else "left"
        return int(np.searchsorted(zs, mid, side=side))

    cut, previous, strict = -1, -2, False
    for _ in range(300):  # KMeans' max_iter
        cut = cut_at(centres)
        if cut in (0, n):
            break  # one cluster empty: scikit-learn relocates a centre, not needed here
        means = np.array([total[cut] / cut, (total[n] - total[cut]) / (n - cut)])
        new = means if centres[0] < centres[1] else means[::-1]
        shift = float(((new - centres) ** 2).sum())
        centres = new
        if cut == previous:
            strict = True
            break
        if shift <= tol:
            break
        previous = cut
    if not strict:
        cut = cut_at(centres)
    labels = np.zeros(n, np.int64)
    upper = 1 if centres[0] < centres[1] else 0
    labels[order[cut:]] = upper
    labels[order[:cut]] = 1 - upper
    return labels


def confident_thresholds(probs, labels, classes: int | None = None) -> np.ndarray:
    """``t_j``: mean predicted probability of class j over the samples labelled j.

    ``probs``: (n, c); ``labels``: (n,). Returns (c,) float64, ``inf`` for unobserved classes.
    """
    probs = np.asarray(probs)
    labels = check_labels(labels, n=probs.shape[0], nonempty=False, dtype=np.int32)
    c = probs.shape[1] if classes is None else classes
    sums = np.zeros(c)
    np.add.at(sums, labels, probs[np.arange(labels.size), labels])
    n = np.bincount(labels, minlength=c)
    return np.where(n > 0, sums / np.maximum(n, 1), np.inf)


@nb.njit(parallel=True, cache=True)
def _confident_keep(probs, labels, thresholds, out):
    c = probs.shape[1]
    for k in nb.prange(labels.size):
        best, arg = -1.0, -1
        for j in range(c):
            p = probs[k, j]
            if p >= thresholds[j] and p > best:
                best, arg = p, j
        out[k] = arg < 0 or arg == labels[k]


def select_confident(probs, labels, thresholds=None) -> np.ndarray:
    """Confident learning: drop a sample when its most likely above-threshold class is not its
    label.

    Samples with no class above its threshold stay (they are off the confident joint).
    """
    probs = np.ascontiguousarray(probs, dtype=np.float32)
    labels = check_labels(labels, n=probs.shape[0], nonempty=False, dtype=np.int32)
    t = confident_thresholds(probs, labels) if thresholds is None else np.asarray(thresholds)
    out = np.empty(labels.size, dtype=np.bool_)
    _confident_keep(probs, labels, t.astype(np.float32), out)
    return out


def cleanlab_keep(probs, labels) -> np.ndarray | None:
    """The complement of cleanlab's ``find_label_issues(labels, pred_probs)`` with its defaults
    (``filter_by="prune_by_noise_rate"``); None without cleanlab or with one observed class.

    ``probs``: (n, c) out-of-sample predicted probabilities, as cleanlab asks; ``labels``: (n,)
    observed labels. Returns (n,) bool, True = kept. ``n_jobs=1`` changes nothing but speed.
    """
    try:  # cleanlab is the optional extra smallloss[test]: the peer, not a dependency
        from cleanlab.filter import find_label_issues
    except ImportError:
        return None
    labels = np.asarray(labels)
    if np.unique(labels).size < 2:
        return None  # cleanlab needs two observed classes at least
    issues = find_label_issues(labels, np.asarray(probs, dtype=np.float64), n_jobs=1)
    return ~issues


def agreements_with_cleanlab(probs, labels, confident, kept) -> tuple[float, float]:
    """The share of samples on which ``confident`` (the paper's rule) agrees with cleanlab's
    ``filter_by="confident_learning"``, and ``kept`` with cleanlab's defaults, each computed by a
    direct ``find_label_issues`` call on ``probs``. Call only where ``cleanlab_keep`` gave a
    mask (cleanlab is installed and two classes are observed)."""
    # cleanlab is the optional extra smallloss[test]; the caller's cleanlab_keep found it
    from cleanlab.filter import find_label_issues

    p = np.asarray(probs, dtype=np.float64)
    by_rule = ~find_label_issues(labels, p, filter_by="confident_learning", n_jobs=1)
    by_default = ~find_label_issues(labels, p, n_jobs=1)
    return float((confident == by_rule).mean()), float((kept == by_default).mean())


# --- metrics ----------------------------------------------------------------------------


def metrics(selected, clean, noisy, classes: int) -> dict:
    """Precision, recall, per-class precision and the class distribution of the selected set.

    ``selected``: (n,) bool; ``clean``, ``noisy``: (n,) integer labels. Precision is None when
    nothing is kept, recall None when nothing is clean.
    """
    selected = np.asarray(selected, dtype=bool)
    is_clean = np.asarray(clean) == np.asarray(noisy)
    kept = int(selected.sum())
    hits = int((selected & is_clean).sum())
    per_kept = np.bincount(noisy[selected], minlength=classes)
    per_hits = np.bincount(noisy[selected & is_clean], minlength=classes)
    return {
        "selected": kept,
        "observed_precision": hits / kept if kept else None,
        "observed_recall": hits / int(is_clean.sum()) if is_clean.any() else None,
        "per_class_precision": [
            h / k if k else None for h, k in zip(per_hits.tolist(), per_kept.tolist())
        ],
        "class_distribution": (per_kept / kept).tolist() if kept else [0.0] * classes,
    }


def kept_at_precision(losses, is_clean, precision: float) -> int:
    """How many samples one global small-loss ranking keeps at ``precision``: the largest k
    whose k smallest losses (stable order) are at least that clean. Measures a selection
    against Co-teaching's ranking at equal observed precision."""
    order = np.argsort(np.asarray(losses, dtype=np.float64), kind="stable")
    hits = np.cumsum(np.asarray(is_clean, dtype=bool)[order])
    # relative slack: a share recomputed from the same two integers must still count as reached
    ok = np.flatnonzero(hits >= precision * np.arange(1, hits.size + 1) * (1 - 1e-12))
    return int(ok[-1] + 1) if ok.size else 0
