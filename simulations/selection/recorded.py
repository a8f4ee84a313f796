"""Every criterion on a trained network's recorded losses and probabilities, and what the
theory predicts for them: the selection stages of the real-data loop, numpy only.

The loss criteria rank stage 1's recorded losses (the paper's method); confident learning and
cleanlab compare out-of-sample probabilities (cleanlab's convention), produced by K-fold
cross-fitting; the clean training labels only score the selections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax

from simulations.selection import bounds, rules
from simulations.selection.registry import CRITERIA
from theory import losses, precision
from theory.budgets import share_count, target_budgets
from theory.noise import noise_rate


@dataclass
class Budgets:
    classwise: np.ndarray  # per observed class: how many a known T says are clean
    rsl: np.ndarray  # RSL's num(i), balanced or the authors' prop * n / c
    rsl_rule: str  # which of the two


def mean_loss(loss_matrix: np.ndarray) -> np.ndarray:
    """Each sample's loss averaged over the epochs (RSL's ranking score), float32."""
    # a running float64 sum, as the per-epoch means are computed: the same bits in both
    total = np.cumsum(loss_matrix, axis=1, dtype=np.float64)[:, -1]
    return (total / loss_matrix.shape[1]).astype(np.float32)


def _threshold_selections(loss, noisy, b: Budgets, with_rsl: bool = True) -> dict:
    """The loss criteria that keep the smallest losses of each class at their budgets."""
    out = {
        "global": rules.select_global(loss, int(b.classwise.sum())),
        "classwise": rules.select_per_class(loss, noisy, b.classwise),
    }
    if with_rsl:
        out["rsl"] = rules.select_per_class(loss, noisy, b.rsl)
    return out


def _loss_selections(loss, noisy, b: Budgets, seed: int, with_rsl: bool = True) -> dict:
    out = _threshold_selections(loss, noisy, b, with_rsl=False)
    out["gmm"] = rules.select_gmm(loss, seed=seed)  # before RSL: the per-epoch rows' order
    if with_rsl:
        out["rsl"] = rules.select_per_class(loss, noisy, b.rsl)
    return out


def per_epoch_criteria(loss_matrix, val_acc, test_acc, clean, noisy, classes, b: Budgets):
    """Per epoch: each loss criterion's precision on that epoch's loss and on the mean so far."""
    cum = np.cumsum(loss_matrix, axis=1, dtype=np.float64)
    rows = []
    for e in range(loss_matrix.shape[1]):
        mean_e = (cum[:, e] / (e + 1)).astype(np.float32)
        row = {"epoch": e, "test_accuracy": test_acc[e], "val_accuracy": val_acc[e]}
        for variant, loss in (("single", loss_matrix[:, e]), ("mean", mean_e)):
            for name, m in _loss_selections(loss, noisy, b, seed=e).items():
                row[f"{name}_{variant}"] = rules.metrics(m, clean, noisy, classes)[
                    "observed_precision"
                ]
        rows.append(row)
    return rows


def probability_criteria(probs, noisy) -> dict[str, tuple[np.ndarray | None, float | None]]:
    """``confident`` (the confident-learning paper's rule) and ``cleanlab`` (find_label_issues
    with its defaults), each with its agreement with cleanlab on the same probabilities."""
    confident = rules.select_confident(probs, noisy)
    kept = rules.cleanlab_keep(probs, noisy)
    out = {"confident": (confident, None), "cleanlab": (kept, None)}
    if kept is None:
        return out
    by_rule, by_default = rules.agreements_with_cleanlab(probs, noisy, confident, kept)
    return {"confident": (confident, by_rule), "cleanlab": (kept, by_default)}


# --- predictions ---------------------------------------------------------------------------


def _validation_laws(val_logits: np.ndarray, val_clean: np.ndarray, T: np.ndarray):
    """Empirical cell laws ``laws[i][j]``: the loss of label j on clean validation samples of
    class i."""
    # in float64 from the float32 logits, as the laws have always been computed
    logp = -log_softmax(val_logits.astype(np.float64), axis=-1)
    c = len(T)
    laws = [[None] * c for _ in range(c)]
    for i in range(c):
        rows = logp[val_clean == i]
        if rows.size == 0:
            continue
        for j in range(c):
            if T[i, j] > 0:
                laws[i][j] = losses.Empirical(rows[:, j])
    return laws


def validation_laws(val_outputs, val_clean, T) -> tuple[list, list]:
    """The validation split's cell laws at the last epoch and of the epoch-mean loss.

    Parameters
    ----------
    val_outputs : numpy.ndarray
        ``(n_val, epochs, c)`` float32 logits of the clean validation samples.
    val_clean : numpy.ndarray
        ``(n_val,)`` int64 clean validation labels.
    T : numpy.ndarray
        ``(c, c)`` float64 transition matrix: a cell with ``T[i, j] = 0`` gets no law.

    Returns
    -------
    tuple of (list, list)
        ``laws[i][j]`` (``theory.losses.Empirical`` or None) of label j's loss on validation
        samples of class i: at the last epoch, and averaged over the epochs.
    """
    last_laws = _validation_laws(val_outputs[:, -1], val_clean, T)
    mean_val_logp = -log_softmax(val_outputs.astype(np.float64), axis=-1).mean(axis=1)
    mean_laws = [
        [
            None if last_laws[i][j] is None else losses.Empirical(mean_val_logp[val_clean == i, j])
            for j in range(len(T))
        ]
        for i in range(len(T))
    ]
    return last_laws, mean_laws


def _predict(laws, T, prior, b: Budgets, noisy_counts):
    size = np.maximum(noisy_counts, 1)
    frac = np.where(noisy_counts > 0, b.classwise / size, 0.0)
    frac_rsl = np.where(noisy_counts > 0, b.rsl / size, 0.0)
    return {
        "global": precision.global_(laws, T, prior, float((prior @ T) @ frac)).precision,
        "classwise": precision.per_class(laws, T, prior, frac).precision,
        "rsl": precision.per_class(laws, T, prior, frac_rsl).precision,
    }


def law_predictions(laws, mean_laws, noisy, prior, T, b: Budgets) -> dict[str, dict]:
    """Predicted precision of the loss criteria from cell laws of the last epoch's loss
    (``single``) and of the epoch-mean loss (``mean``)."""
    n_j = np.bincount(noisy, minlength=len(T))
    return {
        "single": _predict(laws, T, prior, b, n_j),
        "mean": _predict(mean_laws, T, prior, b, n_j),
    }


def predictions(val_laws, noisy, prior, T, b: Budgets) -> dict[str, dict]:
    """Predicted precision from the clean validation split's cell laws (``validation_laws``:
    final epoch and epoch mean) and from the paper's atoms ``-log T_ij``."""
    atoms = losses.cell_laws(T, "bayes", prior=prior)
    n_j = np.bincount(noisy, minlength=len(T))
    return {
        **law_predictions(*val_laws, noisy, prior, T, b),
        "bayes": _predict(atoms, T, prior, b, n_j),
    }


def probe_bounds(
    loss_matrix, probe_losses, probe_clean, probe_noisy, noisy, T, prior
) -> tuple[bounds.Bounds, bounds.Bounds]:
    """The probes' counts (``bounds.Bounds``) on the last epoch's loss and on the
    epoch-mean loss."""
    return tuple(
        bounds.Bounds(scores, noisy, probes, probe_clean, probe_noisy, T, prior)
        for scores, probes in (
            (loss_matrix[:, -1], probe_losses[:, -1]),
            (mean_loss(loss_matrix), mean_loss(probe_losses)),
        )
    )


def count_predictions(
    loss_matrix,
    probe_losses,
    probe_clean,
    probe_noisy,
    noisy,
    prior,
    T,
    b: Budgets,
    level: float | None = None,
) -> dict[str, dict]:
    """The precision of each loss criterion's own selection, counted from the mislabelled
    probes (``simulations.selection.bounds``): ``{"counts_single" | "counts_mean":
    {criterion: (point, bound)}}``, on the last epoch's loss and on the epoch-mean loss; the
    bound is at ``level`` (None without one)."""
    out = {}
    both = probe_bounds(loss_matrix, probe_losses, probe_clean, probe_noisy, noisy, T, prior)
    for key, counted in zip(("counts_single", "counts_mean"), both):
        masks = _threshold_selections(counted.scores, noisy, b)
        out[key] = {name: counted.of_selection(mask, level) for name, mask in masks.items()}
    return out


def probe_laws(probe_losses, probe_clean, probe_noisy, val_laws, T):
    """In-sample cell laws (last epoch, epoch mean) from probe samples: clean validation
    samples trained on with labels drawn from T, so each one's (clean, observed) cell is known
    and the network memorises it as it memorises the training set. ``val_laws`` = (last,
    mean) validation laws fill a cell with no probe. Also each cell's probe count."""
    c = len(T)
    means = mean_loss(probe_losses)
    counts = [[0] * c for _ in range(c)]
    laws = {"single": [[None] * c for _ in range(c)], "mean": [[None] * c for _ in range(c)]}
    for i in range(c):
        for j in range(c):
            if T[i, j] <= 0:
                continue
            rows = (probe_clean == i) & (probe_noisy == j)
            counts[i][j] = int(rows.sum())
            for key, values, fill in (
                ("single", probe_losses[:, -1], val_laws[0]),
                ("mean", means, val_laws[1]),
            ):
                laws[key][i][j] = losses.Empirical(values[rows]) if rows.any() else fill[i][j]
    return laws["single"], laws["mean"], counts


def target_selections(loss_matrix, laws, mean_laws, noisy, prior, T, target: float) -> dict:
    """``--keep target:P`` on a trained network: for each loss criterion, a row (``mask``,
    ``budgets``, ``predicted_precision``) with the budgets whose precision, predicted from
    ``laws`` (the last epoch's loss) and ``mean_laws`` (RSL's epoch-mean loss), is P.
    ``coteaching_rule`` is the global ranking that keeps the share ``1 - noise rate``,
    Co-teaching's forget rate."""
    c = len(T)
    tb = target_budgets(laws, mean_laws, T, prior, target)
    per_class, total, rsl_k = tb.counts(np.bincount(noisy, minlength=c))
    last = loss_matrix[:, -1]
    chosen = {
        "global": (
            rules.select_global(last, total),
            total,
            precision.global_(laws, T, prior, tb.global_fraction),
        ),
        "classwise": (
            rules.select_per_class(last, noisy, per_class),
            per_class.tolist(),
            precision.per_class(laws, T, prior, tb.classwise),
        ),
        "rsl": (
            rules.select_per_class(mean_loss(loss_matrix), noisy, rsl_k),
            rsl_k.tolist(),
            precision.per_class(mean_laws, T, prior, tb.rsl),
        ),
        "coteaching_rule": coteaching_rule(last, laws, T, prior),
    }
    return {
        name: {"mask": mask, "budgets": budgets, "predicted_precision": pred.precision}
        for name, (mask, budgets, pred) in chosen.items()
    }


def target_criteria(selections: dict, clean, noisy, classes: int) -> dict:
    """Each target selection's predicted precision (and its ``precision_bound``, where the row
    has one) beside its observed precision and recall, what it kept and its budgets."""
    out = {}
    for name, row in selections.items():
        m = rules.metrics(row["mask"], clean, noisy, classes)
        out[name] = {
            "predicted_precision": row["predicted_precision"],
            **({"precision_bound": row["precision_bound"]} if "precision_bound" in row else {}),
            "observed_precision": m["observed_precision"],
            "observed_recall": m["observed_recall"],
            "selected": m["selected"],
            "budgets": row["budgets"],
        }
    return out


def coteaching_selection(losses: np.ndarray, T, prior) -> tuple[np.ndarray, int]:
    """(mask, kept) of Co-teaching's fixed forget rate: one global ranking that keeps the
    share ``1 - noise rate``, whatever precision that buys.

    Parameters
    ----------
    losses : numpy.ndarray
        ``(n,)`` float32 per-sample losses.
    T, prior : numpy.ndarray
        The ``(c, c)`` float64 transition matrix and ``(c,)`` float64 clean class prior, whose
        noise rate sets the share dropped.

    Returns
    -------
    tuple of (numpy.ndarray, int)
        ``(n,)`` bool mask of the kept samples, and how many it keeps.
    """
    total = int(share_count(1 - noise_rate(T, prior), losses.size))
    return rules.select_global(losses, total), total


def coteaching_rule(losses: np.ndarray, laws, T, prior):
    """(mask, kept, prediction) of Co-teaching's fixed forget rate, predicted from ``laws``."""
    share = 1 - noise_rate(T, prior)
    mask, total = coteaching_selection(losses, T, prior)
    return mask, total, precision.global_(laws, T, prior, share)


def final_criteria(loss_matrix, probs, clean, noisy, classes, b: Budgets, per_epoch, predicted):
    """Each criterion at the end of stage 1: observed (single epoch and mean loss; the
    probability criteria on ``probs``) beside predicted."""
    epochs = loss_matrix.shape[1]
    final = per_epoch[-1]
    masks = _loss_selections(loss_matrix[:, -1], noisy, b, seed=epochs - 1, with_rsl=False)
    masks["rsl"] = rules.select_per_class(mean_loss(loss_matrix), noisy, b.rsl)
    by_probs = probability_criteria(probs, noisy)
    criteria = {}
    for name in CRITERIA:
        if name in by_probs:
            mask, agreement = by_probs[name]
            m = rules.metrics(mask, clean, noisy, classes) if mask is not None else {}
            criteria[name] = {
                "observed_precision": m.get("observed_precision"),
                "observed_recall": m.get("observed_recall"),
                "selected": m.get("selected"),
                "agreement_with_cleanlab": agreement,
            }
            continue
        single, mean = final.get(f"{name}_single"), final.get(f"{name}_mean")
        p_single, p_mean = predicted["single"].get(name), predicted["mean"].get(name)
        # the in-sample prediction is the headline where probes give one
        s_single, s_mean = (
            (predicted["probes_single"].get(name), predicted["probes_mean"].get(name))
            if "probes_single" in predicted
            else (p_single, p_mean)
        )
        m = rules.metrics(masks[name], clean, noisy, classes)
        criteria[name] = {
            "observed_precision": mean if name == "rsl" else single,
            "observed_precision_single_epoch": single,
            "observed_precision_mean_loss": mean,
            "predicted_precision": s_mean if name == "rsl" else s_single,
            "predicted_precision_single_epoch": s_single,
            "predicted_precision_mean_loss": s_mean,
            "predicted_precision_validation": p_mean if name == "rsl" else p_single,
            "predicted_precision_validation_single_epoch": p_single,
            "predicted_precision_validation_mean_loss": p_mean,
            "predicted_precision_bayes": predicted["bayes"].get(name),
            **_probe_columns(predicted, name),
            "observed_recall": m["observed_recall"],
            "selected": m["selected"],
        }
    return criteria


def _probe_columns(predicted: dict, name: str) -> dict:
    if "probes_single" not in predicted:
        return {}
    single, mean = predicted["probes_single"].get(name), predicted["probes_mean"].get(name)
    out = {
        "predicted_precision_probes": mean if name == "rsl" else single,
        "predicted_precision_probes_single_epoch": single,
        "predicted_precision_probes_mean_loss": mean,
    }
    if name in predicted.get("counts_single", {}):
        (single, single_bound), (mean, mean_bound) = (
            predicted["counts_single"][name],
            predicted["counts_mean"][name],
        )
        out.update(
            {
                "predicted_precision_counts": mean if name == "rsl" else single,
                "predicted_precision_counts_single_epoch": single,
                "predicted_precision_counts_mean_loss": mean,
            }
        )
        if single_bound is not None:
            out.update(
                {
                    "precision_bound": mean_bound if name == "rsl" else single_bound,
                    "precision_bound_single_epoch": single_bound,
                    "precision_bound_mean_loss": mean_bound,
                }
            )
    return out


def cell_summaries(loss_matrix, clean, noisy, T: np.ndarray) -> list[dict]:
    """Each (clean, noisy) cell's training loss over epochs beside its atom ``-log T_ij``."""
    cells = []
    for i in range(len(T)):
        for j in range(len(T)):
            m = (clean == i) & (noisy == j)
            if m.any():
                cells.append(
                    {
                        "clean": i,
                        "noisy": j,
                        "count": int(m.sum()),
                        "atom": float(-np.log(T[i, j])),
                        "mean_loss_by_epoch": loss_matrix[m].mean(axis=0).tolist(),
                    }
                )
    return cells
