"""The torch training loop: the data set as tensors on the device, batches from shuffled
indices, ``reduction='none'`` losses, every training sample's loss recorded after every epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from simulations.training.models import build_model
from simulations.training.recorder import Recorder
from theory.errors import InputError

RECORD_BATCH = 4096


def resolve_device(name: str) -> torch.device:
    """The device ``--device`` names.

    Parameters
    ----------
    name : str
        ``"auto"`` (CUDA when it is available, else the CPU), ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    torch.device
        The device to train on.

    Raises
    ------
    InputError
        For an unknown name, or ``"cuda"`` where CUDA is not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but CUDA is not available here")
    if name not in ("cpu", "cuda"):
        raise InputError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


@dataclass
class Recipe:
    epochs: int = 30
    batch: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4


@dataclass
class Fit:
    losses: np.ndarray | None = None  # (n, epochs) float32, every training sample every epoch
    outputs: np.ndarray | None = None  # (n, epochs, c) float32 logits
    val_outputs: np.ndarray | None = None  # (n_val, epochs, c)
    val_acc: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    epoch_s: list = field(default_factory=list)  # the training pass, in-pass recording included
    record_s: list = field(default_factory=list)  # recording the losses (and outputs)
    eval_s: list = field(default_factory=list)  # validation and test predictions


def predict(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """The logits of ``model`` in eval mode, ``RECORD_BATCH`` samples at a time.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier.
    X : torch.Tensor
        ``(n, *shape)`` float32 inputs on the model's device.

    Returns
    -------
    torch.Tensor
        ``(n, classes)`` float32 logits on the same device.
    """
    model.eval()
    with torch.inference_mode():
        return torch.cat(
            [model(X[k : k + RECORD_BATCH]) for k in range(0, X.shape[0], RECORD_BATCH)]
        )


def fit(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    recipe: Recipe,
    *,
    seed: int,
    weights=None,
    record: str | None = None,
    val: tuple | None = None,
    test: tuple | None = None,
    keep_outputs: bool = True,
    progress: bool = False,
    desc: str = "train",
    test_every: bool = True,
) -> Fit:
    """Train by SGD on (X, y), optionally sample-weighted, recording every training sample's
    loss each epoch (``record``) and the accuracy on ``val`` and ``test`` after it.

    ``record="pass"`` keeps the loss the training pass computed for each sample's batch (the
    loss Co-teaching ranks: free, in train mode, from the weights of that moment of the epoch);
    ``"eval"`` predicts every sample again after the epoch in eval mode (an extra forward
    pass over the training set, as RSL's authors record it).

    Parameters
    ----------
    model : torch.nn.Module
        The network, trained in place; its last layer's ``out_features`` is the class count c.
    X : torch.Tensor
        ``(n, *shape)`` float32 training inputs, on the device to train on.
    y : torch.Tensor
        ``(n,)`` int64 training labels, on the same device.
    recipe : Recipe
        Epochs, batch size and the optimiser's settings (SGD, cosine schedule).
    seed : int
        Seeds the batch order.
    weights : array_like, optional
        ``(n,)`` sample weights; each batch's loss is their weighted mean.
    record : {None, "pass", "eval"}
        Whether and how to record the training samples' losses.
    val, test : tuple of torch.Tensor, optional
        ``(inputs, int64 labels)`` to predict after every epoch.
    keep_outputs : bool
        With ``record``, also keep every training sample's logits.
    progress : bool
        Show a progress bar, labelled ``desc``.
    desc : str
        The progress bar's label.
    test_every : bool
        Score ``test`` after every epoch; else only where ``accuracy_summary`` reads it (see
        ``score_epoch``), None at the other epochs.

    Returns
    -------
    Fit
        ``losses`` ``(n, epochs)`` float32 and ``outputs`` ``(n, epochs, c)`` float32 (when
        recorded), ``val_outputs`` ``(n_val, epochs, c)`` float32 (with ``val``), the
        per-epoch accuracies and timings.
    """
    device = X.device
    n = X.shape[0]
    c = model[-1].out_features
    gen = torch.Generator().manual_seed(seed)
    opt = _optimizer(model, recipe)
    sched = _cosine(opt, recipe.epochs * math.ceil(n / recipe.batch))
    w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
    out = Fit()
    rec = None if record is None else Recorder(n, c, device, logits=keep_outputs)
    in_pass = record == "pass"
    if val is not None:
        out.val_outputs = np.empty((val[0].shape[0], recipe.epochs, c), dtype=np.float32)
    for epoch in tqdm(
        range(recipe.epochs), disable=not progress, desc=desc, unit="epoch", leave=False
    ):
        t0 = time.perf_counter()
        storing = 0.0
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        for k in range(0, n, recipe.batch):
            idx = order[k : k + recipe.batch]
            logits = model(X[idx])
            loss = F.cross_entropy(logits, y[idx], reduction="none")
            if in_pass:
                ts = time.perf_counter()
                rec.update(idx, logits, y[idx], loss)
                storing += time.perf_counter() - ts
            loss = (loss * w[idx]).sum() / w[idx].sum() if w is not None else loss.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        _sync(device)
        t1 = time.perf_counter()
        if record == "eval":
            logits_all = predict(model, X)
            rec.update(
                torch.arange(n, device=device),
                logits_all,
                y,
                F.cross_entropy(logits_all, y, reduction="none"),
            )
        if rec is not None:
            rec.end_epoch()
        _sync(device)
        t2 = time.perf_counter()
        out.epoch_s.append(t1 - t0)
        out.record_s.append(t2 - t1 + storing)
        if val is not None:
            logits = predict(model, val[0])
            out.val_outputs[:, epoch] = logits.cpu().numpy()
            out.val_acc.append(float((logits.argmax(1) == val[1]).float().mean()))
        if test is not None:
            needed = test_every or _needed(out.val_acc, epoch == recipe.epochs - 1)
            out.test_acc.append(_accuracy(model, test) if needed else None)
        out.eval_s.append(time.perf_counter() - t2)
    if rec is not None:
        out.losses, out.outputs = rec.losses, rec.logits
    return out


def _needed(val_acc: list, last: bool) -> bool:
    """Whether ``accuracy_summary`` can read this epoch's test accuracy: the last epoch, or
    one whose validation accuracy beats every earlier epoch's (``argmax`` takes the first)."""
    return last or not val_acc or val_acc[-1] > max(val_acc[:-1], default=-1.0)


def score_epoch(out: Fit, model: nn.Module, val, test, last: bool) -> None:
    """``model``'s validation accuracy after an epoch, and its test accuracy where
    ``accuracy_summary`` can read it (else None): a test pass saved on most epochs."""
    out.val_acc.append(_accuracy(model, val))
    out.test_acc.append(_accuracy(model, test) if _needed(out.val_acc, last) else None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def fresh_model(
    kind: str, shape: tuple, classes: int, seed: int, device: torch.device
) -> nn.Module:
    """``build_model(kind, shape, classes)`` initialised from ``seed``, on ``device``.

    Parameters
    ----------
    kind, shape, classes
        As ``simulations.training.models.build_model`` takes them.
    seed : int
        Seeds torch's global generator before the weights are drawn.
    device : torch.device
        Where the network goes.

    Returns
    -------
    torch.nn.Module
        The initialised network on ``device``.
    """
    torch.manual_seed(seed)
    return build_model(kind, shape, classes).to(device)


def accuracy_summary(f: Fit) -> dict:
    """Test accuracy at the epoch with the best clean-validation accuracy, and at the last epoch.

    Parameters
    ----------
    f : Fit
        A fit with per-epoch ``test_acc`` (and ``val_acc``, where it had a validation split).

    Returns
    -------
    dict
        ``best_val`` (float), ``best_epoch`` (int, the last epoch without ``val_acc``) and
        ``last`` (float).
    """
    best = int(np.argmax(f.val_acc)) if f.val_acc else len(f.test_acc) - 1
    return {"best_val": f.test_acc[best], "best_epoch": best, "last": f.test_acc[-1]}


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    # foreach: one fused update for all parameters (the default on CUDA); same values on CPU
    return torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=True,
        weight_decay=recipe.weight_decay,
        foreach=True,
    )


def _cosine(opt: torch.optim.Optimizer, steps: int):
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )


def _accuracy(model: nn.Module, split: tuple[torch.Tensor, torch.Tensor]) -> float:
    return float((predict(model, split[0]).argmax(1) == split[1]).float().mean())
