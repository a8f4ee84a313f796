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
Chunks and streams as in ``simulations.synthetic.generate``: bit-identical whatever the thread
count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numba as nb
import numpy as np

from simulations.synthetic.generate import CHUNK, chunk_rngs, run_chunks, seed_sequence
from theory.errors import InputError
from theory.instance import KINDS, factor_from_means
from theory.validation import check_labels, check_unit

FLIP_SD = 0.1  # spread of the per-sample flip rate in Xia et al.

_jit = nb.njit(nogil=True, cache=True)


@dataclass
class InstanceNoise:
    noisy: np.ndarray  # (n,) int32
    flip: np.ndarray  # (n,) float64, P(noisy != clean | x, clean)
    T_bar: np.ndarray  # (c, c) realised P(noisy = j | clean = i)
    realised_noise_rate: float  # share of samples with noisy != clean
    params: dict = field(default_factory=dict)  # what the theory needs to follow the draw


def _T_from_counts(counts: np.ndarray) -> np.ndarray:
    """Row-normalised (clean, noisy) counts; an empty clean class keeps its identity row."""
    sizes = counts.sum(axis=1, keepdims=True)
    return np.where(sizes > 0, counts / np.maximum(sizes, 1.0), np.eye(len(counts)))


def _finish(noisy, flip, counts, classes: int, params) -> InstanceNoise:
    """``counts``: per-chunk (clean, noisy) counts, a flattened c x c block per chunk row."""
    total = counts[:, : classes * classes].sum(axis=0).reshape(classes, classes)
    rate = (total.sum() - np.trace(total)) / max(noisy.size, 1)
    return InstanceNoise(noisy, flip, _T_from_counts(total), float(rate), params)


def check_noise(name: str) -> str:
    if name not in RECIPES:
        raise InputError(f"unknown instance noise {name!r}; choose from {', '.join(RECIPES)}")
    return name


def _matrix(x, name: str) -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 2:
        raise InputError(f"{name} must be an (n, c) matrix with c >= 2, got shape {a.shape}")
    return a


def _finite(flags: np.ndarray, name: str) -> None:
    """``flags``: per chunk, NaN where the chunk met an entry that is not finite."""
    if np.isnan(flags).any():
        raise InputError(f"{name} hold NaN or infinite entries")


def _by_chunks(n: int, width: int, work, seed=None) -> np.ndarray:
    """``work(slice, out)`` (or ``work(slice, out, rng)`` with a seed, one stream per chunk as
    in ``simulations.synthetic.generate``) over the chunks, in threads; row k of the result is chunk
    k's ``out``, summed in chunk order afterwards so totals do not depend on the threads."""
    starts = list(range(0, n, CHUNK)) or [0]
    out = np.zeros((len(starts), width))
    jobs = [[k, slice(a, min(a + CHUNK, n))] for k, a in enumerate(starts)]
    if seed is not None:
        for job, rng in zip(jobs, chunk_rngs(seed, n)):
            job.append(rng)
    run_chunks(lambda job: work(job[1], out[job[0]], *job[2:]), jobs)
    return out


# --- part-dependent ----------------------------------------------------------------------


@_jit
def _part_dependent(X, clean, W, rate, sd, rng, noisy, flip, counts):
    c = W.shape[2]
    d = X.shape[1]
    a = np.empty(c)
    local = np.zeros(c * c, np.int64)  # a local histogram: far faster than adding to ``counts``
    nan = 0.0  # turns NaN at the first entry that is not finite
    for m in range(clean.size):
        for t in range(d):
            nan += X[m, t] * 0.0
        q = -1.0
        while q < 0.0 or q > 1.0:
            q = rate + sd * rng.standard_normal()
        y = clean[m]
        u = rng.random()
        label = y
        if u >= 1.0 - q:
            # only a flipped sample needs its scores: u lands in the flipped share, walk the
            # other classes' masses q softmax_k
            a[:] = 0.0
            for t in range(d):
                x = X[m, t]
                for k in range(c):
                    a[k] += x * W[y, t, k]
            top = -np.inf
            for k in range(c):
                if k != y:
                    top = max(top, a[k])
            total = 0.0
            for k in range(c):
                a[k] = 0.0 if k == y else np.exp(a[k] - top)
                total += a[k]
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
        local[y * c + label] += 1
    counts[: c * c] += local
    counts[c * c] = nan


def part_dependent_weights(classes: int, dim: int, seed) -> np.ndarray:
    """The recipe's ``W ~ N(0, 1)`` of shape (c, d, c), from its own stream of ``seed``."""
    rng = np.random.default_rng(seed_sequence(seed).spawn(2)[1])
    return rng.standard_normal((classes, dim, classes))


def part_dependent(features, clean, rate, seed, classes: int | None = None) -> InstanceNoise:
    """Xia et al.'s part-dependent noise on ``features`` (n, d), mean flip rate ``rate``."""
    rate = check_unit(rate)
    X = np.ascontiguousarray(features, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"features must be an (n, d) matrix, got shape {X.shape}")
    clean = check_labels(clean, "clean labels", n=len(X), classes=classes, dtype=np.int32)
    c = int(classes or clean.max() + 1)
    W = part_dependent_weights(c, X.shape[1], seed)
    noisy = np.empty(clean.size, dtype=np.int32)
    flip = np.empty(clean.size)
    counts = _by_chunks(
        clean.size,
        c * c + 1,
        lambda sl, out, rng: _part_dependent(
            X[sl], clean[sl], W, rate, FLIP_SD, rng, noisy[sl], flip[sl], out
        ),
        seed=seed_sequence(seed).spawn(2)[0],
    )
    _finite(counts[:, -1], "features")
    return _finish(noisy, flip, counts, c, {"W": W, "rate": rate, "sd": FLIP_SD})


# --- PMD ---------------------------------------------------------------------------------


BLOCK = 128  # rows transposed at a time, so the top-two scan runs along contiguous columns


@_jit
def _top_two(eta, other_than, u, s, gap):
    """Per row the best class ``u``, the runner-up ``s`` and ``gap`` = their difference (the
    first index wins ties, as a scan with strict comparisons keeps). With ``other_than`` (one
    class per row, or None) ``u`` is the best class other than that one, ``gap`` its
    score and ``s`` is not written. Returns NaN if an entry is not finite, else 0.

    The rows are read in blocks, transposed, and scanned column by column with selects in
    place of branches: on posteriors the order of the entries is random, so a branchy scan
    mispredicts about every other entry."""
    n, c = eta.shape
    tb = np.empty((c, BLOCK))
    v0, v1 = np.empty(BLOCK), np.empty(BLOCK)
    b0, b1 = np.empty(BLOCK, np.int32), np.empty(BLOCK, np.int32)
    nan = np.zeros(BLOCK)
    for m0 in range(0, n, BLOCK):
        w = min(BLOCK, n - m0)
        for i in range(w):
            for k in range(c):
                tb[k, i] = eta[m0 + i, k]
        for i in range(w):
            v0[i], v1[i], b0[i], b1[i] = -np.inf, -np.inf, 0, 0
        for k in range(c):
            col = tb[k]
            for i in range(w):
                x = col[i]
                nan[i] += x * 0.0
                if other_than is not None:  # pruned at compile time when None
                    x = -np.inf if other_than[m0 + i] == k else x
                g0 = x > v0[i]
                g1 = x > v1[i]
                v1[i] = v0[i] if g0 else (x if g1 else v1[i])
                b1[i] = b0[i] if g0 else (k if g1 else b1[i])
                v0[i] = x if g0 else v0[i]
                b0[i] = k if g0 else b0[i]
        for i in range(w):
            u[m0 + i] = b0[i]
            if other_than is None:
                s[m0 + i] = b1[i]
                gap[m0 + i] = v0[i] - v1[i]
            else:
                gap[m0 + i] = v0[i]
    return nan.sum()


@_jit
def _pmd_pass(eta, clean, kind, u, s, h, sums):
    """Top two classes and h(D) per sample; ``sums``: (count of s, sum of (top - second) h,
    max h, NaN if an entry is not finite)."""
    sums[3] = _top_two(eta, None, u, s, h)
    second = lift = 0.0
    h_max = 0.0
    for m in range(clean.size):
        d = h[m]
        if kind == 1:
            v = max(d * d / 2 + 0.5, 0.5)
        elif kind == 2:
            v = d * d * d
        else:
            v = (d * d * d + d * d + d) / 3
        h[m] = v
        h_max = max(h_max, v)
        if clean[m] == u[m]:
            lift += v
        elif clean[m] == s[m]:
            lift -= v
            second += 1.0
    sums[0], sums[1], sums[2] = second, lift, h_max


@_jit
def _pmd_draw(u, s, h, inverse, clean, c, rng, noisy, flip, counts):
    local = np.zeros(c * c, np.int64)
    for m in range(u.size):
        keep = h[m] * inverse
        top, runner_up, y = u[m], s[m], clean[m]
        label = top if rng.random() < keep else runner_up
        noisy[m] = label
        # u != s, so at most one term is not 0 (two selects: no branch to mispredict)
        flip[m] = 1.0 - ((keep if y == top else 0.0) + (1.0 - keep if y == runner_up else 0.0))
        local[y * c + label] += 1
    counts += local


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
    sums = _by_chunks(
        clean.size, 4, lambda sl, out: _pmd_pass(eta[sl], clean[sl], kind, u[sl], s[sl], h[sl], out)
    )
    _finite(sums[:, 3], "posterior")
    n = max(clean.size, 1)
    second, lift = sums[:, 0].sum() / n, sums[:, 1].sum() / n
    factor = factor_from_means(second, lift, float(sums[:, 2].max()), rate, kind)
    noisy = np.empty(clean.size, dtype=np.int32)
    flip = np.empty(clean.size)
    inverse = 1.0 / factor
    counts = _by_chunks(
        clean.size,
        c * c,
        lambda sl, out, rng: _pmd_draw(
            u[sl], s[sl], h[sl], inverse, clean[sl], c, rng, noisy[sl], flip[sl], out
        ),
        seed=seed,
    )
    return _finish(noisy, flip, counts, c, {"kind": kind, "factor": factor})


# --- margin ------------------------------------------------------------------------------


@_jit
def _other_best(S, clean, score, target, out):
    """Best class other than the clean one, and its score."""
    out[0] = _top_two(S, clean, target, target[:0], score)


def _kth_largest(score: np.ndarray, k: int) -> tuple[float, int]:
    """The k-th largest score and how many of the samples at it are taken (the earliest)."""
    kth = np.partition(score, score.size - k)[score.size - k]
    return float(kth), k - int(np.count_nonzero(score > kth))


@_jit
def _flip_largest(score, target, clean, kth, ties, c, noisy, flip):
    """Samples scoring above ``kth``, and the first ``ties`` at it, take their target class:
    what a stable sort of the scores, largest first, keeps. Returns the (clean, noisy)
    counts."""
    counts = np.zeros(c * c)
    for m in range(clean.size):
        at = score[m] == kth
        take = score[m] > kth or (at and ties > 0)
        ties -= 1 if take and at else 0
        y = clean[m]
        label = target[m] if take else y
        noisy[m] = label
        flip[m] = 1.0 if take else 0.0
        counts[y * c + label] += 1.0
    return counts


def margin(scores, clean, rate) -> InstanceNoise:
    """Chen et al.'s noise: the ``round(rate n)`` samples whose best other class scores highest
    take that class (ties broken by sample order, as a stable sort does)."""
    rate = check_unit(rate)
    S = _matrix(scores, "scores")
    c = S.shape[1]
    clean = check_labels(clean, "clean labels", n=len(S), classes=c, dtype=np.int32)
    score = np.empty(clean.size)
    target = np.empty(clean.size, dtype=np.int32)
    flags = _by_chunks(
        clean.size, 1, lambda sl, out: _other_best(S[sl], clean[sl], score[sl], target[sl], out)
    )
    _finite(flags[:, 0], "scores")
    k = int(round(rate * clean.size))
    kth, ties = _kth_largest(score, k) if k else (np.inf, 0)
    noisy = np.empty_like(clean)
    flip = np.empty(clean.size)
    counts = _flip_largest(score, target, clean, kth, ties, c, noisy, flip)
    threshold = kth if k else float("inf")
    return _finish(noisy, flip, counts[None], c, {"threshold": threshold})


# --- the recipes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """An instance-dependent recipe: what it reads and how it draws. ``needs`` is
    ``"features"`` (the samples' x) or ``"posterior"`` (a clean-trained model's softmax, with
    its scores where the recipe ranks them); ``draw(inputs, clean, rate, seed, classes)``
    with ``inputs`` a ``RecipeInputs``. The theory follows each by name (``theory.instance``)."""

    name: str
    needs: str
    draw: Callable
    short: str = ""  # as a crowded figure axis prints it (the name where empty)

    @property
    def label(self) -> str:
        return self.short or self.name


@dataclass
class RecipeInputs:
    features: np.ndarray | None = None
    posterior: np.ndarray | None = None
    scores: np.ndarray | None = None  # margin's ranking score (the posterior where None)


def _pmd_recipe(kind: int) -> Recipe:
    return Recipe(
        f"pmd-{kind}",
        "posterior",
        lambda x, clean, rate, seed, classes: pmd(x.posterior, clean, kind, rate, seed),
    )


_RECIPES = (
    Recipe(
        "part-dependent",
        "features",
        lambda x, clean, rate, seed, classes: part_dependent(
            x.features, clean, rate, seed, classes=classes
        ),
        short="part-dep.",
    ),
    _pmd_recipe(1),
    _pmd_recipe(2),
    _pmd_recipe(3),
    Recipe(
        "margin",
        "posterior",
        lambda x, clean, rate, seed, classes: margin(
            x.posterior if x.scores is None else x.scores, clean, rate
        ),
    ),
)
RECIPES: dict[str, Recipe] = {r.name: r for r in _RECIPES}
NOISES = tuple(RECIPES)


def generate(
    name: str,
    clean,
    rate,
    seed,
    *,
    features=None,
    posterior=None,
    scores=None,
    classes: int | None = None,
) -> InstanceNoise:
    """The recipe ``name`` (one of ``NOISES``) from what it needs (``Recipe.needs``):
    features, or a posterior (a clean-trained model's softmax, and its scores where the
    recipe ranks them)."""
    recipe = RECIPES[check_noise(name)]
    x = RecipeInputs(features, posterior, scores)
    if recipe.needs == "features" and features is None:
        raise InputError(f"{name} noise needs the features")
    if recipe.needs == "posterior" and posterior is None:
        raise InputError(f"{name} noise needs a posterior (a clean-trained model's softmax)")
    return recipe.draw(x, clean, rate, seed, classes)
