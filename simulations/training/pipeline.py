"""The real-data loop, in named stages: ``load`` (the data set, once for every seed),
``prepare`` (split, scaling, noisy labels),
stage 1 (cross-entropy with every sample's loss recorded), out-of-fold probabilities,
``budgets``, the criteria (``simulations.selection.recorded``), stage 2 (six arms), ``save``.
``run_once`` runs them for one seed; ``run_training`` repeats it over ``seeds`` and reports
means with 95% intervals. The stages that train (``simulations.training.stages``) are
imported inside the functions that run them: torch is the optional extra smallloss[train],
and this module imports without it.

Budgets and predictions use what a practitioner has: the transition matrix T (known, as in
the paper) and the class prior estimated on the clean validation split; never the clean
labels of the training samples. Those are used only to score the selections.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import softmax

from simulations import intervals
from simulations.estimation import transition
from simulations.io import atomic_path, ensure_dir, provenance, write_json
from simulations.selection import bounds, recorded, rules
from simulations.selection.keep import parse_target
from simulations.selection.recorded import Budgets
from simulations.synthetic import generate, instance_noise
from simulations.training import data
from theory import precision, rsl
from theory.budgets import share_count
from theory.conditions import report
from theory.errors import InputError
from theory.noise import class_noise_rates, noise_rate
from theory.validation import check_float, check_int, check_transition, check_unit

MAX_SAVED_OUTPUTS = 50_000_000  # floats: above this only the loss matrix is saved
RSL_RULES = ("auto", "authors", "balanced")
SINGLE_LABEL_METHODS = ("confident", "anchor", "mixture")
AUTHORS_RULE_NOISE = ("uniform", "pairwise")  # where the authors' code keeps prop * n / c
LEARNED_MARGIN = 0.05  # above the majority-class rate by less than this: "did not learn"
ARMS = (
    "ce_all",
    "ce_early_stopped",
    "global_selected",
    "rsl_selected",
    "rsl_weighted",
    "coteaching",
    "ce_clean",
)
# with --keep target:P, stage 2 also trains on each loss criterion's target selection
TARGET_ARMS = ("global", "classwise", "rsl")
CLEAN_MODEL_EPOCHS = 25  # the PMD recipe's clean-trained model
RECORD_MODES = ("pass", "eval")  # stage 1's losses: from the training pass, or an eval pass
COTEACHING_RAMP = 10  # epochs over which Co-teaching's forget rate rises to its target


# On a CPU a CNN trains about 2,000-6,000 Fashion-MNIST images a second on 2 cores and the MLP
# 60,000: above this many training images the whole loop (stage 1, five folds, five stage-2
# models) fits 20 minutes only with the MLP at a batch of 128
LARGE_ON_CPU = 20_000


def resolve_recipe(
    model: str, batch: int | None, shape: tuple, n_train: int, device: str
) -> tuple[str, int]:
    """What ``--model auto`` and an unset ``--batch`` mean: a CNN on images, an MLP on vectors,
    a batch of 32 (every digits result), unless the data set is large and the device a CPU."""
    large_cpu = device == "cpu" and n_train > LARGE_ON_CPU
    if model == "auto":
        model = "mlp" if large_cpu or len(shape) != 3 else "cnn"
    if batch is None:
        batch = 128 if large_cpu else 32
    return model, batch


@dataclass
class TrainConfig:
    T: np.ndarray
    dataset: str = "digits"
    source: str = ""
    noise: str | None = None  # the family's name, when T came from one (for --rsl-budget auto)
    epochs: int = 30
    stage2_epochs: int | None = None
    device: str = "auto"
    out: str = "runs/train"
    train_fraction: float = 1.0
    model: str = "auto"
    batch: int | None = None  # None: the recipe's (resolve_recipe)
    record: str = "pass"  # stage 1's loss recording: in the training pass, or an eval pass
    threads: int | None = None  # torch's CPU threads; None: torch's default
    seed: int = 0
    seeds: int = 1
    cv: int = 5
    scale: bool = True
    rsl_budget: str = "auto"
    progress: bool = True
    stage2: bool = True
    # a single-label method of simulations.estimation.transition, or None
    estimate: str | None = None
    instance: str | None = None  # an instance-dependent recipe (T is then None: T_bar is drawn)
    rate: float = 0.0  # its mean flip rate
    probes: float = 0.0  # share of the clean validation split trained on with labels from T
    # "target:P" (a selection.keep.Target once parsed): budgets for predicted precision P,
    # reported apart
    keep: str | None = None
    confidence: float | None = None  # with probes: lower bounds on precision at this level

    def __post_init__(self):
        if self.instance is not None:
            instance_noise.check_noise(self.instance)
            self.rate = check_unit(self.rate, "--rate")
        else:
            self.T = check_transition(self.T)
        self.epochs = check_int(self.epochs, "--epochs", low=1)
        if self.batch is not None:
            self.batch = check_int(self.batch, "--batch", low=1)
        if self.threads is not None:
            self.threads = check_int(self.threads, "--threads", low=1)
        if self.record not in RECORD_MODES:
            raise InputError(f"--record {self.record!r}: choose {' or '.join(RECORD_MODES)}")
        if self.stage2_epochs is not None:
            self.stage2_epochs = check_int(self.stage2_epochs, "--stage2-epochs", low=1)
        self.train_fraction = check_float(
            self.train_fraction, "--train-fraction", 0.0, 1.0, low_open=True
        )
        self.seeds = check_int(self.seeds, "--seeds", low=1)
        self.cv = check_int(self.cv, "--cv", low=0)
        self.probes = check_float(self.probes, "--probes", 0.0, 1.0, high_open=True)
        if self.keep is not None:
            self.keep = parse_target(self.keep, "train")
        if self.confidence is not None:
            self.confidence = check_float(
                self.confidence, "--confidence", 0.0, 1.0, low_open=True, high_open=True
            )
            if self.probes <= 0:
                raise InputError(
                    "--confidence bounds the precision of what is kept by the probes' counts: "
                    "it needs --probes"
                )
        if self.probes > 0 and self.instance is not None:
            raise InputError(
                "--probes draws the probes' labels from T: it needs class-conditional noise, "
                f"not {self.instance}"
            )
        if self.cv == 1:
            raise InputError("--cv 1 leaves nothing out: use 0 (in-sample) or at least 2 folds")
        if self.estimate is not None:
            if self.estimate not in SINGLE_LABEL_METHODS:
                raise InputError(
                    f"--estimate {self.estimate!r}: choose {', '.join(SINGLE_LABEL_METHODS)}"
                )
            if self.cv < 2:
                raise InputError("--estimate needs out-of-fold probabilities: --cv 2 or more")
        if self.rsl_budget not in RSL_RULES:
            raise InputError(f"--rsl-budget {self.rsl_budget!r}: choose {', '.join(RSL_RULES)}")

    @property
    def rsl_rule(self) -> str:
        if self.rsl_budget != "auto":
            return self.rsl_budget
        return "authors" if self.noise in AUTHORS_RULE_NOISE else "balanced"

    def echo(self) -> dict:
        d = asdict(self)
        d["T"] = None if self.T is None else self.T.tolist()
        d["rsl_rule"] = self.rsl_rule
        return d


@dataclass
class Prepared:
    """Stage 0: the data split, the noisy labels and the prior, as numpy arrays."""

    X: np.ndarray  # every sample's features, scaled
    classes: int
    train_idx: np.ndarray
    val_idx: np.ndarray
    clean: np.ndarray  # clean training labels: for scoring only
    noisy: np.ndarray
    val_clean: np.ndarray
    prior: np.ndarray  # estimated on the clean validation split
    X_test: np.ndarray
    y_test: np.ndarray
    scaling: str
    seeds: dict  # one integer seed per later stage
    T: np.ndarray | None  # the noise's class-level matrix (T_bar, realised, for instance noise)
    flip: np.ndarray | None = None  # instance noise: each sample's flip probability
    instance: dict | None = None  # instance noise: its name, rate and parameters
    recipe: dict | None = None  # model, batch, epochs, recording and threads, once resolved
    # probes: clean validation samples moved into stage 1's training set, labels drawn from T
    probe_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    probe_clean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    probe_noisy: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def load(cfg: TrainConfig) -> data.Dataset:
    """The data set, once for every seed, checked against T's number of classes."""
    ds = data.load(cfg.dataset, scale=cfg.scale)
    if cfg.T is not None and len(cfg.T) != ds.classes:
        raise InputError(
            f"the noise matrix has {len(cfg.T)} classes but {cfg.dataset} has {ds.classes}"
        )
    return ds


def prepare(cfg: TrainConfig, ds: data.Dataset, seed: int) -> Prepared:
    """Split ``ds`` (train / clean validation / test), subsample, scale, draw noisy labels."""
    c = ds.classes
    seqs = np.random.SeedSequence(seed).spawn(8)  # the first 7 as before probes existed
    s_split, s_frac, s_noise, later, s_probe = *seqs[:3], seqs[3:7], seqs[7]
    parts = data.split(ds.y, ds.X_test is not None, s_split)
    train_idx = parts.train
    if cfg.train_fraction < 1.0:
        keep = max(c, int(round(cfg.train_fraction * train_idx.size)))
        rng = np.random.default_rng(s_frac)
        train_idx = np.sort(rng.choice(train_idx, keep, replace=False))
    if ds.X_test is not None:
        X, X_test, y_test = ds.X, ds.X_test, ds.y_test
    else:
        X, X_test, y_test = ds.X, ds.X[parts.test], ds.y[parts.test]
    scaling = ds.scaling
    if ds.standardise:
        X, X_test = data.standardised(X, train_idx, X_test)
    clean = ds.y[train_idx]
    # instance noise needs a clean-trained model first: run_once draws it (clean is a placeholder)
    noisy = clean.copy() if cfg.T is None else generate.noisy_labels(clean, cfg.T, s_noise)
    val_idx = parts.val
    prior = np.bincount(ds.y[val_idx], minlength=c) / val_idx.size
    if np.any(prior == 0):
        raise InputError(
            "a class has no sample in the clean validation split; the data set is too small"
        )
    probe_idx = np.zeros(0, np.int64)
    if cfg.probes > 0:
        rng = np.random.default_rng(s_probe)
        moved = rng.permutation(val_idx.size)[: int(round(cfg.probes * val_idx.size))]
        probe_idx, val_idx = np.sort(val_idx[moved]), np.delete(val_idx, moved)
        if np.bincount(ds.y[val_idx], minlength=c).min() == 0:
            raise InputError(
                f"--probes {cfg.probes:g} leaves a class with no clean validation sample: "
                "use a smaller share"
            )
    val_clean = ds.y[val_idx]
    names = ("model", "folds", "stage2", "coteaching", "noise")
    probe_clean = ds.y[probe_idx]
    probe_noisy = (
        generate.noisy_labels(probe_clean, cfg.T, s_probe.spawn(1)[0]).astype(np.int64)
        if probe_idx.size
        else probe_clean
    )
    return Prepared(
        X=X,
        classes=c,
        train_idx=train_idx,
        val_idx=val_idx,
        clean=clean,
        noisy=noisy,
        val_clean=val_clean,
        prior=prior,
        X_test=X_test,
        y_test=y_test,
        scaling=scaling,
        seeds={k: int(s.generate_state(1)[0]) for k, s in zip(names, [*later, s_noise])},
        T=cfg.T,
        probe_idx=probe_idx,
        probe_clean=probe_clean,
        probe_noisy=probe_noisy,
    )


def instance_labels(cfg: TrainConfig, prep: Prepared, tensors) -> None:
    """Noisy labels by ``cfg.instance``: part-dependent from the (scaled) training features,
    pmd-k and margin from a network trained on the clean labels (``CLEAN_MODEL_EPOCHS``, as in
    the PMD recipe): its last epoch's softmax is the posterior, its softmax averaged over
    epochs is margin's score. ``prep.T`` becomes the realised ``T_bar``.

    Parameters
    ----------
    cfg : TrainConfig
        The run's settings; ``cfg.instance`` names the recipe, ``cfg.rate`` its mean flip rate.
    prep : Prepared
        The prepared split, updated in place: ``noisy`` ``(n,)`` int64 labels, ``T`` the
        realised ``(c, c)`` float64 ``T_bar``, ``flip`` ``(n,)`` float64 flip probabilities,
        ``instance`` the recipe's record.
    tensors : simulations.training.stages.Tensors
        The training features on the device (for the clean-trained model).

    Returns
    -------
    None
    """
    # torch is the optional extra smallloss[train]: imported only when a network is trained
    from simulations.training.loop import Recipe
    from simulations.training.stages import clean_trained_softmax

    X = prep.X[prep.train_idx].reshape(prep.train_idx.size, -1)
    posterior = scores = None
    if cfg.instance != "part-dependent":
        recipe = Recipe(epochs=CLEAN_MODEL_EPOCHS, batch=prep.recipe["batch"])
        posterior, scores = clean_trained_softmax(
            prep.recipe["model"],
            tensors,
            prep.clean,
            recipe,
            cfg.record,
            prep.seeds["noise"],
            cfg.progress,
        )
    noise = instance_noise.generate(
        cfg.instance,
        prep.clean,
        cfg.rate,
        prep.seeds["noise"],
        features=X,
        posterior=posterior,
        scores=scores,
        classes=prep.classes,
    )
    prep.noisy = noise.noisy.astype(np.int64)
    prep.T, prep.flip = noise.T_bar, noise.flip
    params = {k: v for k, v in noise.params.items() if k != "W"}
    prep.instance = {
        "name": cfg.instance,
        "rate": cfg.rate,
        "params": params,
        "flip_probability_mean": float(noise.flip.mean()),
    }


def expected_clean_budgets(noisy_counts: np.ndarray, T: np.ndarray, prior: np.ndarray):
    """``(1 - eta_j) n_j``: how many of observed class j a known T says are clean.

    Parameters
    ----------
    noisy_counts : numpy.ndarray
        ``(c,)`` int64: how many training samples carry each observed label.
    T : numpy.ndarray
        ``(c, c)`` float64 transition matrix, ``T[clean, noisy]``.
    prior : numpy.ndarray
        ``(c,)`` float64 clean class prior.

    Returns
    -------
    numpy.ndarray
        ``(c,)`` int64 budgets (``theory.budgets.share_count``).
    """
    fractions = precision.oracle_fractions(T, prior)
    return share_count(fractions, noisy_counts)


def budgets(noisy: np.ndarray, prior: np.ndarray, T: np.ndarray, rule: str) -> Budgets:
    """Per observed class: the expected clean count, and RSL's budget by ``rule``:
    ``balanced`` = num(i) (SCIENCE.md §5), ``authors`` = prop(i) n / c, as the authors' code
    keeps for uniform and pairwise noise.

    Parameters
    ----------
    noisy : numpy.ndarray
        ``(n,)`` int64 noisy training labels.
    prior : numpy.ndarray
        ``(c,)`` float64 clean class prior.
    T : numpy.ndarray
        ``(c, c)`` float64 transition matrix.
    rule : {"balanced", "authors"}
        RSL's budget rule.

    Returns
    -------
    Budgets
        ``classwise`` and ``rsl``, each ``(c,)`` int64 (RSL's at most each class's count under
        ``authors``), and the rule.
    """
    c = len(T)
    n_j = np.bincount(noisy, minlength=c)
    eta = class_noise_rates(T, prior)
    if rule == "authors":
        k_rsl = share_count(rsl.proportions(eta) * noisy.size / c)
        k_rsl = np.minimum(k_rsl, n_j)
    else:
        k_rsl = rules.rsl_budgets(n_j, eta, prior)
    return Budgets(expected_clean_budgets(n_j, T, prior), k_rsl, rule)


def learning_warnings(val_acc: list[float], prep: Prepared) -> list[str]:
    """A warning when stage 1 learned nothing: its best clean validation accuracy is within
    ``LEARNED_MARGIN`` of always predicting the majority class."""
    majority = float(prep.prior.max())
    best = max(val_acc)
    if best > majority + LEARNED_MARGIN:
        return []
    return [
        f"the network did not learn: its best clean validation accuracy {best:.3f} is within "
        f"{LEARNED_MARGIN} of always predicting the majority class ({majority:.3f}); every "
        f"criterion then selects at chance. Inputs: {prep.scaling}; check them and --epochs"
    ]


def stage2_sets(loss_matrix, prep: Prepared, b: Budgets, target: dict | None = None) -> dict:
    """Each stage-2 arm's training set (mask, weights): all noisy data, the global selection
    at RSL's total, RSL's selection unweighted (as the authors train) and with its weights;
    with ``target`` (criterion -> mask of ``--keep target:P``), ``target_<criterion>`` too,
    unweighted, where it keeps something."""
    mean = recorded.mean_loss(loss_matrix)
    rsl_mask = rules.select_per_class(mean, prep.noisy, b.rsl)
    global_mask = rules.select_global(loss_matrix[:, -1], int(rsl_mask.sum()))
    sets = {
        "ce_all": (np.ones(prep.clean.size, bool), None),
        "global_selected": (global_mask, None),
        "rsl_selected": (rsl_mask, None),
        "rsl_weighted": (rsl_mask, rules.rsl_weights(mean, prep.noisy, rsl_mask)),
    }
    for name, mask in (target or {}).items():
        if mask.any():
            sets[f"target_{name}"] = (mask, None)
    return sets


def run_once(cfg: TrainConfig, ds: data.Dataset, seed: int, out_dir: Path) -> dict:
    """Every stage for one seed; the record (also written to ``out_dir``) as a dict.

    Parameters
    ----------
    cfg : TrainConfig
        The run's settings.
    ds : simulations.training.data.Dataset
        The data set, loaded once (``load``).
    seed : int
        The run's seed; each stage draws from its own child of it.
    out_dir : pathlib.Path
        Where the loss matrix (``losses.npz``) and the record (``record.json``) are written.

    Returns
    -------
    dict
        The record: settings echoed, every criterion's observed and predicted precision,
        stage 2's test accuracies, per-epoch rows, cells, budgets and timings.
    """
    # torch is the optional extra smallloss[train]: only the training stages need it
    import torch

    from simulations.training.loop import Recipe, predict, resolve_device
    from simulations.training.stages import Tensors, out_of_fold_probs, stage1

    t_start = time.perf_counter()
    prep = prepare(cfg, ds, seed)
    c = prep.classes
    device = resolve_device(cfg.device)
    model, batch = resolve_recipe(
        cfg.model, cfg.batch, prep.X.shape[1:], prep.clean.size, device.type
    )
    prep.recipe = {
        "model": model,
        "batch": batch,
        "epochs": cfg.epochs,
        "stage2_epochs": cfg.stage2_epochs or cfg.epochs,
        "record": cfg.record,
        "threads": torch.get_num_threads(),
    }
    recipe = Recipe(epochs=cfg.epochs, batch=batch)
    tensors = Tensors.of(prep, device)
    if cfg.instance:
        instance_labels(cfg, prep, tensors)
        tensors.relabel(prep.noisy)
    n = prep.clean.size
    keep_outputs = (n + prep.probe_idx.size) * cfg.epochs * c <= MAX_SAVED_OUTPUTS
    stage1_set = tensors.with_probes(prep.X[prep.probe_idx], prep.probe_noisy)
    fit1, net = stage1(
        model, stage1_set, recipe, cfg.record, prep.seeds["model"], keep_outputs, cfg.progress
    )
    probe_losses = fit1.losses[n:]  # stage 1 trained on the probes; nothing selects them
    fit1.losses = fit1.losses[:n]
    if fit1.outputs is not None:
        fit1.outputs = fit1.outputs[:n]
    warnings = learning_warnings(fit1.val_acc, prep)
    if cfg.cv >= 2:
        probs = out_of_fold_probs(model, tensors, cfg.cv, recipe, prep.seeds["folds"], cfg.progress)
        probs_source = f"out of fold, {cfg.cv} folds"
    else:
        if fit1.outputs is not None:
            logits = fit1.outputs[:, -1]
        else:  # too many outputs were kept to store: predict the last epoch's again
            logits = predict(net, tensors.X_train).cpu().numpy()
        probs = softmax(logits, axis=-1)
        probs_source = "in sample (--cv 0)"
        warnings.append(
            "confident learning and cleanlab ranked in-sample probabilities (--cv 0): a network "
            "that has fitted its labels looks confident on all of them, so both keep nearly all"
        )

    L = fit1.losses
    probe_record = {"count": int(prep.probe_idx.size), "share_of_validation": cfg.probes}

    def criteria_from(T, prior):
        b = budgets(prep.noisy, prior, T, cfg.rsl_rule)
        per_epoch = recorded.per_epoch_criteria(
            L, fit1.val_acc, fit1.test_acc, prep.clean, prep.noisy, c, b
        )
        laws = recorded.validation_laws(fit1.val_outputs, prep.val_clean, T)
        predicted = recorded.predictions(laws, prep.noisy, prior, T, b)
        if probe_losses.size:  # the in-sample laws replace the validation split's
            *laws, probe_record["cell_counts"] = recorded.probe_laws(
                probe_losses, prep.probe_clean, prep.probe_noisy, laws, T
            )
            by_probes = recorded.law_predictions(*laws, prep.noisy, prior, T, b)
            predicted["probes_single"], predicted["probes_mean"] = by_probes.values()
            predicted.update(
                recorded.count_predictions(
                    L,
                    probe_losses,
                    prep.probe_clean,
                    prep.probe_noisy,
                    prep.noisy,
                    prior,
                    T,
                    b,
                    cfg.confidence,
                )
            )
        final = recorded.final_criteria(
            L, probs, prep.clean, prep.noisy, c, b, per_epoch, predicted
        )
        return b, per_epoch, final, laws

    b, per_epoch, criteria, laws = criteria_from(prep.T, prep.prior)
    T_used, prior_used = prep.T, prep.prior
    estimated = None
    if cfg.estimate:  # a practitioner's run: T and the prior from the noisy labels alone
        est = transition.from_probs(prep.noisy, probs, c, cfg.estimate)
        estimated = estimate_record(est, prep.T, prep.prior, b, criteria)
        b, per_epoch, criteria, laws = criteria_from(est.T, est.prior)
        T_used, prior_used = est.T, est.prior
    cells = recorded.cell_summaries(L, prep.clean, prep.noisy, prep.T)
    target = target_masks = None
    if cfg.keep is not None:
        target, target_masks = keep_target(cfg, fit1, prep, laws, T_used, prior_used, probe_losses)
        warnings += [
            f"--keep {cfg.keep}: {name} keeps nothing, so stage 2 has no target_{name} arm"
            for name, mask in target_masks.items()
            if cfg.stage2 and not mask.any()
        ]

    test_accuracy = {}
    if cfg.stage2:
        test_accuracy = stage2(cfg, tensors, prep, L, b, target_masks)

    record = {
        "dataset": cfg.dataset,
        "device": str(device),
        "epochs": cfg.epochs,
        "seed": seed,
        "scaling": prep.scaling,
        "warnings": warnings,
        "noise_rate": noise_rate(prep.T, prep.prior),
        "realised_noise_rate": float((prep.clean != prep.noisy).mean()),
        "n_train": int(prep.clean.size),
        "n_val": int(prep.val_clean.size),
        "n_test": int(prep.y_test.size),
        "probabilities": probs_source,
        "predicted_from": "probes" if probe_losses.size else "validation",
        "criteria": criteria,
        "test_accuracy": test_accuracy,
        "per_epoch": per_epoch,
        "cells": cells,
        "budgets": {
            "classwise": b.classwise.tolist(),
            "rsl": b.rsl.tolist(),
            "rsl_rule": b.rsl_rule,
        },
        "recipe": prep.recipe,
        "timing": {
            "epoch_s": float(np.median(fit1.epoch_s)),
            "record_s": float(np.median(fit1.record_s)),
            "record_share": float(np.median(np.divide(fit1.record_s, fit1.epoch_s))),
            "eval_s": float(np.median(fit1.eval_s)),
            "total_s": None,
        },
        "loss_matrix": str(out_dir / "losses.npz"),
    }
    if estimated is not None:
        record["estimate"] = estimated
    if probe_losses.size:
        record["probes"] = probe_record
    if target is not None:
        record["target"] = target
    if prep.instance is not None:
        record["T_bar"] = prep.T.tolist()
        record["T_bar_conditions"] = report(prep.T, prep.prior).verdicts()
        record["instance_noise"] = prep.instance
    arrays = {"oof_probs" if cfg.cv >= 2 else "insample_probs": probs.astype(np.float32)}
    if probe_losses.size:
        arrays.update(
            probe_losses=probe_losses, probe_clean=prep.probe_clean, probe_noisy=prep.probe_noisy
        )
    if prep.flip is not None:
        arrays["flip_probability"] = prep.flip
    save(out_dir, cfg, prep, fit1, arrays, record, t_start)
    return record


def keep_target(
    cfg: TrainConfig, fit1, prep: Prepared, laws, T, prior, probe_losses
) -> tuple[dict, dict]:
    """``--keep target:P``: budgets from ``laws`` (last epoch, epoch mean): the probes'
    in-sample laws, or the validation split's when there are no probes; with
    ``--confidence L``, from the probes' counts of mislabelled losses, bounded at level L
    (``simulations.selection.bounds``). What they keep, and the masks of the three loss
    criteria for stage 2.

    Parameters
    ----------
    cfg : TrainConfig
        The run's settings: ``keep`` (a ``simulations.selection.keep.Target``) and
        ``confidence``.
    fit1 : simulations.training.loop.Fit
        Stage 1: ``losses`` ``(n, epochs)`` float32.
    prep : Prepared
        The prepared split (noisy labels, probes).
    laws : tuple of (list, list)
        Cell laws of the last epoch's loss and of the epoch-mean loss.
    T : numpy.ndarray
        ``(c, c)`` float64 transition matrix the budgets use.
    prior : numpy.ndarray
        ``(c,)`` float64 class prior the budgets use.
    probe_losses : numpy.ndarray
        ``(probes, epochs)`` float32 losses of the probes (empty without probes).

    Returns
    -------
    tuple of (dict, dict)
        The record's ``target`` (precision, where the budgets came from, each criterion's
        predicted and observed precision), and criterion name -> ``(n,)`` bool mask for the
        arms of ``TARGET_ARMS``.
    """
    P = cfg.keep.precision
    if cfg.confidence is None:
        source = "probes" if prep.probe_idx.size else "validation"
        chosen = recorded.target_selections(fit1.losses, *laws, prep.noisy, prior, T, P)
        record = {"precision": P, "laws": source}
    else:
        last, mean = recorded.probe_bounds(
            fit1.losses, probe_losses, prep.probe_clean, prep.probe_noisy, prep.noisy, T, prior
        )
        chosen = bounds.target_selections(last, mean, T, prior, P, cfg.confidence)
        mask, kept = recorded.coteaching_selection(fit1.losses[:, -1], T, prior)
        chosen["coteaching_rule"] = {
            "mask": mask,
            "budgets": kept,
            **bounds.global_bound(last, kept, cfg.confidence),
        }
        record = {"precision": P, "laws": "probe counts", "confidence": cfg.confidence}
    record["criteria"] = recorded.target_criteria(chosen, prep.clean, prep.noisy, prep.classes)
    return record, {name: chosen[name]["mask"] for name in TARGET_ARMS}


def stage2(
    cfg: TrainConfig, tensors, prep: Prepared, loss_matrix, b: Budgets, target: dict | None = None
) -> dict:
    """Fresh networks on each arm's training set (``stage2_sets``), and Co-teaching; each
    arm's test accuracy at its last epoch and at its best clean-validation epoch.

    Parameters
    ----------
    cfg : TrainConfig
        The run's settings.
    tensors : simulations.training.stages.Tensors
        The noisy training set and the evaluation splits, on the device.
    prep : Prepared
        The prepared split, with its resolved ``recipe`` and its ``seeds``.
    loss_matrix : numpy.ndarray
        ``(n, epochs)`` float32 stage-1 losses, which the selections rank.
    b : Budgets
        The per-class and RSL budgets.
    target : dict, optional
        Criterion name -> ``(n,)`` bool mask of its ``--keep target:P`` selection.

    Returns
    -------
    dict
        Arm name -> ``best_val``, ``best_epoch``, ``last``, ``train_size`` and
        ``train_precision`` (``stages.stage2_arm``); ``coteaching`` also has ``forget_rate``.
        The arms of ``ARMS`` first, then the target arms.
    """
    # torch is the optional extra smallloss[train]: imported only when a network is trained
    from simulations.training.loop import Recipe
    from simulations.training.stages import coteaching, stage2_arm

    model = prep.recipe["model"]
    recipe = Recipe(epochs=prep.recipe["stage2_epochs"], batch=prep.recipe["batch"])
    seed = prep.seeds["stage2"]
    out = {}
    for name, (mask, w) in stage2_sets(loss_matrix, prep, b, target).items():
        out[name] = stage2_arm(model, tensors, mask, w, recipe, seed, prep, cfg.progress, name)
    out["ce_early_stopped"] = {**out["ce_all"], "last": out["ce_all"]["best_val"]}
    # the ceiling, for reference only: the same recipe on the clean training labels
    out["ce_clean"] = stage2_arm(
        model,
        tensors,
        np.ones(prep.clean.size, bool),
        None,
        recipe,
        seed,
        prep,
        cfg.progress,
        "ce_clean",
        labels=prep.clean,
    )
    forget = noise_rate(prep.T, prep.prior)
    out["coteaching"] = coteaching(
        model,
        tensors,
        recipe,
        prep.seeds["coteaching"],
        forget,
        min(COTEACHING_RAMP, recipe.epochs),
        prep,
        cfg.progress,
    )
    return {name: out[name] for name in (*ARMS, *(a for a in out if a not in ARMS))}


def save(
    out_dir: Path, cfg: TrainConfig, prep: Prepared, fit, arrays: dict, record: dict, t_start: float
) -> None:
    """The loss matrix (and outputs, probabilities) as one npz and the record as JSON, each
    written atomically."""
    ensure_dir(out_dir)
    settings = {**cfg.echo(), "seed": record["seed"]}
    arrays = {
        "losses": fit.losses,
        "clean": prep.clean,
        "noisy": prep.noisy,
        "train_index": prep.train_idx,
        "val_outputs": fit.val_outputs,
        "val_clean": prep.val_clean,
        "T": prep.T,
        "prior": prep.prior,
        **arrays,
    }
    if fit.outputs is not None:
        arrays["outputs"] = fit.outputs
    with atomic_path(out_dir / "losses.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, settings=np.array(json.dumps(settings)), **arrays)
    record["timing"]["total_s"] = time.perf_counter() - t_start
    write_json(out_dir / "record.json", {**record, "provenance": provenance(settings)})


def estimate_record(est, T, prior, b_true: Budgets, criteria_true: dict) -> dict:
    """T-hat beside the truth, and what the true T would have given (budgets, criteria)."""
    keep = ("observed_precision", "predicted_precision", "selected")
    return {
        "method": est.method,
        "T": est.T.tolist(),
        "prior": est.prior.tolist(),
        "noise_rate": est.noise_rate,
        "true_noise_rate": noise_rate(T, prior),
        "T_error": transition.t_error(est.T, T),
        "with_true_T": {
            "budgets": {"classwise": b_true.classwise.tolist(), "rsl": b_true.rsl.tolist()},
            "criteria": {k: {f: v.get(f) for f in keep} for k, v in criteria_true.items()},
        },
    }


# --- several seeds -------------------------------------------------------------------------


def run_training(cfg: TrainConfig) -> dict:
    """``cfg.seeds`` whole runs (seeds ``seed``, ``seed + 1``, ...); with several, each run's
    files go to ``out/seed-S/`` and the record reports means with 95% intervals."""
    t_start = time.perf_counter()
    out = ensure_dir(cfg.out)  # fail before training, not after
    seeds = [cfg.seed + k for k in range(cfg.seeds)]
    ds = load(cfg)
    with torch_threads(cfg.threads):
        runs = [run_once(cfg, ds, s, out if len(seeds) == 1 else out / f"seed-{s}") for s in seeds]
    record = combine(runs)
    record["timing"]["total_s"] = time.perf_counter() - t_start
    if len(seeds) > 1:
        write_json(out / "record.json", {**record, "provenance": provenance(cfg.echo())})
    return record


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """torch's CPU thread count set for the run, and given back after it."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def combine(runs: list[dict]) -> dict:
    """One record from several seeds' records: test accuracy per arm as mean and interval,
    criteria as means (with the interval of the observed precision); per-epoch rows, cells and
    budgets from the first seed; the warnings of every seed."""
    first = runs[0]
    record = {k: v for k, v in first.items() if k not in ("seed", "runs")}
    record["seeds"] = [r["seed"] for r in runs]
    record["warnings"] = [
        f"seed {r['seed']}: {w}" if len(runs) > 1 else w for r in runs for w in r["warnings"]
    ]
    for key in ("noise_rate", "realised_noise_rate"):
        record[key] = float(np.mean([r[key] for r in runs]))
    if "T_bar" in first:  # instance noise: each seed drew its own
        record["T_bar"] = np.mean([r["T_bar"] for r in runs], axis=0).tolist()
    record["criteria"] = {}
    for name in first["criteria"]:
        rows = [r["criteria"][name] for r in runs]
        merged = intervals.mean_of(rows)
        spread = intervals.summary([row["observed_precision"] for row in rows])
        merged["observed_precision_ci"] = [spread["ci_low"], spread["ci_high"]]
        record["criteria"][name] = merged
    record["test_accuracy"] = {}
    # a target arm is missing from a seed whose target selection kept nothing
    for arm in [a for a in first["test_accuracy"] if all(a in r["test_accuracy"] for r in runs)]:
        rows = [r["test_accuracy"][arm] for r in runs]
        early = intervals.summary([row["best_val"] for row in rows])
        record["test_accuracy"][arm] = {
            **intervals.summary([row["last"] for row in rows]),
            "early_stopped": early,
            **intervals.mean_of(
                [{k: row[k] for k in ("train_size", "train_precision")} for row in rows]
            ),
        }
    if "estimate" in first:
        record["estimate"] = {
            **first["estimate"],
            "T_error_seeds": intervals.summary([r["estimate"]["T_error"] for r in runs]),
        }
    if len(runs) > 1:
        record["runs"] = [
            {
                "seed": r["seed"],
                "loss_matrix": r["loss_matrix"],
                "criteria": {k: v.get("observed_precision") for k, v in r["criteria"].items()},
                "test_accuracy": {k: v["last"] for k, v in r["test_accuracy"].items()},
            }
            for r in runs
        ]
    return record
