"""Kept sets whose expected clean share is at least P: conformal p-values from the mislabelled
probes, then Benjamini-Hochberg (conformal selection, Jin & Candes 2023, with the roles
turned: the null is "mislabelled", and rejecting it keeps a sample).

A mislabelled probe and a mislabelled training sample are exchangeable (the probes a
uniformly random part of the pool), so a mislabelled training sample's p-value

    p_i = (1 + #{mislabelled probes scoring at most s_i}) / (B + 1)

is at least uniform, and BH at level ``q = 1 - P`` over the n training samples keeps a set
whose false share (the mislabelled among the kept) is at most q **in expectation over the
draw of the probes**: the false discovery rate, an empty set counting as false share 0 (the
p-values of the mislabelled samples are PRDS, as in conformal outlier testing, Bates et al.
2023). It is not a statement about one draw, as ``--confidence`` is. With ``groups`` (the
observed classes, for the per-class criteria) each sample is compared with the mislabelled
probes of its own class only: given each class's counts the classes' probes are independent
random parts of their pools, PRDS blocks side by side, so BH's control carries over; ties are
counted as at or below (valid one by one; PRDS proper wants them broken at random).
``tests/selection/test_conformal.py`` measures the rate over 1,000 draws.
"""

from __future__ import annotations

import numpy as np

from theory.validation import check_unit


def pvalues(scores, bad_probe_scores, groups=None, probe_groups=None) -> np.ndarray:
    """Each training sample's conformal p-value against the mislabelled probes (of its own
    group where ``groups`` is given): (n,) float64 in (0, 1]."""
    scores = np.asarray(scores, np.float64)
    bad = np.asarray(bad_probe_scores, np.float64)
    if groups is None:
        below = np.searchsorted(np.sort(bad), scores, side="right")
        return (1.0 + below) / (bad.size + 1.0)
    groups, probe_groups = np.asarray(groups), np.asarray(probe_groups)
    out = np.ones(scores.size)
    for g in np.unique(groups):
        ref = np.sort(bad[probe_groups == g])
        at = groups == g
        out[at] = (1.0 + np.searchsorted(ref, scores[at], side="right")) / (ref.size + 1.0)
    return out


def benjamini_hochberg(p, q: float) -> np.ndarray:
    """(n,) bool: the p-values BH rejects at level ``q``."""
    p = np.asarray(p, np.float64)
    order = np.argsort(p, kind="stable")
    ok = np.flatnonzero(p[order] <= q * np.arange(1, p.size + 1) / p.size)
    keep = np.zeros(p.size, bool)
    if ok.size:
        keep[order[: ok[-1] + 1]] = True
    return keep


def select(scores, bad_probe_scores, target: float, groups=None, probe_groups=None):
    """(n,) bool: the samples kept so that the expected clean share of the kept set is at
    least ``target`` (the false discovery rate at most ``1 - target``)."""
    target = check_unit(target, "target precision")
    return benjamini_hochberg(pvalues(scores, bad_probe_scores, groups, probe_groups), 1.0 - target)
