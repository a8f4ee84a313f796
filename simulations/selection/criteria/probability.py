"""The criteria that compare the coordinates of out-of-sample probabilities: confident
learning as its paper states the rule, and cleanlab's ``find_label_issues`` with its
defaults. Each is one decision per run (no epoch variants)."""

from __future__ import annotations

import numpy as np

from simulations.selection.criteria import Criterion, Scores


def _confident(s: Scores):
    from simulations.selection import rules

    if s.probs is None:
        return None
    thresholds = rules.confident_thresholds(s.probs, s.noisy, s.classes)
    mask = rules.select_confident(s.probs, s.noisy, thresholds)
    p_mask = None
    if s.p_probs is not None and s.has_probes:  # the probes judged at the same thresholds
        p_mask = rules.select_confident(s.p_probs, s.p_noisy, thresholds)
    return mask, p_mask


def _cleanlab(s: Scores):
    from simulations.selection import rules

    if s.probs is None:
        return None
    mask = rules.cleanlab_keep(s.probs, s.noisy)
    if mask is None:
        return None
    p_mask = None
    if s.p_probs is not None and s.has_probes:  # cleanlab's rule needs every row at once
        both = rules.cleanlab_keep(
            np.concatenate([s.probs, s.p_probs]), np.concatenate([s.noisy, s.p_noisy])
        )
        p_mask = None if both is None else both[s.noisy.size :]
    return mask, p_mask


def _agreement(filter_by: str | None):
    """The share of samples on which a mask agrees with a direct ``find_label_issues`` call
    (``filter_by``, or cleanlab's default); None without cleanlab or with one observed class."""

    def agreement(probs, noisy, mask) -> float | None:
        try:  # cleanlab is the optional extra smallloss[test]: the peer, not a dependency
            from cleanlab.filter import find_label_issues
        except ImportError:
            return None
        if np.unique(noisy).size < 2:
            return None
        kw = {} if filter_by is None else {"filter_by": filter_by}
        p = np.asarray(probs, dtype=np.float64)
        return float((mask == ~find_label_issues(noisy, p, n_jobs=1, **kw)).mean())

    return agreement


CONFIDENT = Criterion(
    "confident",
    "confident learning",
    "#8c564b",
    "drop a sample whose most likely above-threshold class is not its label "
    "(the confident-learning paper's rule)",
    needs="probabilities",
    select=_confident,
    agreement=_agreement("confident_learning"),
)
CLEANLAB = Criterion(
    "cleanlab",
    "cleanlab",
    "#e377c2",
    "the complement of cleanlab.filter.find_label_issues with its defaults (prune by noise rate)",
    needs="probabilities",
    select=_cleanlab,
    agreement=_agreement(None),
)
