"""Probes from a user's own training items: which ones to send for annotation, and the
annotated clean labels merged back into a run file's arrays.

A probe is a training item whose clean label was annotated by hand, drawn at random from the
training set stratified by observed label, and trained on like the others (the run format's
``probe`` and ``clean`` keys, ``simulations.selection.runfile``). ``pick`` draws them: each
observed class gets its share of the count, rounded by largest remainders so that the total is
exact, and the items within a class uniformly at random. ``merge`` marks the annotated items
as probes and stores their clean labels, keeping every other array as it is.

Arrays in, arrays out (numpy only); bad input is an ``InputError`` naming the problem.
"""

from __future__ import annotations

import numpy as np

from theory.errors import InputError


def _mask(exclude, n: int) -> np.ndarray:
    """(n,) bool from ``exclude``: None, a boolean mask of n, or integer indices."""
    if exclude is None:
        return np.zeros(n, bool)
    e = np.asarray(exclude)
    if e.dtype == np.bool_:
        if e.shape != (n,):
            raise InputError(f"exclude: expected {n} booleans, got shape {e.shape}")
        return e.copy()
    if e.size and (e.dtype.kind not in "iu" or e.ndim != 1):
        raise InputError(f"exclude: expected a boolean mask or indices, got {e.dtype} {e.shape}")
    e = e.astype(np.int64).ravel()
    if e.size and (e.min() < 0 or e.max() >= n):
        worst = int(e.max() if e.max() >= n else e.min())
        raise InputError(f"exclude: index {worst} is outside [0, {n})")
    out = np.zeros(n, bool)
    out[e] = True
    return out


def quotas(counts, count: int) -> np.ndarray:
    """How many of ``count`` picks each class gets: ``count * n_j / n`` rounded down, then one
    more for the classes with the largest remainders (ties to the lower class) until the total
    is exactly ``count``. Integer arithmetic throughout, so the split is exact.

    Parameters
    ----------
    counts : array of int, shape (c,)
        The items available in each class, n_j; their sum is n.
    count : int
        The number of picks, in [0, n].
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    if not 0 <= count <= n:
        raise InputError(f"cannot pick {count} of {n} items")
    if n == 0:
        return np.zeros_like(counts)
    share = count * counts
    out, remainder = share // n, share % n
    short = count - int(out.sum())
    # a stable sort on the negated remainders: the largest first, ties to the lower class
    out[np.argsort(-remainder, kind="stable")[:short]] += 1
    return out


def pick(noisy, count: int, seed: int, exclude=None) -> np.ndarray:
    """Indices of ``count`` items to annotate, stratified by observed label.

    Parameters
    ----------
    noisy : array of int, shape (n,)
        Each item's observed label.
    count : int
        How many to pick, at least 1 and at most the items not excluded.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed, the same picks.
    exclude : array, optional
        Items never picked (the run's existing probes): a boolean mask of n, or indices.

    Returns
    -------
    numpy.ndarray of int64
        The picked indices, ascending. Each class j among the available items gets
        ``quotas`` of them (within one of ``count * n_j / n``), drawn uniformly at random
        without replacement.
    """
    noisy = np.asarray(noisy)
    if noisy.ndim != 1 or (noisy.size and noisy.dtype.kind not in "iu"):
        raise InputError(f"noisy: expected one integer label per item, got {noisy.dtype}")
    if noisy.size and noisy.min() < 0:
        raise InputError(f"noisy: label {int(noisy.min())} is not a class")
    n = noisy.size
    available = ~_mask(exclude, n)
    free = int(available.sum())
    if isinstance(count, bool) or int(count) != count or count < 1:
        raise InputError(f"cannot pick {count} items: the count is a whole number, at least 1")
    count = int(count)
    if count > free:
        raise InputError(
            f"cannot pick {count} items: only {free} of the {n} training items are not probes"
        )
    labels = noisy[available].astype(np.int64)
    where = np.flatnonzero(available)
    counts = np.bincount(labels)
    take = quotas(counts, count)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(where[labels == j], size=int(k), replace=False) for j, k in enumerate(take) if k
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def merge(arrays: dict, index, clean) -> dict:
    """A copy of a run file's arrays with the annotated items made probes.

    Parameters
    ----------
    arrays : dict of str -> numpy.ndarray
        The run file's arrays; ``noisy`` gives n. ``probe`` (n,) and ``clean`` (n,) are
        created (all False, all -1 unknown) where absent.
    index : array of int, shape (m,)
        The annotated items' row indices in the run file: each in [0, n), none twice, none
        already a probe.
    clean : array of int, shape (m,)
        Their annotated clean labels, each at least 0 (the caller checks the upper end
        against the run's class count).

    Returns
    -------
    dict
        Every key of ``arrays`` (the same array objects), with ``probe[index] = True`` and
        ``clean[index] = clean`` in new arrays.
    """
    if "noisy" not in arrays:
        raise InputError("the run has no key 'noisy' (the training labels)")
    n = int(np.asarray(arrays["noisy"]).size)
    index = np.asarray(index)
    clean = np.asarray(clean)
    if index.ndim != 1 or clean.shape != index.shape:
        raise InputError(f"{index.size} indices for {clean.size} clean labels")
    if index.size and (index.dtype.kind not in "iu" or clean.dtype.kind not in "iu"):
        raise InputError("indices and clean labels must be integers")
    index, clean = index.astype(np.int64), clean.astype(np.int64)
    bad = np.flatnonzero((index < 0) | (index >= n))
    if bad.size:
        raise InputError(f"index {int(index[bad[0]])} is outside the run's rows [0, {n})")
    values, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        raise InputError(f"index {int(values[counts > 1][0])} is given more than once")
    if clean.size and clean.min() < 0:
        raise InputError(f"clean label {int(clean.min())} is not a class")
    probe = np.zeros(n, bool)
    if arrays.get("probe") is not None:
        probe = np.asarray(arrays["probe"]).astype(bool).copy()
        if probe.shape != (n,):
            raise InputError(f"run key 'probe': expected {n} booleans, got shape {probe.shape}")
    already = np.flatnonzero(probe[index])
    if already.size:
        raise InputError(f"index {int(index[already[0]])} is already a probe")
    if arrays.get("clean") is not None:
        old = np.asarray(arrays["clean"])
        if old.shape != (n,):
            raise InputError(f"run key 'clean': expected {n} labels, got shape {old.shape}")
        labels = old.astype(np.int64)  # a copy; the run format's clean labels are int64
    else:
        labels = np.full(n, -1, np.int64)
    probe[index] = True
    labels[index] = clean
    return {**arrays, "probe": probe, "clean": labels}
