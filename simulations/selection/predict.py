"""Predicted precision of the loss criteria on a trained network, from cell loss laws: the
clean validation split's (each clean sample's loss under every label T allows), the probes'
(in-sample, each probe's own cell), and the paper's atoms ``-log T_ij``; each law prediction
with a bootstrap interval over the samples its laws were made from."""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

from simulations.selection.budgets import Budgets
from simulations.selection.registry import LOSS_CRITERIA, REGISTRY
from simulations.selection.scores import mean_loss
from theory import losses, precision
from theory.validation import check_int, check_unit


def _validation_laws(val_logits: np.ndarray, val_clean: np.ndarray, T: np.ndarray):
    """Empirical cell laws ``laws[i][j]``: the loss of label j on clean validation samples of
    class i."""
    # in float64 from the float32 logits, as the laws have always been computed
    return _laws_of(-log_softmax(val_logits.astype(np.float64), axis=-1), val_clean, T)


def _laws_of(logp: np.ndarray, val_clean: np.ndarray, T: np.ndarray):
    """``_validation_laws`` from the (m, c) losses of every label."""
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
    val_outputs : (m, E, c) float32
        Logits of the clean validation samples at every epoch.
    val_clean : (m,) int
        Their clean labels.
    T : (c, c) float
        Transition matrix: a cell with ``T[i, j] = 0`` gets no law.

    Returns
    -------
    (last, mean): ``laws[i][j]`` (``theory.losses.Empirical`` or None) of label j's loss on
    validation samples of class i, at the last epoch and averaged over the epochs.
    """
    return _validation_laws_of(*_validation_losses(val_outputs), val_clean, T)


def _validation_losses(val_outputs) -> tuple[np.ndarray, np.ndarray]:
    """(m, c) each label's loss at the last epoch, and averaged over the epochs."""
    last = -log_softmax(val_outputs[:, -1].astype(np.float64), axis=-1)
    return last, -log_softmax(val_outputs.astype(np.float64), axis=-1).mean(axis=1)


def _validation_laws_of(last_logp, mean_val_logp, val_clean, T) -> tuple[list, list]:
    last_laws = _laws_of(last_logp, val_clean, T)
    mean_laws = [
        [
            None if last_laws[i][j] is None else losses.Empirical(mean_val_logp[val_clean == i, j])
            for j in range(len(T))
        ]
        for i in range(len(T))
    ]
    return last_laws, mean_laws


def probe_laws(probe_losses, probe_clean, probe_noisy, val_laws, T):
    """In-sample cell laws (last epoch, epoch mean) from probes: samples trained on with the
    training samples and labelled alike, so each one's (clean, observed) cell is known and the
    network memorises it as it memorises the training set. ``val_laws`` = (last, mean)
    validation laws fill a cell with no probe.

    Parameters
    ----------
    probe_losses : (R, E) float
    probe_clean, probe_noisy : (R,) int
    val_laws : (list, list)
        Fallback laws per cell (entries may be None).
    T : (c, c) float

    Returns
    -------
    (single, mean, counts): the laws, and each cell's probe count (list of lists of int).
    """
    return _probe_laws(
        probe_losses[:, -1], mean_loss(probe_losses), probe_clean, probe_noisy, val_laws, T
    )


def _probe_laws(last, means, probe_clean, probe_noisy, val_laws, T):
    """``probe_laws`` from each probe's last-epoch and epoch-mean loss."""
    c = len(T)
    counts = [[0] * c for _ in range(c)]
    laws = {"single": [[None] * c for _ in range(c)], "mean": [[None] * c for _ in range(c)]}
    for i in range(c):
        for j in range(c):
            if T[i, j] <= 0:
                continue
            rows = (probe_clean == i) & (probe_noisy == j)
            counts[i][j] = int(rows.sum())
            for key, values, fill in (
                ("single", last, val_laws[0]),
                ("mean", means, val_laws[1]),
            ):
                laws[key][i][j] = losses.Empirical(values[rows]) if rows.any() else fill[i][j]
    return laws["single"], laws["mean"], counts


def _predict(laws, T, prior, b: Budgets, noisy_counts) -> dict:
    """Each loss criterion's predicted precision at the budgets ``b`` from ``laws``; T and the
    prior were checked where the analysis began."""
    size = np.maximum(noisy_counts, 1)
    frac = np.where(noisy_counts > 0, b.classwise / size, 0.0)
    frac_rsl = np.where(noisy_counts > 0, b.rsl / size, 0.0)
    fractions = Budgets(frac, frac_rsl, b.rsl_rule, global_total=float((prior @ T) @ frac))
    out = {}
    for name in LOSS_CRITERIA:
        crit = REGISTRY[name]
        predict = precision.per_class if crit.per_class else precision.global_
        out[name] = predict(laws, T, prior, crit.budget(fractions), validate=False).precision
    return out


def law_predictions(laws, mean_laws, noisy, prior, T, b: Budgets) -> dict[str, dict]:
    """Predicted precision of the loss criteria at budgets ``b`` from cell laws of the last
    epoch's loss (``single``) and of the epoch-mean loss (``mean``): ``{variant: {criterion:
    float or None}}``."""
    n_j = np.bincount(noisy, minlength=len(T))
    return {
        "single": _predict(laws, T, prior, b, n_j),
        "mean": _predict(mean_laws, T, prior, b, n_j),
    }


def atom_predictions(noisy, prior, T, b: Budgets) -> dict:
    """Predicted precision under g*, whose cell losses are the paper's atoms ``-log T_ij``."""
    atoms = losses.cell_laws(T, "bayes", prior=prior)
    return _predict(atoms, T, prior, b, np.bincount(noisy, minlength=len(T)))


def _resample_within(groups: np.ndarray, rng, members=None) -> np.ndarray:
    """Indices drawn with replacement within each group, as many as the group holds;
    ``members``: each group's indices in the order of ``np.unique(groups)``, where known."""
    out = np.empty(groups.size, np.int64)
    if members is None:
        members = _members(groups)
    for idx in members:
        out[idx] = rng.choice(idx, idx.size)
    return out


def _members(groups: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(groups == g) for g in np.unique(groups)]


def bootstrap(predict_from, groups: np.ndarray, draws: int, level: float, seed: int, tick=None):
    """The central ``level`` interval of ``predict_from(rows)`` over ``draws`` resamples of
    the rows within each group (``groups``: (m,) labels; a class, or a probe's cell).

    ``predict_from`` returns ``{variant: {criterion: float or None}}``; so do the two results,
    the lower and the upper ends (None where fewer than half the resamples gave a value).
    ``tick`` is called with 1 after each resample (a progress bar's ``update``).
    """
    draws = check_int(draws, "bootstrap", low=1)
    tail = (1 - check_unit(level, "level")) / 2
    rng = np.random.default_rng(seed)
    rows = []
    members = _members(groups)
    for _ in range(draws):
        rows.append(predict_from(_resample_within(groups, rng, members)))
        if tick is not None:
            tick(1)
    low, high = {}, {}
    for variant, values in rows[0].items():
        low[variant], high[variant] = {}, {}
        for name in values:
            got = np.array([r[variant][name] for r in rows if r[variant][name] is not None])
            enough = got.size >= draws / 2
            low[variant][name] = float(np.quantile(got, tail)) if enough else None
            high[variant][name] = float(np.quantile(got, 1 - tail)) if enough else None
    return low, high


def validation_predictions(
    val_outputs,
    val_clean,
    noisy,
    prior,
    T,
    b: Budgets,
    draws: int,
    level: float,
    seed: int,
    tick=None,
) -> dict:
    """Law predictions from the clean validation split, with their bootstrap interval over
    its samples (resampled within each class): ``{"point" | "low" | "high": {variant:
    {criterion: value}}}``."""

    # a sample's losses are its own whichever resample draws it: computed once
    last, mean = _validation_losses(val_outputs)

    def from_rows(rows):
        laws = _validation_laws_of(last[rows], mean[rows], val_clean[rows], T)
        return law_predictions(*laws, noisy, prior, T, b)

    laws = _validation_laws_of(last, mean, val_clean, T)
    point = law_predictions(*laws, noisy, prior, T, b)
    low, high = bootstrap(from_rows, val_clean, draws, level, seed, tick) if draws else ({}, {})
    return {"point": point, "low": low, "high": high, "laws": laws}


def probe_predictions(
    probe_losses,
    probe_clean,
    probe_noisy,
    val_laws,
    noisy,
    prior,
    T,
    b: Budgets,
    draws: int,
    level: float,
    seed: int,
    tick=None,
) -> dict:
    """Law predictions from the probes' in-sample laws (``probe_laws``), with their bootstrap
    interval over the probes (resampled within each cell); ``counts`` per cell."""
    cells = probe_clean * len(T) + probe_noisy
    # a probe's scores are its own whichever resample draws it: computed once
    last, means = np.ascontiguousarray(probe_losses[:, -1]), mean_loss(probe_losses)

    def from_rows(rows):
        single, mean, _ = _probe_laws(
            last[rows], means[rows], probe_clean[rows], probe_noisy[rows], val_laws, T
        )
        return law_predictions(single, mean, noisy, prior, T, b)

    single, mean, counts = probe_laws(probe_losses, probe_clean, probe_noisy, val_laws, T)
    point = law_predictions(single, mean, noisy, prior, T, b)
    low, high = bootstrap(from_rows, cells, draws, level, seed, tick) if draws else ({}, {})
    return {"point": point, "low": low, "high": high, "laws": (single, mean), "counts": counts}
