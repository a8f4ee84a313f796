"""Numba generators: clean labels, noisy labels from any T, model outputs, per-sample losses.

Every generator takes its seed explicitly. Work is cut into fixed chunks of ``CHUNK``
samples, each with its own ``numpy.random.Generator`` spawned from the seed, so results are
identical bit for bit whatever the size of the run around them, temporaries stay bounded
(n = 1e8 needs only the output arrays), and any chunk can be regenerated on its own.
Chunks run on a thread pool (the kernels release the GIL); each has its own stream, so the
bytes do not depend on the number of threads. Numba draws from the numpy Generator passed
into the kernel: its built-in ``np.random`` is about three times slower.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

from theory.errors import InputError
from theory.validation import (
    check_float,
    check_int,
    check_labels,
    check_prior,
    check_transition,
    check_unit,
)

CHUNK = 1 << 18
MODELS = ("bayes", "perturbed", "overlap")
ALIAS_FROM = 24  # classes from which the alias method beats a branchless cdf count

_jit = nb.njit(nogil=True, cache=True)


def seed_sequence(seed) -> np.random.SeedSequence:
    """A fresh ``SeedSequence`` for ``seed`` (an int, or a SeedSequence to copy).

    A SeedSequence is copied, not used: ``spawn`` advances its counter, so spawning from the
    caller's object twice would give two different streams, and every pass over the same
    samples (losses, then probabilities, then cleanlab) would see different model outputs.
    """
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(
            seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size
        )
    return np.random.SeedSequence(seed)


def chunk_rngs(seed, n: int) -> list[np.random.Generator]:
    """One Generator per chunk of ``CHUNK`` samples, derived from ``seed`` by SeedSequence.spawn."""
    return [np.random.default_rng(s) for s in seed_sequence(seed).spawn(max(1, -(-n // CHUNK)))]


def _chunks(n: int):
    for start in range(0, n, CHUNK):
        yield slice(start, min(start + CHUNK, n))


_POOL: ThreadPoolExecutor | None = None


def _for_chunks(n: int, seed, work) -> None:
    """Run ``work(slice, rng)`` over every chunk, in parallel threads when there are several."""
    run_chunks(lambda job: work(*job), list(zip(_chunks(n), chunk_rngs(seed, n))))


def run_chunks(fn, jobs: list) -> None:
    """``fn(job)`` for every job, on the shared thread pool when there are several."""
    global _POOL
    if len(jobs) == 1:
        fn(jobs[0])
        return
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="smallloss")
    for _ in _POOL.map(fn, jobs):
        pass


# --- categorical draws ---------------------------------------------------------------


def alias_tables(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias tables of each row of ``P``: one uniform per draw, O(1) whatever c."""
    rows, c = P.shape
    prob = np.ones((rows, c))
    alias = np.tile(np.arange(c, dtype=np.int32), (rows, 1))
    for r in range(rows):
        scaled = P[r] * c
        small = [k for k in range(c) if scaled[k] < 1.0]
        large = [k for k in range(c) if scaled[k] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            prob[r, s], alias[r, s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        # leftovers are 1 up to rounding: they keep themselves
    return prob, alias


@_jit
def _draw_cdf(rows, cdf, rng, out):
    # a branchless count of cdf thresholds below u: no unpredictable branch for small c
    c1 = cdf.shape[1] - 1
    for n in range(out.size):
        u = rng.random()
        r = rows[n]
        k = 0
        for j in range(c1):
            k += u >= cdf[r, j]
        out[n] = k


@_jit
def _draw_alias(rows, prob, alias, rng, out):
    c = prob.shape[1]
    for n in range(out.size):
        u = rng.random() * c
        k = int(u)
        r = rows[n]
        out[n] = k if u - k < prob[r, k] else alias[r, k]


class _Categorical:
    """Draws ``k ~ P[row]`` for a row index per sample."""

    def __init__(self, P: np.ndarray):
        self.c = P.shape[1]
        if self.c >= ALIAS_FROM:
            self.prob, self.alias = alias_tables(P)
        else:
            self.cdf = np.cumsum(P, axis=1)

    def draw(self, rows: np.ndarray, rng, out: np.ndarray) -> None:
        if self.c >= ALIAS_FROM:
            _draw_alias(rows, self.prob, self.alias, rng, out)
        else:
            _draw_cdf(rows, self.cdf, rng, out)


def clean_labels(n: int, prior, seed) -> np.ndarray:
    """``n`` i.i.d. clean labels from ``prior``.

    ``prior``: (c,) probabilities (counts are normalised); ``seed``: int or SeedSequence.
    Returns (n,) int32 in ``0..c-1``, the same bytes for the same seed on any thread count.
    """
    n = check_int(n, "n", low=1)
    prior = np.asarray(prior, dtype=np.float64)
    p = check_prior(prior, prior.size)
    draw = _Categorical(p[None, :])
    out = np.empty(n, dtype=np.int32)
    zeros = np.zeros(min(n, CHUNK), dtype=np.int32)
    _for_chunks(n, seed, lambda sl, rng: draw.draw(zeros[: sl.stop - sl.start], rng, out[sl]))
    return out


def _labels32(labels, classes: int, name: str) -> np.ndarray:
    return check_labels(labels, name, classes=classes, dtype=np.int32)


def noisy_labels(clean_labels, T, seed, exact: bool = False) -> np.ndarray:
    """Noisy labels drawn from ``T[clean]``: i.i.d. per sample, or with exact per-cell counts.

    ``exact=True`` assigns, within each clean class i of size n_i, exactly ``counts[i, j]``
    samples to noisy label j (``exact_counts``: T[i,j] n_i rounded by largest remainder, so
    every class adds up and its realised noise is within one sample of the requested one),
    in a uniformly random order.

    ``clean_labels``: (n,) integer labels in ``0..c-1``; ``T``: (c, c) row-stochastic, rows =
    clean class; ``seed``: int or SeedSequence. Returns (n,) int32.
    """
    T = check_transition(T)
    clean = _labels32(clean_labels, len(T), "clean labels")
    n = clean.size
    out = np.empty(n, dtype=np.int32)
    if exact:
        sizes = np.bincount(clean, minlength=len(T))
        _assign_exact(
            clean, exact_counts(sizes, T), np.random.default_rng(seed_sequence(seed)), out
        )
        return out
    draw = _Categorical(T)
    _for_chunks(n, seed, lambda sl, rng: draw.draw(clean[sl], rng, out[sl]))
    return out


def exact_counts(sizes, T) -> np.ndarray:
    """Integer ``counts[i, j]`` nearest ``T[i, j] * sizes[i]``.

    Every row adds up to ``sizes[i]``."""
    T = check_transition(T)
    sizes = np.asarray(sizes, dtype=np.int64)
    target = T * sizes[:, None]
    counts = np.floor(target).astype(np.int64)
    short = sizes - counts.sum(axis=1)
    for i in range(len(T)):
        # largest remainder; ties go to the diagonal first, then by column
        rem = target[i] - counts[i]
        order = np.lexsort((np.arange(len(T)), np.arange(len(T)) != i, -rem))
        counts[i, order[: short[i]]] += 1
    return counts


@_jit
def _assign_exact(clean, counts, rng, out):
    c = counts.shape[0]
    n = clean.size
    # counting sort of the samples by clean class
    start = np.zeros(c + 1, dtype=np.int64)
    for k in range(n):
        start[clean[k] + 1] += 1
    for i in range(c):
        start[i + 1] += start[i]
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for k in range(n):
        order[fill[clean[k]]] = k
        fill[clean[k]] += 1
    for i in range(c):
        lo, hi = start[i], start[i + 1]
        # Fisher-Yates on this class's positions, then hand out labels block by block
        for a in range(hi - 1, lo, -1):
            b = lo + rng.integers(0, a - lo + 1)
            order[a], order[b] = order[b], order[a]
        pos = lo
        for j in range(c):
            for _ in range(counts[i, j]):
                out[order[pos]] = j
                pos += 1


# --- model outputs -------------------------------------------------------------------


@_jit
def _outputs(clean, T, model, eps, alpha, sep, log_prior, rng, out):
    c = T.shape[0]
    d = np.empty(c)
    acc = np.empty(c)
    for n in range(clean.size):
        y = clean[n]
        if model == 0:
            for j in range(c):
                out[n, j] = T[y, j]
        elif model == 1:
            s = 0.0
            for j in range(c):
                d[j] = rng.standard_gamma(alpha)
                s += d[j]
            for j in range(c):
                out[n, j] = (1.0 - eps) * T[y, j] + eps * d[j] / s
        else:
            # class means sep * e_k, unit variance: the posterior depends on the first c coordinates
            top = -np.inf
            for k in range(c):
                z = rng.standard_normal() + (sep if k == y else 0.0)
                d[k] = sep * z + log_prior[k]
                top = max(top, d[k])
            s = 0.0
            for k in range(c):
                d[k] = np.exp(d[k] - top)
                s += d[k]
            # T^T d, each entry summed over k in the same order as one dot product would,
            # but row by row of T: c independent sums instead of one chain of c^2 additions
            # (2.7x faster at c = 100, the same bits)
            acc[:] = 0.0
            for k in range(c):
                for j in range(c):
                    acc[j] += d[k] * T[k, j]
            for j in range(c):
                out[n, j] = acc[j] / s


def check_model(
    model: str, epsilon: float = 0.0, separation: float = 1.0, alpha: float = 1.0
) -> int:
    """The index of ``model`` in ``MODELS``, once its parameters are checked."""
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    check_unit(epsilon, "epsilon")
    check_float(separation, "separation", 0.0)
    check_float(alpha, "alpha", 0.0, low_open=True)
    return MODELS.index(model)


class Model:
    """A model output ``g(x)`` per sample, regenerable chunk by chunk from its seed.

    - ``bayes``: ``g = T[f*(x)]``, the cross-entropy minimiser.
    - ``perturbed``: ``g = (1-eps) T[f*(x)] + eps D``, ``D ~ Dirichlet(alpha 1_c)``: on the
      simplex, and ``||g - g*||_inf = eps ||D - T[f*]||_inf <= eps``.
    - ``overlap``: classes are Gaussians ``N(separation e_k, I)``; ``g = T^T q(x)`` with q the
      true soft posterior, so samples near the class boundary are ambiguous.
    """

    def __init__(self, name: str, T, *, epsilon=0.0, separation=1.0, alpha=1.0, prior=None):
        self.id = check_model(name, epsilon, separation, alpha)
        self.name = name
        self.T = check_transition(T)
        self.epsilon, self.separation, self.alpha = float(epsilon), float(separation), float(alpha)
        self.log_prior = np.log(check_prior(prior, len(self.T)))

    def probs(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((clean.size, len(self.T)), dtype=np.float32)
        _outputs(
            clean,
            self.T,
            self.id,
            self.epsilon,
            self.alpha,
            self.separation,
            self.log_prior,
            rng,
            out,
        )
        return out

    def chunks(self, clean, seed):
        """Yield ``(slice, probs)`` over the samples; the same seed gives the same outputs."""
        clean = _labels32(clean, len(self.T), "clean labels")
        for sl, rng in zip(_chunks(clean.size), chunk_rngs(seed, clean.size)):
            yield sl, self.probs(clean[sl], rng)


# --- losses --------------------------------------------------------------------------


@_jit
def _loss_of(probs, labels, out):
    for n in range(labels.size):
        out[n] = -np.log(probs[n, labels[n]])


# approximate libm functions are fine for losses (error ~1e-7 relative); inf and NaN stay exact
_FAST = {"afn", "arcp", "contract", "nsz", "reassoc"}


@nb.njit(parallel=True, cache=True, fastmath=_FAST)
def _cross_entropy(probs, labels, out):
    # the label range check rides along the loop instead of separate min/max passes
    c = probs.shape[1]
    bad = 0
    for n in nb.prange(labels.size):
        y = labels[n]
        if y < 0 or y >= c:
            bad += 1
            out[n] = np.nan
        else:
            out[n] = -np.log(probs[n, y])
    return bad


def cross_entropy(probs, labels, out=None) -> np.ndarray:
    """``-log probs[n, labels[n]]`` per sample: ``probs`` (n, c), ``labels`` (n,) integers;
    returns (n,) float32 (written into ``out`` when given)."""
    probs = np.ascontiguousarray(probs, dtype=np.float32)
    labels = np.ascontiguousarray(labels)
    if (
        probs.ndim != 2
        or labels.shape != (probs.shape[0],)
        or not np.issubdtype(labels.dtype, np.integer)
    ):
        raise InputError(
            f"need probs (n, c) and n integer labels, got {probs.shape} and {labels.shape}"
        )
    if out is None:
        out = np.empty(labels.size, dtype=np.float32)
    if _cross_entropy(probs, labels, out):
        raise InputError(f"labels hold values outside 0..{probs.shape[1] - 1}")
    return out


def observed_losses(model: Model, clean, noisy, seed) -> np.ndarray:
    """The loss ``-log g(x)[noisy]`` of each sample under ``model``, without holding all outputs.

    ``clean``, ``noisy``: (n,) integer labels; ``seed``: int or SeedSequence (``Model.chunks``
    with the same seed yields the very outputs these losses come from). Returns (n,) float32.
    """
    clean = _labels32(clean, len(model.T), "clean labels")
    noisy = _labels32(noisy, len(model.T), "noisy labels")
    out = np.empty(noisy.size, dtype=np.float32)
    _for_chunks(
        noisy.size, seed, lambda sl, rng: _loss_of(model.probs(clean[sl], rng), noisy[sl], out[sl])
    )
    return out


@_jit
def _fluctuate(base, epochs, sigma, rho, rng, last, mean):
    shared, own = sigma * np.sqrt(rho), sigma * np.sqrt(1.0 - rho)
    for n in range(base.size):
        z0 = shared * rng.standard_normal()
        acc = 0.0
        e = 0.0
        for _ in range(epochs):
            e = own * rng.standard_normal()
            acc += e
        last[n] = base[n] + z0 + e
        mean[n] = base[n] + z0 + acc / epochs


def epoch_losses(
    base, epochs: int, sigma: float, rho: float, seed
) -> tuple[np.ndarray, np.ndarray]:
    """(last-epoch loss, mean loss over ``epochs``) when each epoch adds a fluctuation.

    Epoch t's loss is ``base + sigma (sqrt(rho) z0 + sqrt(1-rho) z_t)``: spread sigma,
    correlation rho between epochs (claim C7's model). The mean keeps the shared part and
    shrinks the rest: its spread is ``sigma sqrt(rho + (1-rho)/E)``.
    """
    if int(epochs) != epochs or epochs < 1:
        raise InputError(f"epochs = {epochs!r} must be a positive integer")
    if not np.isfinite(sigma) or sigma < 0:
        raise InputError(f"sigma = {sigma:g} must be >= 0")
    if not np.isfinite(rho) or not 0.0 <= rho <= 1.0:
        raise InputError(f"rho = {rho:g} is outside [0, 1]")
    base = np.ascontiguousarray(base, dtype=np.float32)
    last, mean = np.empty_like(base), np.empty_like(base)
    _for_chunks(
        base.size,
        seed,
        lambda sl, rng: _fluctuate(
            base[sl], int(epochs), float(sigma), float(rho), rng, last[sl], mean[sl]
        ),
    )
    return last, mean
