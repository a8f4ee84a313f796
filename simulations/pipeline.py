"""The real-data loop: noisy labels, stage 1 with loss recording, every criterion per epoch,
predictions from the clean validation split, and three stage-2 models.

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
from simulations.io import atomic_path, ensure_dir, provenance, write_json
from theory import losses, precision
from theory.errors import InputError
from theory.noise import class_noise_rates, noise_rate, validate_transition

MAX_SAVED_OUTPUTS = 50_000_000  # floats: above this only the loss matrix is saved
CRITERIA = ("global", "classwise", "rsl", "gmm", "confident")


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
        self.T = validate_transition(self.T)
        if int(self.epochs) != self.epochs or self.epochs < 1:
            raise InputError(f"--epochs {self.epochs} must be a positive integer")
        if self.stage2_epochs is not None and self.stage2_epochs < 1:
            raise InputError(f"--stage2-epochs {self.stage2_epochs} must be a positive integer")
        if not 0.0 < self.train_fraction <= 1.0:
            raise InputError(f"--train-fraction {self.train_fraction:g} is outside (0, 1]")

    def echo(self) -> dict:
        d = asdict(self)
        d["T"] = self.T.tolist()
        return d


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def expected_clean_budgets(noisy_counts: np.ndarray, T: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``(1 - eta_j) n_j``: how many of observed class j a known T says are clean."""
    return np.floor(precision.oracle_fractions(T, prior) * noisy_counts + 1e-9).astype(np.int64)


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


def _validation_laws(val_logits: np.ndarray, val_clean: np.ndarray, T: np.ndarray):
    """Empirical cell laws ``laws[i][j]``: the loss of label j on clean validation samples of class i."""
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


def _predict(laws, T, prior, k, k_rsl, noisy_counts):
    frac = np.where(noisy_counts > 0, k / np.maximum(noisy_counts, 1), 0.0)
    frac_rsl = np.where(noisy_counts > 0, k_rsl / np.maximum(noisy_counts, 1), 0.0)
    return {
        "global": precision.global_(laws, T, prior, float((prior @ T) @ frac)).precision,
        "classwise": precision.per_class(laws, T, prior, frac).precision,
        "rsl": precision.per_class(laws, T, prior, frac_rsl).precision,
    }


def run_training(cfg: TrainConfig) -> dict:
    from simulations import train as tr
    import torch

    t_start = time.perf_counter()
    out_dir = ensure_dir(cfg.out)  # fail before training, not after
    ds = data.load(cfg.dataset)
    c = ds.classes
    if len(cfg.T) != c:
        raise InputError(f"the noise matrix has {len(cfg.T)} classes but {cfg.dataset} has {c}")
    ss = np.random.SeedSequence(cfg.seed)
    s_split, s_frac, s_noise, s_model, s_stage2 = ss.spawn(5)
    parts = data.split(ds.y, ds.X_test is not None, s_split)
    train_idx = parts.train
    if cfg.train_fraction < 1.0:
        keep = max(c, int(round(cfg.train_fraction * train_idx.size)))
        train_idx = np.sort(np.random.default_rng(s_frac).choice(train_idx, keep, replace=False))
    X_test, y_test = (ds.X_test, ds.y_test) if ds.X_test is not None else (ds.X[parts.test], ds.y[parts.test])
    clean = ds.y[train_idx]
    noisy = generate.noisy_labels(clean, cfg.T, s_noise).astype(np.int64)
    val_clean = ds.y[parts.val]
    prior = np.bincount(val_clean, minlength=c) / val_clean.size  # estimated on the clean split
    if np.any(prior == 0):
        raise InputError("a class has no sample in the clean validation split; the data set is too small")

    device = tr.resolve_device(cfg.device)
    as_t = lambda a, dt=torch.float32: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    Xtr, ytr = as_t(ds.X[train_idx]), as_t(noisy, torch.long)
    val = (as_t(ds.X[parts.val]), as_t(val_clean, torch.long))
    test = (as_t(X_test), as_t(y_test, torch.long))
    shape = tuple(ds.X.shape[1:])
    recipe = tr.Recipe(epochs=cfg.epochs)
    keep_outputs = train_idx.size * cfg.epochs * c <= MAX_SAVED_OUTPUTS
    seed_model = int(s_model.generate_state(1)[0])
    model = tr.fresh_model(cfg.model, shape, c, seed_model, device)
    stage1 = tr.fit(model, Xtr, ytr, recipe, seed=seed_model, record=(Xtr, ytr), val=val, test=test,
                    keep_outputs=keep_outputs, progress=cfg.progress, desc="stage 1")

    # per epoch: every criterion on the single-epoch loss and on the mean loss so far
    n_j = np.bincount(noisy, minlength=c)
    k = expected_clean_budgets(n_j, cfg.T, prior)
    k_rsl = select.rsl_budgets(n_j, class_noise_rates(cfg.T, prior), prior)
    L = stage1.losses
    cum = np.cumsum(L, axis=1, dtype=np.float64)
    probs_epochs = _softmax(stage1.outputs) if stage1.outputs is not None else None
    probs_sum = np.zeros(probs_epochs.shape[::2], dtype=np.float64) if probs_epochs is not None else None
    per_epoch = []
    for e in range(cfg.epochs):
        mean_e = (cum[:, e] / (e + 1)).astype(np.float32)
        probs = mean_probs = None
        if probs_epochs is not None:
            probs = probs_epochs[:, e]
            probs_sum += probs  # a running sum: the mean so far without re-reading earlier epochs
            mean_probs = (probs_sum / (e + 1)).astype(np.float32)
        row = {"epoch": e, "test_accuracy": stage1.test_acc[e], "val_accuracy": stage1.val_acc[e]}
        for variant, loss, p in (("single", L[:, e], probs), ("mean", mean_e, mean_probs)):
            masks = _selections(loss, p, noisy, k, k_rsl, seed=e)
            for name, m in masks.items():
                row[f"{name}_{variant}"] = select.metrics(m, clean, noisy, c)["observed_precision"]
        per_epoch.append(row)

    # predictions from the clean validation split: final-epoch and epoch-mean cell laws
    last_laws = _validation_laws(stage1.val_outputs[:, -1], val_clean, cfg.T)
    mean_val_logp = -_log_softmax(stage1.val_outputs).mean(axis=1)
    mean_laws = [[None if last_laws[i][j] is None else losses.Empirical(mean_val_logp[val_clean == i, j])
                  for j in range(c)] for i in range(c)]
    predicted_single = _predict(last_laws, cfg.T, prior, k, k_rsl, n_j)
    predicted_mean = _predict(mean_laws, cfg.T, prior, k, k_rsl, n_j)
    atoms = losses.cell_laws(cfg.T, "bayes", prior=prior)
    predicted_bayes = _predict(atoms, cfg.T, prior, k, k_rsl, n_j)

    final = per_epoch[-1]
    mean_loss = (cum[:, -1] / cfg.epochs).astype(np.float32)
    rsl_mask = select.select_per_class(mean_loss, noisy, k_rsl)  # RSL ranks the mean loss
    last_logits = stage1.outputs[:, -1] if stage1.outputs is not None else tr.predict(model, Xtr).cpu().numpy()
    final_masks = _selections(L[:, -1], _softmax(last_logits), noisy, k, None, seed=cfg.epochs - 1)
    final_masks["rsl"] = rsl_mask
    criteria = {}
    for name in CRITERIA:
        single = final.get(f"{name}_single")
        mean = final.get(f"{name}_mean")
        criteria[name] = {
            "observed_precision": mean if name == "rsl" else single,
            "observed_precision_single_epoch": single,
            "observed_precision_mean_loss": mean,
            "predicted_precision": predicted_mean.get(name) if name == "rsl" else predicted_single.get(name),
            "predicted_precision_single_epoch": predicted_single.get(name),
            "predicted_precision_mean_loss": predicted_mean.get(name),
            "predicted_precision_bayes": predicted_bayes.get(name),
        }
        m = select.metrics(final_masks[name], clean, noisy, c)
        criteria[name].update(observed_recall=m["observed_recall"], selected=m["selected"])

    # each (clean, noisy) cell's training loss over epochs beside its atom -log T_ij
    cells = []
    for i in range(c):
        for j in range(c):
            m = (clean == i) & (noisy == j)
            if m.any():
                cells.append({"clean": i, "noisy": j, "count": int(m.sum()), "atom": float(-np.log(cfg.T[i, j])),
                              "mean_loss_by_epoch": L[m].mean(axis=0).tolist()})

    # stage 2: fresh models on all noisy data, the global selection, and RSL's weighted selection
    test_accuracy = {}
    if cfg.stage2:
        global_mask = select.select_global(L[:, -1], int(rsl_mask.sum()))
        weights = select.rsl_weights(mean_loss, noisy, rsl_mask)
        recipe2 = tr.Recipe(epochs=cfg.stage2_epochs or cfg.epochs)
        seed2 = int(s_stage2.generate_state(1)[0])
        for name, mask, w in (("ce_all", np.ones(clean.size, bool), None), ("global_selected", global_mask, None),
                              ("rsl_selected", rsl_mask, weights)):
            idx = np.flatnonzero(mask)
            m2 = tr.fresh_model(cfg.model, shape, c, seed2, device)
            f2 = tr.fit(m2, Xtr[idx], ytr[idx], recipe2, seed=seed2, weights=None if w is None else w[idx],
                        val=val, test=test, progress=cfg.progress, desc=name)
            test_accuracy[name] = {**tr.accuracy_summary(f2), "train_size": int(idx.size),
                                   "train_precision": float((clean[idx] == noisy[idx]).mean())}

    settings = cfg.echo()
    record = {
        "dataset": cfg.dataset, "device": str(device), "epochs": cfg.epochs,
        "noise_rate": noise_rate(cfg.T, prior), "realised_noise_rate": float((clean != noisy).mean()),
        "n_train": int(clean.size), "n_val": int(val_clean.size), "n_test": int(y_test.size),
        "criteria": criteria, "test_accuracy": test_accuracy, "per_epoch": per_epoch, "cells": cells,
        "budgets": {"classwise": k.tolist(), "rsl": k_rsl.tolist()},
        "timing": {"epoch_s": float(np.median(stage1.epoch_s)), "record_s": float(np.median(stage1.record_s)),
                   "total_s": None},
        "loss_matrix": str(out_dir / "losses.npz"),
    }
    arrays = {"losses": L, "clean": clean, "noisy": noisy, "train_index": train_idx,
              "val_outputs": stage1.val_outputs, "val_clean": val_clean, "T": cfg.T, "prior": prior}
    if stage1.outputs is not None:
        arrays["outputs"] = stage1.outputs
    with atomic_path(out_dir / "losses.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, settings=np.array(json.dumps(settings)), **arrays)
    record["timing"]["total_s"] = time.perf_counter() - t_start
    write_json(out_dir / "record.json", {**record, "provenance": provenance(settings)})
    return record


def train_row(settings: dict, seed: int) -> dict:
    """A sweep cell: one training run, flattened to the numbers the figures need."""
    import tempfile

    import torch

    from simulations.cells import matrix_of

    torch.set_num_threads(1)  # sweeps run one cell a process, one process a core
    T = matrix_of(settings)
    with tempfile.TemporaryDirectory() as scratch:
        cfg = TrainConfig(T=T, dataset=settings.get("dataset", "digits"), epochs=settings.get("epochs", 30),
                          stage2_epochs=settings.get("stage2_epochs"), device=settings.get("device", "cpu"),
                          out=settings.get("out", scratch), seed=seed,
                          train_fraction=settings.get("train_fraction", 1.0), progress=False,
                          stage2=settings.get("stage2", True))
        r = run_training(cfg)
    row = {"noise_rate": r["noise_rate"], "n_train": r["n_train"], "seconds": r["timing"]["total_s"]}
    for name, v in r["criteria"].items():
        for key in ("observed_precision_single_epoch", "observed_precision_mean_loss", "predicted_precision",
                    "predicted_precision_bayes"):
            row[f"{name}_{key}"] = v[key]
    for name, v in r["test_accuracy"].items():
        row[f"test_{name}_best_val"] = v["best_val"]
        row[f"test_{name}_last"] = v["last"]
    return row
