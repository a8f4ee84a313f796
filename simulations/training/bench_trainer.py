"""The trainer's timings for `smallloss bench`: the epoch against a DataLoader loop and
against a plain hand-written PyTorch epoch, the cost of loss recording, and a whole digits run
(``simulations.experiments.bench`` reports them)."""

from __future__ import annotations

import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from simulations.training import data
from simulations.training.config import TrainConfig, resolve_recipe
from simulations.training.loop import Recipe, fit, fresh_model
from simulations.training.run import run_training
from theory import noise


class _ArrayDataset:
    """The common map-style Dataset: one numpy row and label per index, collated by the loader."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, k):
        return self.X[k], self.y[k]


def fit_with_dataloader(
    model, X, y, epochs: int, batch: int, seed: int, numpy_rows: bool = False
) -> list[float]:
    """The same loop as ``simulations.training.loop.fit`` fed by a shuffling DataLoader: the
    baseline of the trainer.

    ``numpy_rows``: the loader indexes numpy arrays sample by sample (the common pattern)
    instead of a TensorDataset (its best case).

    Parameters
    ----------
    model : torch.nn.Module
        The network, trained in place.
    X : torch.Tensor
        ``(n, *shape)`` float32 inputs on the CPU.
    y : torch.Tensor
        ``(n,)`` int64 labels on the CPU.
    epochs, batch, seed : int
        Epochs, batch size, and the seed of the loader's shuffling.
    numpy_rows : bool
        Index numpy arrays row by row instead of a TensorDataset.

    Returns
    -------
    list of float
        Each epoch's seconds.
    """
    dataset = _ArrayDataset(X.numpy(), y.numpy()) if numpy_rows else TensorDataset(X, y)
    loader = DataLoader(
        dataset, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    opt = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        model.train()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t)
    return times


def plain_epochs(model, X, y, epochs: int, batch: int, seed: int) -> list[float]:
    """Epochs of the loop anyone writes first, on tensors already in memory: shuffled index
    slices, mean cross-entropy, the trainer's SGD; no schedule, no recording, no evaluation.
    The floor the trainer's epoch is measured against.

    Returns
    -------
    list of float
        Each epoch's seconds.
    """
    opt = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, foreach=True
    )
    gen = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        model.train()
        order = torch.randperm(len(y), generator=gen)
        for k in range(0, len(y), batch):
            idx = order[k : k + batch]
            loss = F.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t)
    return times


def bench_plain_loop(seed: int = 0, epochs: int = 8, n: int = 10_000) -> dict:
    """The trainer's epoch (``loop.fit``: cosine schedule, every sample's loss recorded in the
    pass) against ``plain_epochs`` on the same model, data and batch, measured in one run:
    digits' MLP, and the default CPU model on ``n`` Fashion-MNIST-shaped images.

    Returns
    -------
    dict
        Per workload (``digits``, ``images``): the median epoch of each (the first left out)
        and ``ratio``, the trainer's over the plain loop's (1.0: no overhead).
    """
    cpu = torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    ds = data.load_digits()
    shape = (1, 28, 28)
    images = (torch.randn((n, *shape), generator=gen), torch.randint(0, 10, (n,), generator=gen))
    model, batch = resolve_recipe("auto", None, shape, n, "cpu")
    work = {
        "digits": ("mlp", (64,), torch.as_tensor(ds.X), torch.as_tensor(ds.y), 32),
        "images": (model, shape, *images, batch),
    }
    out = {}
    for name, (kind, shp, X, y, b) in work.items():
        ours = fit(
            fresh_model(kind, shp, 10, seed, cpu),
            X,
            y,
            Recipe(epochs=epochs, batch=b),
            seed=seed,
            record="pass",
        )
        plain = plain_epochs(fresh_model(kind, shp, 10, seed, cpu), X, y, epochs, b, seed)
        mine, base = float(np.median(ours.epoch_s[1:])), float(np.median(plain[1:]))
        out[name] = {
            "model": kind,
            "batch": b,
            "n": int(len(y)),
            "epoch_s": mine,
            "plain_epoch_s": base,
            "ratio": mine / base,
        }
    out["torch_threads"] = torch.get_num_threads()
    return out


def bench_trainer(seed: int = 0) -> dict:
    """Digits on the CPU: epoch time against a DataLoader loop, loss recording against the epoch,
    and the whole run (stage 1, selection, the default stage-2 arms).

    Parameters
    ----------
    seed : int
        Seeds the networks, the batch order and the whole run.

    Returns
    -------
    dict
        Median seconds of an epoch (ours, the DataLoader's over a TensorDataset and over numpy
        rows), their ratios, the recording's seconds and share of an epoch, the whole digits
        run's seconds, torch's thread count, and ``plain_loop`` (``bench_plain_loop``).
    """
    ds = data.load_digits()
    X, y = torch.as_tensor(ds.X), torch.as_tensor(ds.y)
    recipe = Recipe(epochs=8)
    ours = fit(
        fresh_model("mlp", (64,), 10, seed, torch.device("cpu")),
        X,
        y,
        recipe,
        seed=seed,
        record="pass",
    )
    base = fit_with_dataloader(
        fresh_model("mlp", (64,), 10, seed, torch.device("cpu")), X, y, 8, recipe.batch, seed
    )
    rows = fit_with_dataloader(
        fresh_model("mlp", (64,), 10, seed, torch.device("cpu")),
        X,
        y,
        8,
        recipe.batch,
        seed,
        numpy_rows=True,
    )
    epoch, record, loader = (
        np.median(ours.epoch_s[1:]),
        np.median(ours.record_s[1:]),
        np.median(base[1:]),
    )
    loader_rows = np.median(rows[1:])
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        run_training(
            TrainConfig(
                T=noise.pairwise(0.4, 10),
                epochs=30,
                out=out,
                seed=seed,
                progress=False,
                device="cpu",
            )
        )
        whole = time.perf_counter() - t
    return {
        "epoch_s": float(epoch),
        "dataloader_epoch_s": float(loader),
        "epoch_ratio": float(loader / epoch),
        "dataloader_numpy_epoch_s": float(loader_rows),
        "epoch_ratio_numpy": float(loader_rows / epoch),
        "record_s": float(record),
        "record_share_of_epoch": float(record / epoch),
        "digits_run_s": whole,
        "torch_threads": torch.get_num_threads(),
        "plain_loop": bench_plain_loop(seed),
    }


def bench_large_images(n: int = 54_000, epochs: int = 3, seed: int = 0) -> dict:
    """The default CPU model on Fashion-MNIST-shaped data (n noise images of 1 x 28 x 28, as
    many as the full set's training split): epoch time, samples a second and the share of an
    epoch that loss recording takes, in the training pass and, as the baseline, in an eval
    pass after the epoch.

    Parameters
    ----------
    n : int
        Images of random noise, 1 x 28 x 28 float32, with random labels of 10 classes.
    epochs : int
        Epochs of each of the two fits (in-pass and eval-pass recording).
    seed : int
        Seeds the images, the labels, the network and the batch order.

    Returns
    -------
    dict
        The model and batch ``resolve_recipe`` chose, ``n``, the median epoch's seconds,
        samples a second, the recording's share of an epoch in either mode, torch's threads.
    """
    shape = (1, 28, 28)
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn((n, *shape), generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    model, batch = resolve_recipe("auto", None, shape, n, "cpu")
    recipe = Recipe(epochs=epochs, batch=batch)
    fits = {
        mode: fit(
            fresh_model(model, shape, 10, seed, torch.device("cpu")),
            X,
            y,
            recipe,
            seed=seed,
            record=mode,
        )
        for mode in ("pass", "eval")
    }

    def share(f):
        return float(np.median(np.divide(f.record_s, f.epoch_s)))

    epoch = float(np.median(fits["pass"].epoch_s))
    return {
        "model": model,
        "batch": batch,
        "n": n,
        "epoch_s": epoch,
        "samples_per_s": n / epoch,
        "record_share_pass": share(fits["pass"]),
        "record_share_eval": share(fits["eval"]),
        "torch_threads": torch.get_num_threads(),
    }
