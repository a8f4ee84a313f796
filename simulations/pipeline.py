"""The real-data loop, in named stages: prepare, stage 1, per-epoch criteria, predictions,
final criteria, stage 2, save. ``run_training`` runs them in order; each is a function a
test can call on its own.

Budgets and predictions use what a practitioner has: the transition matrix T (known, as in
the paper) and the class prior estimated on the clean validation split; never the clean
labels of the training samples. Those are used only to score the selections.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from simulations import data, generate, select
from simulations.criteria import CRITERIA
from simulations.io import atomic_path, ensure_dir, provenance, write_json
from theory import losses, precision
from theory.errors import InputError
from theory.noise import class_noise_rates, noise_rate
from theory.validation import check_float, check_int, check_transition

MAX_SAVED_OUTPUTS = 50_000_000  # floats: above this only the loss matrix is saved


@dataclass
class TrainConfig:
    T: np.ndarray
    dataset: str = "digits"
    source: str = ""
    epochs: int = 30
    stage2_epochs: int | None = None
    device: str = "auto"
    out: str = "runs/train"
    train_fraction: float = 1.0
    model: str = "auto"
    seed: int = 0
    progress: bool = True
    stage2: bool = True

    def __post_init__(self):
        self.T = check_transition(self.T)
        self.epochs = check_int(self.epochs, "--epochs", low=1)
        if self.stage2_epochs is not None:
            self.stage2_epochs = check_int(self.stage2_epochs, "--stage2-epochs", low=1)
        self.train_fraction = check_float(
            self.train_fraction, "--train-fraction", 0.0, 1.0, low_open=True
        )

    def echo(self) -> dict:
        d = asdict(self)
        d["T"] = self.T.tolist()
        return d


@dataclass
class Prepared:
    """Stage 0: the data split, the noisy labels and the prior, as numpy arrays."""

    ds: data.Dataset
    classes: int
    train_idx: np.ndarray
    val_idx: np.ndarray
    clean: np.ndarray  # clean training labels: for scoring only
    noisy: np.ndarray
    val_clean: np.ndarray
    prior: np.ndarray  # estimated on the clean validation split
    X_test: np.ndarray
    y_test: np.ndarray
    seed_model: int
    seed_stage2: int


@dataclass
class Budgets:
    classwise: np.ndarray  # per observed class: how many a known T says are clean
    rsl: np.ndarray  # RSL's num(i)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def expected_clean_budgets(
    noisy_counts: np.ndarray, T: np.ndarray, prior: np.ndarray
) -> np.ndarray:
    """``(1 - eta_j) n_j``: how many of observed class j a known T says are clean."""
    fractions = precision.oracle_fractions(T, prior)
    return np.floor(fractions * noisy_counts + 1e-9).astype(np.int64)


# --- stage 0 -------------------------------------------------------------------------------


def prepare(cfg: TrainConfig) -> Prepared:
    """Load, split (train / clean validation / test), subsample, and draw the noisy labels."""
    ds = data.load(cfg.dataset)
    c = ds.classes
    if len(cfg.T) != c:
        raise InputError(f"the noise matrix has {len(cfg.T)} classes but {cfg.dataset} has {c}")
    s_split, s_frac, s_noise, s_model, s_stage2 = np.random.SeedSequence(cfg.seed).spawn(5)
    parts = data.split(ds.y, ds.X_test is not None, s_split)
    train_idx = parts.train
    if cfg.train_fraction < 1.0:
        keep = max(c, int(round(cfg.train_fraction * train_idx.size)))
        rng = np.random.default_rng(s_frac)
        train_idx = np.sort(rng.choice(train_idx, keep, replace=False))
    if ds.X_test is not None:
        X_test, y_test = ds.X_test, ds.y_test
    else:
        X_test, y_test = ds.X[parts.test], ds.y[parts.test]
    clean = ds.y[train_idx]
    noisy = generate.noisy_labels(clean, cfg.T, s_noise).astype(np.int64)
    val_clean = ds.y[parts.val]
    prior = np.bincount(val_clean, minlength=c) / val_clean.size
    if np.any(prior == 0):
        raise InputError(
            "a class has no sample in the clean validation split; the data set is too small"
        )
    return Prepared(
        ds=ds, classes=c, train_idx=train_idx, val_idx=parts.val, clean=clean, noisy=noisy,
        val_clean=val_clean, prior=prior, X_test=X_test, y_test=y_test,
        seed_model=int(s_model.generate_state(1)[0]),
        seed_stage2=int(s_stage2.generate_state(1)[0]),
    )  # fmt: skip


def budgets(prep: Prepared, T: np.ndarray) -> Budgets:
    n_j = np.bincount(prep.noisy, minlength=prep.classes)
    return Budgets(
        classwise=expected_clean_budgets(n_j, T, prep.prior),
        rsl=select.rsl_budgets(n_j, class_noise_rates(T, prep.prior), prep.prior),
    )


# --- criteria ------------------------------------------------------------------------------


def _selections(loss, probs, noisy, k, k_rsl, seed):
    """Every criterion on one loss vector (RSL's too, unless ``k_rsl`` is None)."""
    out = {
        "global": select.select_global(loss, int(k.sum())),
        "classwise": select.select_per_class(loss, noisy, k),
        "gmm": select.select_gmm(loss, seed=seed),
    }
    if k_rsl is not None:
        out["rsl"] = select.select_per_class(loss, noisy, k_rsl)
    if probs is not None:  # None when the outputs of every epoch were too many to keep
        out["confident"] = select.select_confident(probs, noisy)
    return out


def per_epoch_criteria(fit, prep: Prepared, b: Budgets) -> list[dict]:
    """Per epoch: every criterion's precision on the single-epoch loss and on the mean so far."""
    c, noisy, clean = prep.classes, prep.noisy, prep.clean
    L = fit.losses
    cum = np.cumsum(L, axis=1, dtype=np.float64)
    probs_epochs = _softmax(fit.outputs) if fit.outputs is not None else None
    probs_sum = None
    if probs_epochs is not None:
        probs_sum = np.zeros(probs_epochs.shape[::2], dtype=np.float64)
    rows = []
    for e in range(L.shape[1]):
        mean_e = (cum[:, e] / (e + 1)).astype(np.float32)
        probs = mean_probs = None
        if probs_epochs is not None:
            probs = probs_epochs[:, e]
            probs_sum += probs  # a running sum: the mean so far without re-reading earlier epochs
            mean_probs = (probs_sum / (e + 1)).astype(np.float32)
        row = {"epoch": e, "test_accuracy": fit.test_acc[e], "val_accuracy": fit.val_acc[e]}
        for variant, loss, p in (("single", L[:, e], probs), ("mean", mean_e, mean_probs)):
            masks = _selections(loss, p, noisy, b.classwise, b.rsl, seed=e)
            for name, m in masks.items():
                row[f"{name}_{variant}"] = select.metrics(m, clean, noisy, c)["observed_precision"]
        rows.append(row)
    return rows


# --- predictions ---------------------------------------------------------------------------


def _validation_laws(val_logits: np.ndarray, val_clean: np.ndarray, T: np.ndarray):
    """Empirical cell laws ``laws[i][j]``: the loss of label j on clean validation samples of class
    i."""
    logp = -_log_softmax(val_logits)
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


def _predict(laws, T, prior, b: Budgets, noisy_counts):
    size = np.maximum(noisy_counts, 1)
    frac = np.where(noisy_counts > 0, b.classwise / size, 0.0)
    frac_rsl = np.where(noisy_counts > 0, b.rsl / size, 0.0)
    return {
        "global": precision.global_(laws, T, prior, float((prior @ T) @ frac)).precision,
        "classwise": precision.per_class(laws, T, prior, frac).precision,
        "rsl": precision.per_class(laws, T, prior, frac_rsl).precision,
    }


def predictions(fit, prep: Prepared, T: np.ndarray, b: Budgets) -> dict[str, dict]:
    """Predicted precision from the clean validation split's cell laws (final epoch and
    epoch mean) and from the paper's atoms ``-log T_ij``."""
    c = prep.classes
    n_j = np.bincount(prep.noisy, minlength=c)
    last_laws = _validation_laws(fit.val_outputs[:, -1], prep.val_clean, T)
    mean_val_logp = -_log_softmax(fit.val_outputs).mean(axis=1)
    mean_laws = [
        [
            None
            if last_laws[i][j] is None
            else losses.Empirical(mean_val_logp[prep.val_clean == i, j])
            for j in range(c)
        ]
        for i in range(c)
    ]
    atoms = losses.cell_laws(T, "bayes", prior=prep.prior)
    return {
        "single": _predict(last_laws, T, prep.prior, b, n_j),
        "mean": _predict(mean_laws, T, prep.prior, b, n_j),
        "bayes": _predict(atoms, T, prep.prior, b, n_j),
    }


def final_criteria(fit, last_logits, prep: Prepared, b: Budgets, per_epoch, predicted) -> dict:
    """Each criterion at the end of stage 1: observed (single epoch and mean loss) and predicted."""
    c, noisy, clean = prep.classes, prep.noisy, prep.clean
    epochs = fit.losses.shape[1]
    final = per_epoch[-1]
    rsl_mask = select.select_per_class(mean_loss(fit), noisy, b.rsl)  # RSL ranks the mean loss
    final_masks = _selections(
        fit.losses[:, -1], _softmax(last_logits), noisy, b.classwise, None, seed=epochs - 1
    )
    final_masks["rsl"] = rsl_mask
    criteria = {}
    for name in CRITERIA:
        single = final.get(f"{name}_single")
        mean = final.get(f"{name}_mean")
        p_single, p_mean = predicted["single"].get(name), predicted["mean"].get(name)
        criteria[name] = {
            "observed_precision": mean if name == "rsl" else single,
            "observed_precision_single_epoch": single,
            "observed_precision_mean_loss": mean,
            "predicted_precision": p_mean if name == "rsl" else p_single,
            "predicted_precision_single_epoch": p_single,
            "predicted_precision_mean_loss": p_mean,
            "predicted_precision_bayes": predicted["bayes"].get(name),
        }
        m = select.metrics(final_masks[name], clean, noisy, c)
        criteria[name].update(observed_recall=m["observed_recall"], selected=m["selected"])
    return criteria


def mean_loss(fit) -> np.ndarray:
    """Each sample's loss averaged over the epochs (RSL's ranking score), float32."""
    # a running float64 sum, as the per-epoch means are computed: the same bits in both
    total = np.cumsum(fit.losses, axis=1, dtype=np.float64)[:, -1]
    return (total / fit.losses.shape[1]).astype(np.float32)


def cell_summaries(fit, prep: Prepared, T: np.ndarray) -> list[dict]:
    """Each (clean, noisy) cell's training loss over epochs beside its atom ``-log T_ij``."""
    cells = []
    for i in range(prep.classes):
        for j in range(prep.classes):
            m = (prep.clean == i) & (prep.noisy == j)
            if m.any():
                cells.append({
                    "clean": i, "noisy": j, "count": int(m.sum()),
                    "atom": float(-np.log(T[i, j])),
                    "mean_loss_by_epoch": fit.losses[m].mean(axis=0).tolist(),
                })  # fmt: skip
    return cells


def stage2_sets(fit, prep: Prepared, b: Budgets) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """The training sets of stage 2: all noisy data, the global selection (at RSL's total),
    and RSL's selection with its weights."""
    rsl_mask = select.select_per_class(mean_loss(fit), prep.noisy, b.rsl)
    global_mask = select.select_global(fit.losses[:, -1], int(rsl_mask.sum()))
    weights = select.rsl_weights(mean_loss(fit), prep.noisy, rsl_mask)
    return {
        "ce_all": (np.ones(prep.clean.size, bool), None),
        "global_selected": (global_mask, None),
        "rsl_selected": (rsl_mask, weights),
    }


# --- the loop ------------------------------------------------------------------------------


def run_training(cfg: TrainConfig) -> dict:
    """Every stage in order; the record (also written to ``cfg.out``) as a dict."""
    # torch is the optional extra smallloss[train]: only the training stages need it
    from simulations import train as tr

    t_start = time.perf_counter()
    out_dir = ensure_dir(cfg.out)  # fail before training, not after
    prep = prepare(cfg)
    c = prep.classes
    device = tr.resolve_device(cfg.device)
    tensors = tr.Tensors.of(prep, device)
    keep_outputs = prep.train_idx.size * cfg.epochs * c <= MAX_SAVED_OUTPUTS
    fit1, model = tr.stage1(cfg.model, tensors, cfg.epochs, prep.seed_model, keep_outputs,
                            cfg.progress)  # fmt: skip
    b = budgets(prep, cfg.T)
    per_epoch = per_epoch_criteria(fit1, prep, b)
    predicted = predictions(fit1, prep, cfg.T, b)
    if fit1.outputs is not None:
        last_logits = fit1.outputs[:, -1]
    else:
        last_logits = tr.predict(model, tensors.X_train).cpu().numpy()
    criteria = final_criteria(fit1, last_logits, prep, b, per_epoch, predicted)
    cells = cell_summaries(fit1, prep, cfg.T)

    test_accuracy = {}
    if cfg.stage2:
        epochs2 = cfg.stage2_epochs or cfg.epochs
        for name, (mask, w) in stage2_sets(fit1, prep, b).items():
            test_accuracy[name] = tr.stage2_arm(
                cfg.model, tensors, mask, w, epochs2, prep.seed_stage2, prep, cfg.progress, name
            )

    record = {
        "dataset": cfg.dataset, "device": str(device), "epochs": cfg.epochs,
        "noise_rate": noise_rate(cfg.T, prep.prior),
        "realised_noise_rate": float((prep.clean != prep.noisy).mean()),
        "n_train": int(prep.clean.size), "n_val": int(prep.val_clean.size),
        "n_test": int(prep.y_test.size),
        "criteria": criteria, "test_accuracy": test_accuracy, "per_epoch": per_epoch,
        "cells": cells,
        "budgets": {"classwise": b.classwise.tolist(), "rsl": b.rsl.tolist()},
        "timing": {"epoch_s": float(np.median(fit1.epoch_s)),
                   "record_s": float(np.median(fit1.record_s)), "total_s": None},
        "loss_matrix": str(out_dir / "losses.npz"),
    }  # fmt: skip
    save(out_dir, cfg, prep, fit1, record, t_start)
    return record


def save(out_dir, cfg: TrainConfig, prep: Prepared, fit, record: dict, t_start: float) -> None:
    """The loss matrix (and outputs) as one npz, and the record as JSON, each written atomically."""
    settings = cfg.echo()
    arrays = {
        "losses": fit.losses, "clean": prep.clean, "noisy": prep.noisy,
        "train_index": prep.train_idx, "val_outputs": fit.val_outputs,
        "val_clean": prep.val_clean, "T": cfg.T, "prior": prep.prior,
    }  # fmt: skip
    if fit.outputs is not None:
        arrays["outputs"] = fit.outputs
    with atomic_path(out_dir / "losses.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, settings=np.array(json.dumps(settings)), **arrays)
    record["timing"]["total_s"] = time.perf_counter() - t_start
    write_json(out_dir / "record.json", {**record, "provenance": provenance(settings)})
