"""The training stages of ``simulations.training.run``: stage 1, the clean-trained model
of the instance-noise recipes, the out-of-fold probabilities and the stage-2 arms (each
trained by the runner its entry of ``simulations.training.arms`` names). They live apart
from the run so that its other steps (numpy only) import without torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from simulations.training.loop import (
    Fit,
    Recipe,
    fit,
    fresh_model,
    predict,
)
from simulations.training.two_networks import _summary
from theory.errors import InputError


@dataclass
class Tensors:
    """The noisy training set, the clean validation split and the test split, on the device."""

    X_train: torch.Tensor
    y_train: torch.Tensor  # noisy labels
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    shape: tuple
    classes: int

    @classmethod
    def of(cls, prep, device: torch.device) -> Tensors:
        def floats(a):
            return torch.as_tensor(a, dtype=torch.float32, device=device)

        def longs(a):
            return torch.as_tensor(a, dtype=torch.long, device=device)

        return cls(
            X_train=floats(prep.X[prep.train_idx]),
            y_train=longs(prep.noisy),
            val=(floats(prep.X[prep.val_idx]), longs(prep.val_clean)),
            test=(floats(prep.X_test), longs(prep.y_test)),
            shape=tuple(prep.X.shape[1:]),
            classes=prep.classes,
        )

    def with_probes(self, X: np.ndarray, labels: np.ndarray) -> Tensors:
        """The training set with ``X``, labelled ``labels``, appended (stage 1's probes)."""
        if labels.size == 0:
            return self
        device = self.X_train.device
        X = torch.as_tensor(X, dtype=torch.float32, device=device)
        y = torch.as_tensor(labels, dtype=torch.long, device=device)
        return replace(
            self, X_train=torch.cat([self.X_train, X]), y_train=torch.cat([self.y_train, y])
        )

    def relabel(self, labels: np.ndarray) -> None:
        """New training labels, the features left where they are."""
        self.y_train = torch.as_tensor(labels, dtype=torch.long, device=self.X_train.device)


def stage1(
    kind: str,
    t: Tensors,
    recipe: Recipe,
    record: str,
    seed: int,
    keep_outputs: bool,
    progress: bool,
) -> tuple[Fit, nn.Module]:
    """Cross-entropy on all noisy labels, every training sample's loss recorded each epoch.

    Parameters
    ----------
    kind : str
        The model, as ``simulations.training.models.build_model`` takes it.
    t : Tensors
        The training set (probes appended, where there are any) and the evaluation splits.
    recipe : Recipe
        Epochs, batch and optimiser.
    record : {"pass", "eval"}
        How the losses are recorded (``simulations.training.loop.fit``).
    seed : int
        Seeds the weights and the batch order.
    keep_outputs : bool
        Also keep every training sample's logits each epoch.
    progress : bool
        Show a progress bar.

    Returns
    -------
    tuple of (Fit, torch.nn.Module)
        The fit (``losses`` ``(n, epochs)`` float32, ``outputs`` ``(n, epochs, c)`` float32
        or None, ``val_outputs`` ``(n_val, epochs, c)`` float32) and the trained network.
    """
    return _fit_fresh(
        kind,
        t,
        t.X_train,
        t.y_train,
        recipe,
        seed,
        progress,
        "stage 1",
        record=record,
        keep_outputs=keep_outputs,
    )


def _fit_fresh(
    kind: str,
    t: Tensors,
    X: torch.Tensor,
    y: torch.Tensor,
    recipe: Recipe,
    seed: int,
    progress: bool,
    desc: str,
    **kw,
) -> tuple[Fit, nn.Module]:
    """A fresh network of ``kind`` (weights seeded by ``seed``) fitted to (X, y), with ``t``'s
    validation and test splits scored after every epoch; ``kw`` goes to ``fit``."""
    model = fresh_model(kind, t.shape, t.classes, seed, t.X_train.device)
    f = fit(
        model, X, y, recipe, seed=seed, val=t.val, test=t.test, progress=progress, desc=desc, **kw
    )
    return f, model


def recorded_outputs(
    X: np.ndarray, y: np.ndarray, classes: int, epochs: int, seed: int
) -> np.ndarray:
    """Every sample's outputs after every epoch, (epochs, n, classes), of an MLP on the CPU
    fitted to (X, y): for figures that train on labels of their own making (AUM's extra
    class)."""
    device = torch.device("cpu")
    net = fresh_model("mlp", X.shape[1:], classes, seed, device)
    f = fit(
        net,
        torch.as_tensor(X, dtype=torch.float32),
        torch.as_tensor(y, dtype=torch.int64),
        Recipe(epochs=epochs),
        seed=seed,
        record="pass",
    )
    return f.outputs


def clean_trained_softmax(
    kind: str, t: Tensors, clean: np.ndarray, recipe: Recipe, record: str, seed: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A network trained on the clean labels: every training sample's softmax at the last
    epoch, and averaged over the epochs (the instance-noise recipes' inputs).

    Parameters
    ----------
    kind : str
        The model, as ``simulations.training.models.build_model`` takes it.
    t : Tensors
        The training features (its labels are not used).
    clean : numpy.ndarray
        ``(n,)`` int64 clean training labels.
    recipe : Recipe
        Epochs, batch and optimiser.
    record : {"pass", "eval"}
        How the outputs are recorded.
    seed : int
        Seeds the weights and the batch order.
    progress : bool
        Show a progress bar.

    Returns
    -------
    tuple of numpy.ndarray
        ``(n, c)`` float64 softmax at the last epoch, and ``(n, c)`` float64 softmax averaged
        over the epochs.
    """
    y = torch.as_tensor(clean, dtype=torch.long, device=t.X_train.device)
    model = fresh_model(kind, t.shape, t.classes, seed, t.X_train.device)
    f = fit(
        model,
        t.X_train,
        y,
        recipe,
        seed=seed,
        record=record,
        keep_outputs=True,
        progress=progress,
        desc="clean model",
    )
    probs = torch.softmax(torch.as_tensor(f.outputs), dim=2).numpy().astype(np.float64)
    return probs[:, -1], probs.mean(axis=1)


def clean_out_of_fold(
    kind: str,
    X: np.ndarray,
    clean: np.ndarray,
    classes: int,
    folds: int,
    recipe: Recipe,
    seed: int,
    device,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's softmax from the one of ``folds`` networks, trained on the clean labels of
    the other folds, that did not see it: at the epoch of least held-out log loss (a posterior
    eta(x)), and averaged over its epochs (margin noise's score). The instance-noise recipes'
    inputs.

    Parameters
    ----------
    kind : str
        The model, as ``simulations.training.models.build_model`` takes it.
    X : (m, *shape) float32
        The items' features.
    clean : (m,) int
        Their clean labels.
    classes, folds : int
    recipe : Recipe
        Epochs, batch and optimiser of each fold's network.
    seed : int
        Seeds the folds; fold k's network is seeded ``seed + k``.
    device : torch.device
    progress : bool

    Returns
    -------
    (m, c) float64 softmax at the best epoch, and (m, c) float64 softmax averaged over epochs.
    """
    # sklearn is imported where it is needed: its import costs about a second
    from sklearn.model_selection import StratifiedKFold

    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    yt = torch.as_tensor(clean, dtype=torch.long, device=device)
    last = np.empty((clean.size, classes))
    mean = np.empty((clean.size, classes))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % (2**32))
    for k, (train, held) in enumerate(splitter.split(np.zeros(clean.size), clean)):
        model = fresh_model(kind, tuple(X.shape[1:]), classes, seed + k, device)
        f = fit(
            model,
            Xt[train],
            yt[train],
            recipe,
            seed=seed + k,
            val=(Xt[held], yt[held]),
            progress=progress,
            desc=f"clean model {k + 1}/{folds}",
        )
        probs = torch.softmax(torch.as_tensor(f.val_outputs), dim=2).numpy().astype(np.float64)
        # the posterior is the epoch whose held-out probabilities fit the held-out labels best
        # (least log loss): a network trained on to the end grows overconfident, and eta(x)
        # is meant to be the posterior
        picked = probs[np.arange(held.size), :, clean[held]]
        best = int(np.argmin(-np.log(np.clip(picked, 1e-12, None)).mean(axis=0)))
        last[held], mean[held] = probs[:, best], probs.mean(axis=1)
    return last, mean


def out_of_fold_probs(
    kind: str, t: Tensors, folds: int, recipe: Recipe, seed: int, progress: bool
) -> np.ndarray:
    """Each training sample's predicted probabilities from the one of ``folds`` models (trained
    as stage 1, on the other folds' noisy labels) that did not see it: cleanlab's input.

    Parameters
    ----------
    kind : str
        The model, as ``simulations.training.models.build_model`` takes it.
    t : Tensors
        The noisy training set.
    folds : int
        Stratified folds (at least 2, and at most the rarest observed label's count).
    recipe : Recipe
        Epochs, batch and optimiser of each fold's model.
    seed : int
        Seeds the folds; fold k's model is seeded ``seed + k``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    numpy.ndarray
        ``(n, c)`` float32 out-of-fold softmax probabilities.

    Raises
    ------
    InputError
        When an observed label has fewer samples than ``folds``.
    """
    # sklearn is imported where it is needed: its import costs about a second
    from sklearn.model_selection import StratifiedKFold

    y = t.y_train.cpu().numpy()
    counts = np.bincount(y, minlength=t.classes)
    smallest = int(counts[counts > 0].min())  # classes nobody is labelled as need no fold
    if smallest < folds:
        raise InputError(
            f"--cv {folds} needs at least {folds} samples of each observed label; the rarest "
            f"has {smallest}: use fewer folds"
        )
    probs = np.empty((y.size, t.classes), dtype=np.float32)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % (2**32))
    for k, (train, held) in enumerate(splitter.split(np.zeros(y.size), y)):
        model = fresh_model(kind, t.shape, t.classes, seed + k, t.X_train.device)
        fit(
            model,
            t.X_train[train],
            t.y_train[train],
            recipe,
            seed=seed + k,
            progress=progress,
            desc=f"fold {k + 1}/{folds}",
        )
        probs[held] = torch.softmax(predict(model, t.X_train[held]), dim=1).cpu().numpy()
    return probs


def stage2_arm(
    kind: str,
    t: Tensors,
    mask: np.ndarray,
    weights: np.ndarray | None,
    recipe: Recipe,
    seed: int,
    prep,
    progress: bool,
    name: str,
    labels: np.ndarray | None = None,
) -> dict:
    """A fresh network trained on the samples of ``mask`` (optionally weighted) with their
    noisy labels (or ``labels``); its test accuracy at the last and at the best
    clean-validation epoch.

    Parameters
    ----------
    kind : str
        The model, as ``simulations.training.models.build_model`` takes it.
    t : Tensors
        The noisy training set and the evaluation splits.
    mask : numpy.ndarray
        ``(n,)`` bool: the training samples the arm trains on.
    weights : numpy.ndarray or None
        ``(n,)`` float sample weights (only those of ``mask`` are used), or None.
    recipe : Recipe
        Epochs, batch and optimiser.
    seed : int
        Seeds the weights and the batch order.
    prep : simulations.training.prepare.Prepared
        The prepared split: its clean labels score the training set's precision.
    progress : bool
        Show a progress bar, labelled ``name``.
    name : str
        The arm's name.
    labels : numpy.ndarray, optional
        ``(n,)`` int64 labels to train on instead of the noisy ones.

    Returns
    -------
    dict
        ``best_val``, ``best_epoch``, ``last`` (``accuracy_summary``), ``train_size`` (int)
        and ``train_precision`` (float).
    """
    idx = np.flatnonzero(mask)
    w = None if weights is None else weights[idx]
    y = t.y_train if labels is None else torch.as_tensor(labels, device=t.X_train.device)
    f, _ = _fit_fresh(
        kind, t, t.X_train[idx], y[idx], recipe, seed, progress, name, weights=w, test_every=False
    )
    return _summary(f, prep, idx, labels)


@dataclass
class ArmContext:
    """What every stage-2 runner reads: the model kind, the data, the recipe, the prepared
    split (its seeds, clean labels), each single-network arm's training set (``sets``: name
    -> mask, weights), and the two-network arms' forget rate and ramp."""

    kind: str
    tensors: Tensors
    recipe: Recipe
    prep: object
    progress: bool
    sets: dict
    forget: float
    ramp: int


def train_arm(arm, ctx: ArmContext) -> dict:
    """``arm`` (``simulations.training.arms.Arm``) trained by the runner it names."""
    module, _, name = arm.runner.partition(":")
    return getattr(importlib.import_module(module), name)(arm, ctx)


def on_selection(arm, ctx: ArmContext) -> dict:
    """The runner of a single-network arm: ``stage2_arm`` on its set of ``ctx.sets``, with
    the clean labels where the arm says so."""
    mask, weights = ctx.sets[arm.name]
    labels = ctx.prep.clean if arm.labels == "clean" else None
    return stage2_arm(
        ctx.kind,
        ctx.tensors,
        mask,
        weights,
        ctx.recipe,
        ctx.prep.seeds[arm.seed],
        ctx.prep,
        ctx.progress,
        arm.name,
        labels=labels,
    )
