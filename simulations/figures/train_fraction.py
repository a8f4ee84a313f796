"""Figure 7: precision of the selected data against the share of the training data (claim C8)."""

from __future__ import annotations

import numpy as np

from simulations.figures._common import RECORD, figure, sweep_rows
from simulations.selection.registry import COLORS, LABELS, LOSS_CRITERIA, REGISTRY, RSL

NAME = "train_fraction"
CAPTION = (
    "Claim C8 on digits (symmetric 40%): precision of the kept set against the share of training "
    "data, beside the paper's CIFAR-10 figures (0.908 to 0.955)."
)
FRACTIONS = [0.25, 0.5, 0.75, 1.0]
PAPER = [0.908, 0.937, 0.949, 0.955]
# each loss criterion at the variant it is read at, RSL first (the paper's curve)
CRITERIA = {
    n: "mean_loss" if REGISTRY[n].headline == "mean" else "single_epoch"
    for n in reversed(LOSS_CRITERIA)
}


def compute(quick: bool, seed: int) -> list[dict]:
    cfg = {
        "name": "train_fraction",
        "kind": "train",
        "seeds": [seed] if quick else [seed, seed + 1, seed + 2],
        "base": {
            "noise": "symmetric",
            "rate": 0.4,
            "classes": 10,
            "epochs": 10 if quick else 30,
            "stage2": False,
            "record": RECORD,
            "cv": 0,  # the figure shows the loss criteria only
        },
        "grid": [{"train_fraction": FRACTIONS}],
    }
    rows = []
    for r in sweep_rows(cfg):
        for c, variant in CRITERIA.items():
            rows.append(
                {
                    "source": "digits",
                    "fraction": r["setting_train_fraction"],
                    "seed": r["seed"],
                    "criterion": c,
                    "precision": r[f"{c}_observed_precision_{variant}"],
                    "predicted": r[f"{c}_predicted_precision"],
                    "n_train": r["n_train"],
                }
            )
    for f, p in zip(FRACTIONS, PAPER):
        rows.append(
            {"source": "paper_cifar10", "fraction": f, "criterion": RSL.name, "precision": p}
        )
    return rows


def draw(t):
    fig, axes = figure(1, 1, size=(5.6, 4.0))
    ax = axes[0][0]
    d = t["source"] == "digits"
    for c in CRITERIA:
        m = d & (t["criterion"] == c)
        x = np.unique(t["fraction"][m])
        ax.plot(
            t["fraction"][m], t["precision"][m], "o", mfc="none", color=COLORS[c], ms=4, alpha=0.6
        )
        ax.plot(
            x,
            [t["precision"][m][t["fraction"][m] == v].mean() for v in x],
            "-",
            color=COLORS[c],
            label=f"digits: {LABELS[c]}",
        )
        ax.plot(
            x,
            [t["predicted"][m][t["fraction"][m] == v].mean() for v in x],
            ":",
            color=COLORS[c],
            lw=1,
        )
    p = t["source"] == "paper_cifar10"
    ax.plot(t["fraction"][p], t["precision"][p], "k*", ms=9, label="paper, CIFAR-10 (reported)")
    ax.plot([], [], "k:", lw=1, label="predicted from the clean validation split")
    ax.set(
        xlabel="share of the training data",
        ylabel="precision of the kept set",
        xticks=[0.25, 0.5, 0.75, 1.0],
        title="claim C8: more data, cleaner selection?",
    )
    ax.legend(fontsize=7, frameon=False)
    return fig
