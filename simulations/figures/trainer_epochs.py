"""Figure 6: the trainer on digits, epoch by epoch: precision of each criterion with the
single-epoch loss and with the mean loss so far; each (clean, noisy) cell's loss beside its atom."""

from __future__ import annotations

import tempfile

import numpy as np

from simulations import intervals
from simulations.figures._common import RECORD, figure
from simulations.selection.registry import COLORS, LABELS, REGISTRY
from simulations.selection.registry import CRITERIA as ALL_CRITERIA
from simulations.training.config import TrainConfig
from simulations.training.run import run_training
from theory import noise

NAME = "trainer_epochs"
CAPTION = (
    "Digits, pairwise 40%, 3 seeds: precision of each loss criterion on one epoch's loss and on "
    "the mean loss so far (claim C7), mean and 95% interval over seeds; right, the first seed's "
    "cell losses beside the atoms -log T_ij."
)
SEEDS = 3
# the criteria that rank each epoch's losses
CRITERIA = tuple(c for c in ALL_CRITERIA if REGISTRY[c].needs == "losses")


def compute(quick: bool, seed: int) -> list[dict]:
    runs = []
    for s in range(seed, seed + (2 if quick else SEEDS)):
        with tempfile.TemporaryDirectory() as out:
            cfg = TrainConfig(
                bootstrap=0,  # point values only: no per-run resampling
                T=noise.pairwise(0.4, 10),
                cv=0,  # the loss criteria only
                epochs=12 if quick else 40,
                out=out,
                seed=s,
                progress=False,
                stage2=False,
                device="cpu",
                record=RECORD,
            )
            runs.append((s, run_training(cfg)))
    rows = []
    for s, r in runs:
        for e in r["per_epoch"]:
            for c in CRITERIA:
                for variant in ("single", "mean"):
                    rows.append(
                        {
                            "panel": "precision",
                            "seed": s,
                            "epoch": e["epoch"] + 1,
                            "criterion": c,
                            "variant": variant,
                            "precision": e.get(f"{c}_{variant}"),
                        }
                    )
    r = runs[0][1]
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
            epochs = np.unique(t["epoch"][m])
            stats = [intervals.summary(t["precision"][m & (t["epoch"] == e)]) for e in epochs]
            mean = np.array([s["mean"] for s in stats])
            low = np.array([s["ci_low"] if s["ci_low"] is not None else s["mean"] for s in stats])
            high = np.array(
                [s["ci_high"] if s["ci_high"] is not None else s["mean"] for s in stats]
            )
            ax.plot(
                epochs,
                mean,
                style,
                color=COLORS[c],
                lw=1.3,
                label=LABELS[c] if variant == "single" else None,
            )
            # a precision lives in [0, 1]: the interval is cut there
            ax.fill_between(
                epochs, np.clip(low, 0, 1), np.clip(high, 0, 1), color=COLORS[c], alpha=0.12, lw=0
            )
    ax.plot([], [], "k-", label="single-epoch loss")
    ax.plot([], [], "k--", label="mean loss so far")
    ax.set(xlabel="epoch", ylabel="precision of the kept set", ylim=(0.4, 1.0))
    ax.legend(fontsize=7, frameon=False)
    seeds = len(np.unique(t["seed"][t["panel"] == "precision"]))
    ax.set_title(f"selection precision, {seeds} seeds (95% bands)")
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
