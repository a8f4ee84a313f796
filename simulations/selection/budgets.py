"""How many each loss criterion keeps: the clean count T expects in each observed class,
RSL's budgets, a share, Co-teaching's forget rate, or the budgets for a target precision
predicted from cell laws."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.selection import rules
from simulations.selection.keep import RSL_KEEP, Target
from simulations.selection.scores import mean_loss
from theory import precision, rsl
from theory.budgets import share_count, target_budgets
from theory.noise import class_noise_rates, noise_rate

RSL_RULES = ("balanced", "authors")


@dataclass
class Budgets:
    """Per observed class, the counts the loss criteria keep."""

    classwise: np.ndarray  # (c,) int64: per-class selection's (and, in total, global's)
    rsl: np.ndarray  # (c,) int64: RSL's, balanced num(i) or the authors' prop * n / c
    rsl_rule: str  # which of the two
    # what the global ranking keeps where it is chosen apart (a target's); else the per-class
    # budgets' total
    global_total: int | float | None = None

    @property
    def total(self):
        if self.global_total is not None:
            return self.global_total
        return int(self.classwise.sum())


def expected_clean_budgets(noisy_counts: np.ndarray, T: np.ndarray, prior: np.ndarray):
    """``(1 - eta_j) n_j``: how many of observed class j a known T says are clean.

    Parameters
    ----------
    noisy_counts : (c,) int
        How many training samples carry each observed label.
    T : (c, c) float
        Transition matrix, ``T[clean, noisy]``.
    prior : (c,) float
        Clean class prior.

    Returns
    -------
    (c,) int64, rounded by ``theory.budgets.share_count``.
    """
    return share_count(precision.oracle_fractions(T, prior), noisy_counts)


def rsl_budgets_by_rule(
    noisy: np.ndarray, prior: np.ndarray, T: np.ndarray, rule: str
) -> np.ndarray:
    """RSL's budget per observed class: ``balanced`` = num(i) (``theory.rsl.num``),
    ``authors`` = prop(i) n / c, as the authors' code keeps for uniform and pairwise noise
    (at most each class's count).

    Returns
    -------
    (c,) int64
    """
    c = len(T)
    n_j = np.bincount(noisy, minlength=c)
    eta = class_noise_rates(T, prior)
    if rule == "authors":
        return np.minimum(share_count(rsl.proportions(eta) * noisy.size / c), n_j)
    return rules.rsl_budgets(n_j, eta, prior)


def budgets(noisy: np.ndarray, prior: np.ndarray, T: np.ndarray, rule: str) -> Budgets:
    """The expected clean count of each observed class, and RSL's budget by ``rule``.

    Parameters
    ----------
    noisy : (n,) int
        Noisy labels of the samples the criteria score.
    prior : (c,) float
        Clean class prior.
    T : (c, c) float
        Transition matrix.
    rule : {"balanced", "authors"}
        RSL's budget rule.
    """
    n_j = np.bincount(noisy, minlength=len(T))
    return Budgets(
        expected_clean_budgets(n_j, T, prior), rsl_budgets_by_rule(noisy, prior, T, rule), rule
    )


def for_keep(keep, noisy: np.ndarray, prior: np.ndarray, T: np.ndarray, rule: str) -> Budgets:
    """The budgets ``--keep`` names: ``oracle`` (and ``target:P``, whose own budgets are chosen
    apart) the expected clean counts, with RSL at its own rule; ``rsl`` RSL's budgets for
    every criterion; a share that share of every observed class."""
    b = budgets(noisy, prior, T, rule)
    if keep == RSL_KEEP:
        return Budgets(b.rsl.copy(), b.rsl, rule)
    if keep == "oracle" or isinstance(keep, Target):
        return b
    share = share_count(float(keep), np.bincount(noisy, minlength=len(T)))
    return Budgets(share, share.copy(), rule)


def coteaching_selection(losses: np.ndarray, T, prior) -> tuple[np.ndarray, int]:
    """(mask, kept) of Co-teaching's fixed forget rate: one global ranking that keeps the
    share ``1 - noise rate``, whatever precision that buys.

    Parameters
    ----------
    losses : (n,) float
        Per-sample losses.
    T, prior : (c, c) and (c,) float
        The transition matrix and clean prior whose noise rate sets the share dropped.

    Returns
    -------
    (n,) bool mask of the kept samples, and how many it keeps.
    """
    total = int(share_count(1 - noise_rate(T, prior), losses.size))
    return rules.select_global(losses, total), total


def coteaching_rule(losses: np.ndarray, laws, T, prior):
    """(mask, kept, prediction) of Co-teaching's fixed forget rate, predicted from ``laws``."""
    mask, total = coteaching_selection(losses, T, prior)
    return mask, total, precision.global_(laws, T, prior, 1 - noise_rate(T, prior))


def target_selections(loss_matrix, laws, mean_laws, noisy, prior, T, target: float) -> dict:
    """``--keep target:P`` from cell laws: for each loss criterion, a row (``mask``,
    ``budgets``, ``predicted_precision``) with the budgets whose precision, predicted from
    ``laws`` (the last epoch's loss) and ``mean_laws`` (the epoch-mean loss), is P;
    ``coteaching_rule`` is the global ranking that keeps the share ``1 - noise rate``."""
    from simulations.selection.registry import LOSS_CRITERIA, REGISTRY

    c = len(T)
    tb = target_budgets(laws, mean_laws, T, prior, target)
    per_class, total, rsl_k = tb.counts(np.bincount(noisy, minlength=c))
    counts = Budgets(per_class, rsl_k, "target", global_total=total)
    fractions = Budgets(tb.classwise, tb.rsl, "target", global_total=tb.global_fraction)
    scores = {"single": loss_matrix[:, -1], "mean": None}
    out = {}
    for name in LOSS_CRITERIA:
        crit = REGISTRY[name]
        if crit.headline == "mean" and scores["mean"] is None:
            scores["mean"] = mean_loss(loss_matrix)
        x, kept = scores[crit.headline], crit.budget(counts)
        on = laws if crit.headline == "single" else mean_laws
        if crit.per_class:
            mask = rules.select_per_class(x, noisy, kept)
            pred = precision.per_class(on, T, prior, crit.budget(fractions))
        else:
            mask = rules.select_global(x, kept)
            pred = precision.global_(on, T, prior, crit.budget(fractions))
        out[name] = (mask, kept if np.ndim(kept) == 0 else kept.tolist(), pred)
    out["coteaching_rule"] = coteaching_rule(loss_matrix[:, -1], laws, T, prior)
    return {
        name: {"mask": mask, "budgets": kept, "predicted_precision": pred.precision}
        for name, (mask, kept, pred) in out.items()
    }
