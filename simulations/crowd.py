"""Several annotators per item: Dawid-Skene EM, run on the distinct label patterns.

Items with the same labels from every annotator share one posterior, so EM runs over the
``m`` distinct patterns with their counts (903 patterns for CIFAR-10N's 50,000 items): the
same fixed point as an item-wise EM, and a bootstrap over items becomes a multinomial
redraw of the pattern counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    """Rows of log joint probabilities -> (posterior rows, log evidence per row), stably."""
    top = log_joint.max(1, keepdims=True)
    joint = np.exp(log_joint - top)
    total = joint.sum(1, keepdims=True)
    return joint / total, (np.log(total) + top)[:, 0]


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
    """T[i, j] = P(label j | true i), from pattern posteriors and the label's law per pattern."""
    mass = np.einsum("m,mi,mij->ij", np.asarray(counts, float), posterior, law)
    rows = mass.sum(1, keepdims=True)
    c = mass.shape[1]
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
