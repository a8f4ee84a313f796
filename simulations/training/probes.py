"""Probes from a user's annotated validation items: a share of them is trained on with its
noisy label and never selected; their losses, beside their clean labels, are what the count
predictions and the confidence bounds of ``smallloss analyse`` read.

A probe must be drawn like a training sample and labelled by the same noisy process: its
real noisy label where the items were annotated as the training set was, or a label drawn
from T (``generate.noisy_labels``) when only T is known.

>>> import numpy as np
>>> p = make_probes(np.array([0, 1, 2, 0, 1, 2, 0, 1]), 0.5, seed=0,
...                 val_noisy=np.array([0, 1, 1, 0, 1, 2, 2, 1]))
>>> p.index.size, p.keep.size, bool(np.all(p.noisy == np.array([0, 1, 1, 0, 1, 2, 2, 1])[p.index]))
(4, 4, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.synthetic import generate
from theory.errors import InputError
from theory.validation import check_float


@dataclass(frozen=True)
class Probes:
    """Which validation items become probes, and their labels."""

    index: np.ndarray  # (R,) int64, sorted: positions among the validation items; add these
    clean: np.ndarray  # (R,) int64: their clean labels
    noisy: np.ndarray  # (R,) int64: the labels to train them with
    keep: np.ndarray  # (m - R,) int64, sorted: the items that stay in the clean validation split


def make_probes(val_clean, share: float, seed, *, val_noisy=None, T=None) -> Probes:
    """Move ``share`` of the validation items into the training set as probes.

    Parameters
    ----------
    val_clean : (m,) int
        The validation items' clean labels.
    share : float
        In (0, 1): the share of them that becomes probes.
    seed : int or numpy.random.SeedSequence
        Which items move (and, with ``T``, their drawn labels).
    val_noisy : (m,) int, optional
        The items' own noisy labels (annotated as the training set was): the probes keep them.
    T : (c, c) float, optional
        Without ``val_noisy``: the probes' labels are drawn from T.

    Returns
    -------
    Probes
    """
    val_clean = np.asarray(val_clean, dtype=np.int64)
    share = check_float(share, "probes", 0.0, 1.0, low_open=True, high_open=True)
    if (val_noisy is None) == (T is None):
        raise InputError("probes need their noisy labels: give val_noisy or T (one of them)")
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rng = np.random.default_rng(seq)
    moved = rng.permutation(val_clean.size)[: int(round(share * val_clean.size))]
    index = np.sort(moved)
    keep = np.setdiff1d(np.arange(val_clean.size), index)
    clean = val_clean[index]
    if val_noisy is not None:
        noisy = np.asarray(val_noisy, dtype=np.int64)[index]
    else:
        noisy = generate.noisy_labels(clean, T, seq.spawn(1)[0]).astype(np.int64)
    return Probes(index=index.astype(np.int64), clean=clean, noisy=noisy, keep=keep)
