"""Two networks trained together on one noisy training set, each batch's small-loss share
chosen as they go: Co-teaching (Han et al. 2018), each network stepping on its peer's
small-loss share, and JoCoR (Wei et al. 2020), both stepping on the share of smallest joint
loss. ``simulations.training.stages`` runs them as stage-2 arms beside the single-network
ones. Neither reads anything back to the host inside the batch loop: what an epoch kept is
gathered on the device and copied once, after the epoch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from simulations.training.loop import (
    Fit,
    Recipe,
    _cosine,
    _optimizer,
    accuracy_summary,
    fresh_model,
    score_epoch,
)

# JoCoR's code, default co_lambda for CIFAR-10 (its README: 0.9 at symmetric 20% and 50% and
# asymmetric 40% noise; 0.65 at 80%, 0.85 on CIFAR-100); its argparse default, 0.1, is not
# the value of any of its reported runs
JOCOR_LAMBDA = 0.9


def _summary(f: Fit, prep, idx: np.ndarray, labels: np.ndarray | None = None) -> dict:
    labels = prep.noisy if labels is None else labels
    known = (prep.clean[idx] >= 0).all()  # a data set's own noisy labels may lack clean ones
    precision = float((prep.clean[idx] == labels[idx]).mean()) if idx.size else 0.0
    return {
        **accuracy_summary(f),
        "train_size": int(idx.size),
        "train_precision": precision if known else None,
    }


def forget_schedule(forget_rate: float, ramp: int, epochs: int) -> np.ndarray:
    """Co-teaching's ``R(t)``: the share of each batch dropped in each epoch, rising linearly
    from 0 (epoch 0) to ``forget_rate`` (epoch ``ramp - 1``), then held.

    Parameters
    ----------
    forget_rate : float
        The share dropped once the ramp is over, in [0, 1].
    ramp : int
        Epochs over which the rate rises; 0 holds ``forget_rate`` from the first epoch.
    epochs : int
        Epochs of training.

    Returns
    -------
    numpy.ndarray
        ``(epochs,)`` float64 forget rates.
    """
    rates = np.full(epochs, forget_rate)
    rates[:ramp] = np.linspace(0.0, forget_rate, ramp)[:epochs]
    return rates


def small_loss(loss: torch.Tensor, rate: float) -> torch.Tensor:
    """The positions of a batch's ``max(1, int((1 - rate) * b))`` smallest losses.

    Parameters
    ----------
    loss : torch.Tensor
        ``(b,)`` float32 per-sample losses (not differentiated through).
    rate : float
        The share to drop, in [0, 1].

    Returns
    -------
    torch.Tensor
        int64 positions into ``loss``, smallest loss first, on its device.
    """
    keep = max(1, int((1.0 - rate) * loss.numel()))
    return torch.argsort(loss.detach())[:keep]


def jocor_loss(
    logits1: torch.Tensor, logits2: torch.Tensor, y: torch.Tensor, co_lambda: float
) -> torch.Tensor:
    """JoCoR's joint loss of each sample: ``(1 - lambda) (CE_1 + CE_2) + lambda (KL(p1 || p2)
    + KL(p2 || p1))``, ``p_k`` network k's softmax; the gradient flows into both networks
    through every term, the KL terms' targets included (as in the authors' code).

    Parameters
    ----------
    logits1, logits2 : torch.Tensor
        ``(b, c)`` float32 logits of the two networks on one batch.
    y : torch.Tensor
        ``(b,)`` int64 (noisy) labels.
    co_lambda : float
        The weight of the co-regularisation, in [0, 1].

    Returns
    -------
    torch.Tensor
        ``(b,)`` float32 joint losses.
    """
    ce = F.cross_entropy(logits1, y, reduction="none") + F.cross_entropy(
        logits2, y, reduction="none"
    )
    log1, log2 = F.log_softmax(logits1, dim=1), F.log_softmax(logits2, dim=1)
    # kl_div(input, target) is KL(target || input): target * (log target - input)
    kl = F.kl_div(log2, log1, reduction="none", log_target=True).sum(1) + F.kl_div(
        log1, log2, reduction="none", log_target=True
    ).sum(1)
    return (1.0 - co_lambda) * ce + co_lambda * kl


def coteaching(
    kind: str,
    t,
    recipe: Recipe,
    seed: int,
    forget_rate: float,
    ramp: int,
    prep,
    progress: bool,
    desc: str = "two networks",
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
    prep : simulations.training.prepare.Prepared
        The prepared split: its clean labels score what the first network stepped on.
    progress : bool
        Show a progress bar, labelled ``desc``.

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
    rates = forget_schedule(forget_rate, ramp, epochs)
    gen = torch.Generator().manual_seed(seed)
    out = Fit()
    for epoch in tqdm(range(epochs), disable=not progress, desc=desc, leave=False):
        kept = torch.zeros(n, dtype=torch.bool, device=device)  # what the first one stepped on
        for net in nets:
            net.train()
        order = torch.randperm(n, generator=gen).to(device)
        for k in range(0, n, recipe.batch):
            idx = order[k : k + recipe.batch]
            x, y = t.X_train[idx], t.y_train[idx]
            losses = [F.cross_entropy(net(x), y, reduction="none") for net in nets]
            small = [small_loss(loss, rates[epoch]) for loss in losses]
            for me, peer in ((0, 1), (1, 0)):
                step = losses[me][small[peer]].mean()  # my loss on my peer's small-loss share
                opts[me].zero_grad(set_to_none=True)
                step.backward()
                opts[me].step()
                scheds[me].step()
            kept[idx[small[1]]] = True
        score_epoch(out, nets[0], t.val, t.test, last=epoch == epochs - 1)
    kept = kept.cpu().numpy()
    return {**_summary(out, prep, np.flatnonzero(kept)), "forget_rate": float(forget_rate)}


def jocor(
    kind: str,
    t,
    recipe: Recipe,
    seed: int,
    forget_rate: float,
    ramp: int,
    prep,
    progress: bool,
    co_lambda: float = JOCOR_LAMBDA,
    desc: str = "two networks, joint loss",
) -> dict:
    """JoCoR (Wei et al. 2020): two networks trained jointly; in every batch both step, by
    one optimiser over both networks' parameters, on the mean joint loss (``jocor_loss``) of
    the ``1 - R(t)`` share of smallest joint loss. ``R`` rises linearly from 0 to
    ``forget_rate`` over the first ``ramp`` epochs (Co-teaching's schedule). Accuracies are
    the first network's.

    Parameters
    ----------
    kind : str
        The model, as ``simulations.training.models.build_model`` takes it.
    t : simulations.training.stages.Tensors
        The noisy training set both networks see, batch by batch, and the evaluation splits
        the first one is scored on.
    recipe : Recipe
        Epochs, batch and optimiser (one SGD over both networks, cosine schedule).
    seed : int
        Seeds the batch order; network k's weights are seeded ``seed + k``.
    forget_rate : float
        The share of each batch dropped once the ramp is over, in [0, 1].
    ramp : int
        Epochs over which the forget rate rises from 0.
    prep : simulations.training.prepare.Prepared
        The prepared split: its clean labels score what the networks stepped on.
    progress : bool
        Show a progress bar, labelled ``desc``.
    co_lambda : float
        The co-regularisation's weight, in [0, 1]; ``JOCOR_LAMBDA`` by default.

    Returns
    -------
    dict
        As ``stage2_arm`` (the training set is what the networks stepped on in the last epoch),
        and ``forget_rate`` (float).
    """
    device = t.X_train.device
    nets = [fresh_model(kind, t.shape, t.classes, seed + k, device) for k in range(2)]
    pair = nn.ModuleList(nets)
    epochs = recipe.epochs
    n = t.X_train.shape[0]
    opt = _optimizer(pair, recipe)
    sched = _cosine(opt, epochs * math.ceil(n / recipe.batch))
    rates = forget_schedule(forget_rate, ramp, epochs)
    gen = torch.Generator().manual_seed(seed)
    out = Fit()
    for epoch in tqdm(range(epochs), disable=not progress, desc=desc, leave=False):
        kept = torch.zeros(n, dtype=torch.bool, device=device)  # what both stepped on
        pair.train()
        order = torch.randperm(n, generator=gen).to(device)
        for k in range(0, n, recipe.batch):
            idx = order[k : k + recipe.batch]
            x, y = t.X_train[idx], t.y_train[idx]
            loss = jocor_loss(nets[0](x), nets[1](x), y, co_lambda)
            small = small_loss(loss, rates[epoch])
            opt.zero_grad(set_to_none=True)
            loss[small].mean().backward()
            opt.step()
            sched.step()
            kept[idx[small]] = True
        score_epoch(out, nets[0], t.val, t.test, last=epoch == epochs - 1)
    kept = kept.cpu().numpy()
    return {**_summary(out, prep, np.flatnonzero(kept)), "forget_rate": float(forget_rate)}


def coteaching_arm(arm, ctx) -> dict:
    """The stage-2 runner of Co-teaching (``simulations.training.arms``)."""
    return coteaching(
        ctx.kind,
        ctx.tensors,
        ctx.recipe,
        ctx.prep.seeds[arm.seed],
        ctx.forget,
        ctx.ramp,
        ctx.prep,
        ctx.progress,
        desc=arm.name,
    )


def jocor_arm(arm, ctx) -> dict:
    """The stage-2 runner of JoCoR (``simulations.training.arms``)."""
    return jocor(
        ctx.kind,
        ctx.tensors,
        ctx.recipe,
        ctx.prep.seeds[arm.seed],
        ctx.forget,
        ctx.ramp,
        ctx.prep,
        ctx.progress,
        desc=arm.name,
    )
