"""Figure 13: the paper's claims C6, C7, C8 and C10 on full Fashion-MNIST with the default CPU
recipe (committed sweeps train_fashion and train_fashion_fraction)."""

from __future__ import annotations

import numpy as np

from simulations.figures._common import (
    COMPARED_ARMS,
    SELECTIONS,
    bars,
    committed_sweep,
    figure,
    paired,
    summary_row,
)
from simulations.selection.registry import LOSS_CRITERIA, ON_PROBABILITIES, REGISTRY
from simulations.training.arms import BY_NAME, REFERENCE

NAME = "fashion"
CAPTION = (
    "Fashion-MNIST (54,000 training images, MLP, 30 epochs, CPU): precision of the kept set "
    "per criterion and loss (C6, C7), clean test accuracy per stage-2 arm (C10), and precision "
    "against the share of training data (C8, pairwise 40%); mean and 95% interval over 3 seeds. "
    "C10 reads every arm at the same model selection: its last epoch, then its best "
    "clean-validation epoch."
)
SELECTIONS_OF_CRITERIA = tuple((c, v) for c in LOSS_CRITERIA for v in ("single_epoch", "mean_loss"))
PROBABILITY = ON_PROBABILITIES
# the per-class criteria, each at the loss it is read at (per-class: one epoch; RSL: the mean)
PER_CLASS_AT_HEADLINE = tuple(
    (c, "mean_loss" if REGISTRY[c].headline == "mean" else "single_epoch")
    for c in LOSS_CRITERIA
    if REGISTRY[c].per_class
)


def _setting(r) -> str:
    return r["setting_noise"] + ("" if r.get("setting_rate") is None else f" {r['setting_rate']:g}")


def compute(quick: bool, seed: int) -> list[dict]:
    """Reads the committed sweeps (``quick`` and ``seed`` do not apply: the runs are done)."""
    runs = committed_sweep("train_fashion")
    rows = []
    for setting in sorted({_setting(r) for r in runs}):
        cell = [r for r in runs if _setting(r) == setting]
        for c, v in SELECTIONS_OF_CRITERIA:
            rows.append(
                summary_row(
                    "precision",
                    setting,
                    f"{c}_{v}",
                    [r[f"{c}_observed_precision_{v}"] for r in cell],
                )
            )
        for c in PROBABILITY:
            rows.append(
                summary_row("precision", setting, c, [r[f"{c}_observed_precision"] for r in cell])
            )
        arms = [a for a in COMPARED_ARMS if f"test_{a}_last" in cell[0]]  # the sweep's arms
        for arm in arms:
            for when in SELECTIONS:
                rows.append(
                    summary_row(
                        "test_accuracy",
                        setting,
                        f"{arm}_{when}",
                        [r[f"test_{arm}_{when}"] for r in cell],
                    )
                )
                if arm != REFERENCE:  # RSL's lead, seed by seed, at the same selection
                    diff = paired(
                        [r[f"test_{REFERENCE}_{when}"] for r in cell],
                        [r[f"test_{arm}_{when}"] for r in cell],
                    )
                    rows.append(summary_row("rsl_minus", setting, f"{arm}_{when}", diff["seeds"]))
        rows.append(summary_row("seconds", setting, "run", [r["seconds"] for r in cell]))
    full = [r for r in runs if _setting(r) == "pairwise 0.4"]
    by_fraction = committed_sweep("train_fashion_fraction")
    for fraction in sorted({r["setting_train_fraction"] for r in by_fraction}) + [1.0]:
        cell = (
            full
            if fraction == 1.0
            else [r for r in by_fraction if r["setting_train_fraction"] == fraction]
        )
        for c, v in PER_CLASS_AT_HEADLINE:
            rows.append(
                summary_row(
                    "fraction",
                    "pairwise 0.4",
                    f"{c}_{v}",
                    [r[f"{c}_observed_precision_{v}"] for r in cell],
                    fraction=fraction,
                    n_train=cell[0]["n_train"],
                )
            )
    return rows


def draw(t):
    fig, axes = figure(1, 4, size=(4.6, 4.2))
    names = [f"{c}_{v}" for c, v in SELECTIONS_OF_CRITERIA]
    bars(axes[0][0], t, "precision", names, [n.replace("_", " ") for n in names])
    axes[0][0].set(ylabel="precision of the kept set", ylim=(0.6, 1.0), title="C6, C7")
    # every compared arm but RSL's weighted variant
    arms = [a for a in COMPARED_ARMS if BY_NAME[a].family != "reformalised" or a == REFERENCE]
    present = [(a, BY_NAME[a].short) for a in arms if np.any(t["name"] == f"{a}_last")]
    for ax, (when, what) in zip(axes[0][1:3], SELECTIONS.items()):
        bars(
            ax, t, "test_accuracy", [f"{a}_{when}" for a, _ in present], [lab for _, lab in present]
        )
        ax.set(ylabel="clean test accuracy", ylim=(0.6, 0.92), title=f"C10, every arm's {what}")
    ax = axes[0][3]
    for name in ("classwise_single_epoch", "rsl_mean_loss"):
        m = (t["claim"] == "fraction") & (t["name"] == name)
        ax.errorbar(
            t["fraction"][m],
            t["mean"][m],
            yerr=[t["mean"][m] - t["ci_low"][m], t["ci_high"][m] - t["mean"][m]],
            marker="o",
            ms=4,
            label=name.replace("_", " "),
        )
    ax.set(
        xlabel="share of the training split",
        ylabel="precision of the kept set",
        title="C8 (pairwise 40%)",
    )
    for a in axes[0][:3]:  # below the bars, which fill the panels
        a.legend(fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    ax.legend(fontsize=7, frameon=False)
    fig.subplots_adjust(wspace=0.3)
    return fig
