"""Instance-dependent label noise: the three published recipes, as seeded Numba generators.

- ``part-dependent`` (Xia et al. 2020): per sample a flip rate ``q ~ N(rate, 0.1^2)`` cut to
  [0, 1] (by rejection, which is the truncated normal); ``W ~ N(0, 1)`` of shape (c, d, c);
  scores ``a = x @ W[y]`` with ``a_y = -inf``; the label stays with probability ``1 - q`` and
  goes to ``k`` with probability ``q softmax(a)_k``.
- ``pmd-1``, ``pmd-2``, ``pmd-3`` (Zhang et al. 2021): from a posterior ``eta(x)``, ``u, s``
  its top two classes and ``D = eta_u - eta_s``; the label is ``u`` with probability
  ``h(D) / factor``, else ``s``, with ``h = D^2/2 + 1/2``, ``D^3`` or ``(D^3 + D^2 + D)/3``.
  The label does not depend on the clean one given x (the recipe's redraw of the clean
  labels from eta leaves the noisy label's law unchanged, so it is not done). The recipe
  fixes ``factor = 1.2``; here ``factor`` is set so the realised noise rate is ``rate``.
- ``margin`` (Chen et al. 2021): the ``rate n`` samples with the largest ``max_{k != y} S_k``
  of a clean-trained model's (epoch-averaged) softmax ``S`` get ``argmax_{k != y} S_k``.

Each returns the noisy labels, each sample's flip probability ``P(noisy != clean | x)``, the
realised class-level matrix ``T_bar`` and the parameters the theory needs to follow it.
Chunks and streams as in ``simulations.generate``: bit-identical whatever the thread count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np

from simulations.generate import CHUNK, _for_chunks, run_chunks, seed_sequence
from theory.errors import InputError
from theory.instance import KINDS, factor_from_means
from theory.validation import check_labels, check_unit

NOISES = ("part-dependent", "pmd-1", "pmd-2", "pmd-3", "margin")
FLIP_SD = 0.1  # spread of the per-sample flip rate in Xia et al.

_jit = nb.njit(nogil=True, cache=True)


@dataclass
class InstanceNoise:
    noisy: np.ndarray  # (n,) int32
    flip: np.ndarray  # (n,) float64, P(noisy != clean | x, clean)
    T_bar: np.ndarray  # (c, c) realised P(noisy = j | clean = i)
    realised_noise_rate: float  # share of samples with noisy != clean
    params: dict = field(default_factory=dict)  # what the theory needs to follow the draw


def realised_T(clean, noisy, classes: int) -> np.ndarray:
    """Row-normalised (clean, noisy) counts; an empty clean class keeps its identity row."""
    pairs = np.asarray(clean, np.int64) * classes + np.asarray(noisy, np.int64)
    counts = np.bincount(pairs, minlength=classes * classes).reshape(classes, classes).astype(float)
    sizes = counts.sum(axis=1, keepdims=True)
    return np.where(sizes > 0, counts / np.maximum(sizes, 1.0), np.eye(classes))


def _finish(clean, noisy, flip, classes, params) -> InstanceNoise:
    T_bar = realised_T(clean, noisy, classes)
    return InstanceNoise(noisy, flip, T_bar, float(np.mean(noisy != clean)), params)


def check_noise(name: str) -> str:
    if name not in NOISES:
        raise InputError(f"unknown instance noise {name!r}; choose from {', '.join(NOISES)}")
    return name


def _matrix(x, name: str) -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 2:
        raise InputError(f"{name} must be an (n, c) matrix with c >= 2, got shape {a.shape}")
    return a


def _finite(bad: np.ndarray, name: str) -> None:
    if bad.sum() > 0:
        raise InputError(f"{name} hold {int(bad.sum())} NaN or infinite entries")


def _by_chunks(n: int, width: int, work) -> np.ndarray:
    """``work(slice, out)`` over the chunks, in threads; row k of the result is chunk k's
    ``out`` (summed in chunk order afterwards, so totals do not depend on the threads)."""
    starts = list(range(0, n, CHUNK)) or [0]
    out = np.zeros((len(starts), width))
    jobs = [(k, slice(a, min(a + CHUNK, n))) for k, a in enumerate(starts)]
    run_chunks(lambda job: work(job[1], out[job[0]]), jobs)
    return out


# --- part-dependent ----------------------------------------------------------------------


@_jit
def _part_dependent(X, clean, W, rate, sd, rng, noisy, flip):
    c = W.shape[2]
    d = X.shape[1]
    a = np.empty(c)
    for m in range(clean.size):
        q = -1.0
        while q < 0.0 or q > 1.0:
            q = rate + sd * rng.standard_normal()
        y = clean[m]
        top = -np.inf
        for k in range(c):
            if k == y:
                continue
            s = 0.0
            for t in range(d):
                s += X[m, t] * W[y, t, k]
            a[k] = s
            top = max(top, s)
        total = 0.0
        for k in range(c):
            a[k] = 0.0 if k == y else np.exp(a[k] - top)
            total += a[k]
        u = rng.random()
        label = y
        if u >= 1.0 - q:
            # u lands in the flipped share: walk the other classes' masses q softmax_k
            acc = 1.0 - q
            label = -1
            for k in range(c):
                if k == y:
                    continue
                acc += q * a[k] / total
                if u < acc:
                    label = k
                    break
            if label < 0:  # rounding left u above the last sum: the last other class
                label = c - 1 if y != c - 1 else c - 2
        noisy[m] = label
        flip[m] = q


def part_dependent_weights(classes: int, dim: int, seed) -> np.ndarray:
    """The recipe's ``W ~ N(0, 1)`` of shape (c, d, c), from its own stream of ``seed``."""
    rng = np.random.default_rng(seed_sequence(seed).spawn(2)[1])
    return rng.standard_normal((classes, dim, classes))


def part_dependent(features, clean, rate, seed, classes: int | None = None) -> InstanceNoise:
    """Xia et al.'s part-dependent noise on ``features`` (n, d), mean flip rate ``rate``."""
    rate = check_unit(rate)
    X = np.ascontiguousarray(features, dtype=np.float64)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise InputError(f"features must be a finite (n, d) matrix, got shape {X.shape}")
    clean = check_labels(clean, "clean labels", n=len(X), classes=classes, dtype=np.int32)
    c = int(classes or clean.max() + 1)
    W = part_dependent_weights(c, X.shape[1], seed)
    noisy = np.empty(clean.size, dtype=np.int32)
    flip = np.empty(clean.size)
    _for_chunks(
        clean.size,
        seed_sequence(seed).spawn(2)[0],
        lambda sl, rng: _part_dependent(
            X[sl], clean[sl], W, rate, FLIP_SD, rng, noisy[sl], flip[sl]
        ),
    )
    return _finish(clean, noisy, flip, c, {"W": W, "rate": rate, "sd": FLIP_SD})


# --- PMD ---------------------------------------------------------------------------------


@_jit
def _pmd_pass(eta, clean, kind, u, s, h, sums):
    """Top two classes and h(D) per sample; ``sums``: (count of s, sum of (top - second) h,
    max h, rows that are not finite)."""
    c = eta.shape[1]
    second = lift = 0.0
    h_max = 0.0
    bad = 0
    for m in range(eta.shape[0]):
        for k in range(c):
            if not np.isfinite(eta[m, k]):
                bad += 1
        b0, b1 = 0, 1
        if eta[m, 1] > eta[m, 0]:
            b0, b1 = 1, 0
        for k in range(2, c):
            if eta[m, k] > eta[m, b0]:
                b1, b0 = b0, k
            elif eta[m, k] > eta[m, b1]:
                b1 = k
        u[m], s[m] = b0, b1
        d = eta[m, b0] - eta[m, b1]
        if kind == 1:
            v = max(d * d / 2 + 0.5, 0.5)
        elif kind == 2:
            v = d * d * d
        else:
            v = (d * d * d + d * d + d) / 3
        h[m] = v
        h_max = max(h_max, v)
        if clean[m] == b0:
            lift += v
        elif clean[m] == b1:
            lift -= v
            second += 1.0
    sums[0], sums[1], sums[2], sums[3] = second, lift, h_max, bad


@_jit
def _pmd_draw(u, s, h, inverse, clean, rng, noisy, flip):
    for m in range(u.size):
        keep = h[m] * inverse
        noisy[m] = u[m] if rng.random() < keep else s[m]
        y = clean[m]
        flip[m] = 1.0 - (keep if y == u[m] else (1.0 - keep if y == s[m] else 0.0))


def pmd(posterior, clean, kind: int, rate, seed) -> InstanceNoise:
    """Zhang et al.'s PMD noise of type ``kind`` (1, 2 or 3) from ``posterior`` (n, c)."""
    rate = check_unit(rate)
    if kind not in KINDS:
        raise InputError(f"unknown PMD type {kind!r}; choose 1, 2 or 3")
    eta = _matrix(posterior, "posterior")
    c = eta.shape[1]
    clean = check_labels(clean, "clean labels", n=len(eta), classes=c, dtype=np.int32)
    u, s = np.empty(clean.size, dtype=np.int32), np.empty(clean.size, dtype=np.int32)
    h = np.empty(clean.size)
    sums = _by_chunks(clean.size, 4, lambda sl, out: _pmd_pass(
        eta[sl], clean[sl], kind, u[sl], s[sl], h[sl], out))  # fmt: skip
    _finite(sums[:, 3], "posterior")
    n = max(clean.size, 1)
    second, lift = sums[:, 0].sum() / n, sums[:, 1].sum() / n
    factor = factor_from_means(second, lift, float(sums[:, 2].max()), rate, kind)
    noisy = np.empty(clean.size, dtype=np.int32)
    flip = np.empty(clean.size)
    inverse = 1.0 / factor
    _for_chunks(
        clean.size,
        seed,
        lambda sl, rng: _pmd_draw(
            u[sl], s[sl], h[sl], inverse, clean[sl], rng, noisy[sl], flip[sl]
        ),
    )
    return _finish(clean, noisy, flip, c, {"kind": kind, "factor": factor})


# --- margin ------------------------------------------------------------------------------


@_jit
def _other_best(S, clean, score, target, sums):
    c = S.shape[1]
    bad = 0
    for m in range(clean.size):
        y = clean[m]
        best, arg = -np.inf, 0
        for k in range(c):
            if not np.isfinite(S[m, k]):
                bad += 1
            if k != y and S[m, k] > best:
                best, arg = S[m, k], k
        score[m], target[m] = best, arg
    sums[0] = bad


def _largest(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, ties at the k-th going to the earlier samples (what a
    stable sort of the scores, largest first, keeps), in O(n)."""
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    kth = np.partition(score, score.size - k)[score.size - k]
    above = np.flatnonzero(score > kth)
    at = np.flatnonzero(score == kth)[: k - above.size]
    return np.concatenate([above, at])


def margin(scores, clean, rate) -> InstanceNoise:
    """Chen et al.'s noise: the ``round(rate n)`` samples whose best other class scores highest
    take that class (ties broken by sample order, as a stable sort does)."""
    rate = check_unit(rate)
    S = _matrix(scores, "scores")
    c = S.shape[1]
    clean = check_labels(clean, "clean labels", n=len(S), classes=c, dtype=np.int32)
    score = np.empty(clean.size)
    target = np.empty(clean.size, dtype=np.int32)
    sums = _by_chunks(clean.size, 1, lambda sl, out: _other_best(
        S[sl], clean[sl], score[sl], target[sl], out))  # fmt: skip
    _finite(sums[:, 0], "scores")
    k = int(round(rate * clean.size))
    chosen = _largest(score, k)
    noisy = clean.copy()
    noisy[chosen] = target[chosen]
    flip = np.zeros(clean.size)
    flip[chosen] = 1.0
    threshold = float(score[chosen].min()) if k else float("inf")
    return _finish(clean, noisy, flip, c, {"threshold": threshold})


def generate(name: str, clean, rate, seed, *, features=None, posterior=None, scores=None,
             classes: int | None = None) -> InstanceNoise:  # fmt: skip
    """One of ``NOISES`` from what it needs: features (part-dependent), a posterior (pmd-k)
    or a clean-trained model's scores (margin; the posterior when none are given)."""
    check_noise(name)
    if name == "part-dependent":
        if features is None:
            raise InputError("part-dependent noise needs the features")
        return part_dependent(features, clean, rate, seed, classes=classes)
    if posterior is None:
        raise InputError(f"{name} noise needs a posterior (a clean-trained model's softmax)")
    if name.startswith("pmd-"):
        return pmd(posterior, clean, int(name[-1]), rate, seed)
    return margin(posterior if scores is None else scores, clean, rate)
