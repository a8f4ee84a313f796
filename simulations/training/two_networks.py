"""Two networks trained together on one noisy training set, each batch's small-loss share
chosen as they go: Co-teaching (Han et al. 2018). ``simulations.training.stages`` runs them as
stage-2 arms beside the single-network ones.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from simulations.training.loop import (
    Fit,
    Recipe,
    _accuracy,
    _cosine,
    _optimizer,
    accuracy_summary,
    fresh_model,
)


def _summary(f: Fit, prep, idx: np.ndarray, labels: np.ndarray | None = None) -> dict:
    labels = prep.noisy if labels is None else labels
    return {
        **accuracy_summary(f),
        "train_size": int(idx.size),
        "train_precision": float((prep.clean[idx] == labels[idx]).mean()) if idx.size else 0.0,
    }


def coteaching(
    kind: str,
    t,
    recipe: Recipe,
    seed: int,
    forget_rate: float,
    ramp: int,
    prep,
    progress: bool,
) -> dict:
    """Co-teaching (Han et al. 2018): two networks; in every batch each keeps its
    ``1 - R(t)`` smallest-loss share and its peer steps on that share. ``R`` rises linearly from
    0 to ``forget_rate`` over the first ``ramp`` epochs. Accuracies are the first network's.

    Parameters
    ----------
    kind : str
        The model, as ``simulations.training.models.build_model`` takes it.
    t : simulations.training.stages.Tensors
        The noisy training set both networks see, batch by batch, and the evaluation splits
        the first one is scored on.
    recipe : Recipe
        Epochs, batch and optimiser of both networks.
    seed : int
        Seeds the batch order; network k's weights are seeded ``seed + k``.
    forget_rate : float
        The share of each batch dropped once the ramp is over, in [0, 1].
    ramp : int
        Epochs over which the forget rate rises from 0.
    prep : simulations.training.pipeline.Prepared
        The prepared split: its clean labels score what the first network stepped on.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        As ``stage2_arm`` (the training set is what the first network stepped on in the last
        epoch), and ``forget_rate`` (float).
    """
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
