"""Figure 18: claim C10 where cross-entropy memorises (committed sweep memorise_fashion: 10,000
Fashion-MNIST images, the MLP for 100 epochs, every arm read at its last and its best
clean-validation epoch)."""

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
from simulations.training.arms import BY_NAME, CE, REFERENCE, REGISTRY

NAME = "memorisation"
CAPTION = (
    "Fashion-MNIST where cross-entropy memorises (10,000 training images, MLP, 100 epochs per "
    "network, CPU): clean test accuracy per stage-2 arm at its last epoch and at its best "
    "clean-validation epoch, and RSL's lead over each arm seed by seed at the same model "
    "selection; mean and 95% interval over 3 seeds."
)
# the arms RSL is measured against: those that neither select by RSL nor read clean labels
RIVALS = tuple(a.name for a in REGISTRY if a.family in ("baseline", "two_networks"))
# the third panel: the two-network arms and plain cross-entropy
SHOWN = tuple(a.name for a in REGISTRY if a.family == "two_networks") + (CE,)


def _setting(r) -> str:
    return f"{r['setting_noise']} {r['setting_rate']:g}"


def compute(quick: bool, seed: int) -> list[dict]:
    """Reads the committed sweep (``quick`` and ``seed`` do not apply: the runs are done)."""
    runs = committed_sweep("memorise_fashion")
    rows = []
    for setting in sorted({_setting(r) for r in runs}):
        cell = [r for r in runs if _setting(r) == setting]
        # the regime: how far CE's last epoch ends below its best clean-validation epoch
        gap = paired([r[f"test_{CE}_best_val"] for r in cell], [r[f"test_{CE}_last"] for r in cell])
        rows.append(summary_row("memorised", setting, "ce_best_val_minus_last", gap["seeds"]))
        for arm in (a for a in COMPARED_ARMS if f"test_{a}_last" in cell[0]):
            for when in SELECTIONS:
                values = [r[f"test_{arm}_{when}"] for r in cell]
                rows.append(summary_row("test_accuracy", setting, f"{arm}_{when}", values))
        for arm in RIVALS:
            for when in SELECTIONS:
                diff = paired(
                    [r[f"test_{REFERENCE}_{when}"] for r in cell],
                    [r[f"test_{arm}_{when}"] for r in cell],
                )
                rows.append(summary_row("rsl_minus", setting, f"{arm}_{when}", diff["seeds"]))
    return rows


def draw(t):
    fig, axes = figure(1, 3, size=(4.8, 4.2))
    present = [a for a in COMPARED_ARMS if np.any(t["name"] == f"{a}_last")]
    for ax, (when, what) in zip(axes[0][:2], SELECTIONS.items()):
        bars(
            ax,
            t,
            "test_accuracy",
            [f"{a}_{when}" for a in present],
            [BY_NAME[a].short for a in present],
        )
        ax.set(ylabel="clean test accuracy", ylim=(0.3, 0.9), title=f"every arm's {what}")
    ax = axes[0][2]
    names = [f"{a}_{w}" for a in SHOWN for w in SELECTIONS]
    labels = [f"RSL - {BY_NAME[a].short}, {w.replace('_', ' ')}" for a in SHOWN for w in SELECTIONS]
    bars(ax, t, "rsl_minus", names, labels)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(ylabel="RSL's lead in test accuracy (paired)", title="RSL against each rival")
    for a in axes[0]:
        a.legend(fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    fig.subplots_adjust(wspace=0.3)
    return fig
