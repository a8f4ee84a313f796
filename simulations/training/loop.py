"""The torch trainer: the data set as tensors on the device, batches from shuffled indices,
``reduction='none'`` losses, every training sample's loss recorded after every epoch.

The training stages of ``simulations.pipeline`` live here, so that the pipeline's other
stages (numpy only) import without torch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from theory.errors import InputError

RECORD_BATCH = 4096


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but CUDA is not available here")
    if name not in ("cpu", "cuda"):
        raise InputError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


# --- models ----------------------------------------------------------------------------------


def mlp(inputs: int, classes: int, hidden: int = 256) -> nn.Module:
    """Two hidden layers; images are flattened first."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(inputs, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, classes),
    )


def conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


def small_cnn(channels: int, classes: int, width: int = 32) -> nn.Module:
    return nn.Sequential(
        conv_bn(channels, width),
        nn.MaxPool2d(2),
        conv_bn(width, 2 * width),
        nn.MaxPool2d(2),
        conv_bn(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, classes),
    )


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))


def resnet(channels: int, classes: int, width: int = 32) -> nn.Module:
    """A ResNet-14-style network (three stages of two blocks) for CIFAR-10 on a GPU."""
    w = [width, 2 * width, 4 * width]
    layers = [conv_bn(channels, w[0])]
    cin = w[0]
    for k, cout in enumerate(w):
        layers += [_Block(cin, cout, 1 if k == 0 else 2), _Block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def build_model(kind: str, shape: tuple, classes: int) -> nn.Module:
    image = len(shape) == 3
    if kind == "auto":
        kind = "cnn" if image else "mlp"
    if kind == "mlp":
        return mlp(int(np.prod(shape)), classes)
    if not image:
        raise InputError(f"model {kind!r} needs image data; this data set has vectors")
    if kind == "cnn":
        return small_cnn(shape[0], classes)
    if kind == "resnet":
        return resnet(shape[0], classes)
    raise InputError(f"unknown model {kind!r}; choose auto, mlp, cnn or resnet")


# --- the loop --------------------------------------------------------------------------------


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
) -> Fit:
    """Train by SGD on (X, y), optionally sample-weighted, recording every training sample's
    loss each epoch (``record``) and the accuracy on ``val`` and ``test`` after it.

    ``record="pass"`` keeps the loss the training pass computed for each sample's batch (the
    loss Co-teaching ranks: free, in train mode, from the weights of that moment of the epoch);
    ``"eval"`` predicts every sample again after the epoch in eval mode (an extra forward
    pass over the training set, as RSL's authors record it)."""
    device = X.device
    n = X.shape[0]
    c = model[-1].out_features
    gen = torch.Generator().manual_seed(seed)
    opt = _optimizer(model, recipe)
    sched = _cosine(opt, recipe.epochs * math.ceil(n / recipe.batch))
    w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
    out = Fit()
    keep_outputs = keep_outputs and record is not None
    if record is not None:
        out.losses = np.empty((n, recipe.epochs), dtype=np.float32)
        if keep_outputs:
            out.outputs = np.empty((n, recipe.epochs, c), dtype=np.float32)
    in_pass = record == "pass"
    if in_pass:
        losses = torch.empty(n, device=device)
        logits_all = torch.empty((n, c), device=device) if keep_outputs else None
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
                losses[idx] = loss.detach()
                if keep_outputs:
                    logits_all[idx] = logits.detach()
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
            losses = F.cross_entropy(logits_all, y, reduction="none")
        if record is not None:
            out.losses[:, epoch] = losses.cpu().numpy()
            if keep_outputs:
                out.outputs[:, epoch] = logits_all.cpu().numpy()
        _sync(device)
        t2 = time.perf_counter()
        out.epoch_s.append(t1 - t0)
        out.record_s.append(t2 - t1 + storing)
        if val is not None:
            logits = predict(model, val[0])
            out.val_outputs[:, epoch] = logits.cpu().numpy()
            out.val_acc.append(float((logits.argmax(1) == val[1]).float().mean()))
        if test is not None:
            out.test_acc.append(_accuracy(model, test))
        out.eval_s.append(time.perf_counter() - t2)
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def fresh_model(
    kind: str, shape: tuple, classes: int, seed: int, device: torch.device
) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(kind, shape, classes).to(device)


def accuracy_summary(f: Fit) -> dict:
    """Test accuracy at the epoch with the best clean-validation accuracy, and at the last epoch."""
    best = int(np.argmax(f.val_acc)) if f.val_acc else len(f.test_acc) - 1
    return {"best_val": f.test_acc[best], "best_epoch": best, "last": f.test_acc[-1]}


# --- the training stages of the pipeline ---------------------------------------------------


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


def stage1(kind: str, t: Tensors, recipe: Recipe, record: str, seed: int, keep_outputs: bool,
           progress: bool) -> tuple[Fit, nn.Module]:  # fmt: skip
    """Cross-entropy on all noisy labels, every training sample's loss recorded each epoch."""
    model = fresh_model(kind, t.shape, t.classes, seed, t.X_train.device)
    fit1 = fit(model, t.X_train, t.y_train, recipe, seed=seed, record=record, val=t.val,
               test=t.test, keep_outputs=keep_outputs, progress=progress,
               desc="stage 1")  # fmt: skip
    return fit1, model


def clean_trained_softmax(kind: str, t: Tensors, clean: np.ndarray, recipe: Recipe,
                          record: str, seed: int,
                          progress: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A network trained on the clean labels: every training sample's softmax at the last
    epoch, and averaged over the epochs (the instance-noise recipes' inputs)."""
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


def out_of_fold_probs(kind: str, t: Tensors, folds: int, recipe: Recipe, seed: int,
                      progress: bool) -> np.ndarray:  # fmt: skip
    """Each training sample's predicted probabilities from the one of ``folds`` models (trained
    as stage 1, on the other folds' noisy labels) that did not see it: cleanlab's input."""
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
        fit(model, t.X_train[train], t.y_train[train], recipe, seed=seed + k,
            progress=progress, desc=f"fold {k + 1}/{folds}")  # fmt: skip
        probs[held] = torch.softmax(predict(model, t.X_train[held]), dim=1).cpu().numpy()
    return probs


def _summary(f: Fit, prep, idx: np.ndarray, labels: np.ndarray | None = None) -> dict:
    labels = prep.noisy if labels is None else labels
    return {
        **accuracy_summary(f),
        "train_size": int(idx.size),
        "train_precision": float((prep.clean[idx] == labels[idx]).mean()) if idx.size else 0.0,
    }


def stage2_arm(kind: str, t: Tensors, mask: np.ndarray, weights: np.ndarray | None,
               recipe: Recipe, seed: int, prep, progress: bool, name: str,
               labels: np.ndarray | None = None) -> dict:  # fmt: skip
    """A fresh network trained on the samples of ``mask`` (optionally weighted) with their
    noisy labels (or ``labels``); its test accuracy at the last and at the best
    clean-validation epoch."""
    idx = np.flatnonzero(mask)
    model = fresh_model(kind, t.shape, t.classes, seed, t.X_train.device)
    w = None if weights is None else weights[idx]
    y = t.y_train if labels is None else torch.as_tensor(labels, device=t.X_train.device)
    f = fit(model, t.X_train[idx], y[idx], recipe, seed=seed, weights=w, val=t.val, test=t.test,
            progress=progress, desc=name)  # fmt: skip
    return _summary(f, prep, idx, labels)


def coteaching(kind: str, t: Tensors, recipe: Recipe, seed: int, forget_rate: float, ramp: int,
               prep, progress: bool) -> dict:  # fmt: skip
    """Co-teaching (Han et al. 2018): two networks; in every batch each keeps its
    ``1 - R(t)`` smallest-loss share and its peer steps on that share. ``R`` rises linearly from
    0 to ``forget_rate`` over the first ``ramp`` epochs. Accuracies are the first network's."""
    device = t.X_train.device
    nets = [fresh_model(kind, t.shape, t.classes, seed + k, device) for k in range(2)]
    epochs = recipe.epochs
    n = t.X_train.shape[0]
    steps = epochs * math.ceil(n / recipe.batch)
    opts = [_optimizer(net, recipe) for net in nets]
    scheds = [_cosine(opt, steps) for opt in opts]
    rates = np.full(epochs, forget_rate)
    rates[:ramp] = np.linspace(0.0, forget_rate, ramp)
    gen = torch.Generator().manual_seed(seed)
    out = Fit()
    for epoch in tqdm(range(epochs), disable=not progress, desc="coteaching", leave=False):
        kept = np.zeros(n, dtype=bool)  # what the first network stepped on this epoch
        for net in nets:
            net.train()
        order = torch.randperm(n, generator=gen).to(device)
        for k in range(0, n, recipe.batch):
            idx = order[k : k + recipe.batch]
            x, y = t.X_train[idx], t.y_train[idx]
            losses = [F.cross_entropy(net(x), y, reduction="none") for net in nets]
            keep = max(1, int((1.0 - rates[epoch]) * idx.numel()))
            small = [torch.argsort(loss.detach())[:keep] for loss in losses]
            for me, peer in ((0, 1), (1, 0)):
                step = losses[me][small[peer]].mean()  # my loss on my peer's small-loss share
                opts[me].zero_grad(set_to_none=True)
                step.backward()
                opts[me].step()
                scheds[me].step()
            kept[idx[small[1]].cpu().numpy()] = True
        out.val_acc.append(_accuracy(nets[0], t.val))
        out.test_acc.append(_accuracy(nets[0], t.test))
    return {**_summary(out, prep, np.flatnonzero(kept)), "forget_rate": float(forget_rate)}


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    # foreach: one fused update for all parameters (the default on CUDA); same values on CPU
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           nesterov=True, weight_decay=recipe.weight_decay,
                           foreach=True)  # fmt: skip


def _cosine(opt: torch.optim.Optimizer, steps: int):
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )


def _accuracy(model: nn.Module, split: tuple[torch.Tensor, torch.Tensor]) -> float:
    return float((predict(model, split[0]).argmax(1) == split[1]).float().mean())
