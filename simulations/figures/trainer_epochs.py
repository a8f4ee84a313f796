"""Figure 6: the trainer on digits, epoch by epoch: precision of each criterion with the
single-epoch loss and with the mean loss so far; each (clean, noisy) cell's loss beside its atom."""

from __future__ import annotations

import tempfile

import numpy as np

from simulations.criteria import COLORS, LABELS, REGISTRY
from simulations.criteria import CRITERIA as ALL_CRITERIA
from simulations.figures._common import figure
from simulations.pipeline import TrainConfig, run_training
from theory import noise

NAME = "trainer_epochs"
CAPTION = (
    "Digits, pairwise 40%: the network fits the noisy labels epoch by epoch, so single-epoch "
    "precision decays; the mean loss over epochs keeps more of it (claim C7). Losses sit far from "
    "the atoms -log T_ij."
)
# the criteria that rank each epoch's losses
CRITERIA = tuple(c for c in ALL_CRITERIA if REGISTRY[c].ranks == "loss")


def compute(quick: bool, seed: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as out:
        r = run_training(
            TrainConfig(
                T=noise.pairwise(0.4, 10),
                cv=0,  # the figure shows the loss criteria only
                epochs=12 if quick else 40,
                out=out,
                seed=seed,
                progress=False,
                stage2=False,
                device="cpu",
            )
        )
    rows = []
    for e in r["per_epoch"]:
        for c in CRITERIA:
            for variant in ("single", "mean"):
                rows.append(
                    {
                        "panel": "precision",
                        "epoch": e["epoch"] + 1,
                        "criterion": c,
                        "variant": variant,
                        "precision": e.get(f"{c}_{variant}"),
                    }
                )
    for cell in r["cells"]:
        for k, loss in enumerate(cell["mean_loss_by_epoch"]):
            rows.append(
                {
                    "panel": "cells",
                    "epoch": k + 1,
                    "clean": cell["clean"],
                    "noisy": cell["noisy"],
                    "count": cell["count"],
                    "loss": loss,
                    "atom": cell["atom"],
                }
            )
    return rows


def draw(t):
    fig, axes = figure(1, 2, size=(5.0, 3.8))
    ax, cells = axes[0]
    for c in CRITERIA:
        for variant, style in (("single", "-"), ("mean", "--")):
            m = (t["panel"] == "precision") & (t["criterion"] == c) & (t["variant"] == variant)
            ax.plot(
                t["epoch"][m],
                t["precision"][m],
                style,
                color=COLORS[c],
                lw=1.3,
                label=LABELS[c] if variant == "single" else None,
            )
    ax.plot([], [], "k-", label="single-epoch loss")
    ax.plot([], [], "k--", label="mean loss so far")
    ax.set(xlabel="epoch", ylabel="precision of the kept set", title="selection precision")
    ax.legend(fontsize=7, frameon=False)
    m = t["panel"] == "cells"
    for i, j in sorted({(int(a), int(b)) for a, b in zip(t["clean"][m], t["noisy"][m])}):
        k = m & (t["clean"] == i) & (t["noisy"] == j)
        if t["count"][k][0] < 5:
            continue
        cells.plot(
            t["epoch"][k], t["loss"][k], color="#1f77b4" if i == j else "#d62728", lw=0.8, alpha=0.7
        )
    for i_eq_j, color in ((True, "#1f77b4"), (False, "#d62728")):
        atoms = t["atom"][m & ((t["clean"] == t["noisy"]) == i_eq_j)]
        if atoms.size:
            cells.axhline(np.median(atoms), color=color, ls=":", lw=1.5)
    cells.plot([], [], color="#1f77b4", label="clean cells (i = j)")
    cells.plot([], [], color="#d62728", label="noisy cells (i != j)")
    cells.plot([], [], "k:", label="atoms -log T_ij")
    cells.set(
        yscale="log",
        xlabel="epoch",
        ylabel="mean training loss of the cell",
        title="cell losses vs the paper's atoms",
    )
    cells.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
