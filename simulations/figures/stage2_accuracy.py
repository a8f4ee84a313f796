"""Figure 8: stage-2 test accuracy of every arm (claim C10): cross-entropy on all noisy data
(last and best clean-validation epoch), the global selection, RSL's selection unweighted and
weighted, and Co-teaching; mean and 95% interval over seeds, across noise settings on digits."""

from __future__ import annotations

import numpy as np

from simulations import intervals
from simulations.figures._common import RECORD, figure, sweep_rows
from simulations.training.pipeline import ARMS

NAME = "stage2_accuracy"
CAPTION = (
    "Claim C10 on digits: clean test accuracy of each stage-2 arm, mean and 95% interval over "
    "seeds (last epoch; early stopping on the clean validation split for ce_early_stopped)."
)
SETTINGS = [
    ("symmetric", 0.4),
    ("symmetric", 0.6),
    ("pairwise", 0.2),
    ("pairwise", 0.4),
    ("structured", 0.4),
]
STYLE = {
    "ce_all": ("CE, all noisy data", "#7f7f7f"),
    "ce_early_stopped": ("CE, early stopped", "#bcbd22"),
    "global_selected": ("global selection", "#d62728"),
    "rsl_selected": ("RSL", "#2ca02c"),
    "rsl_weighted": ("RSL, weighted", "#98df8a"),
    "coteaching": ("Co-teaching", "#17becf"),
    "ce_clean": ("CE, clean labels (ceiling)", "#1f1f1f"),
}


def compute(quick: bool, seed: int) -> list[dict]:
    grid = [
        {"noise": [n], "rate": [r], **({"classes": [10]} if n != "structured" else {})}
        for n, r in SETTINGS
    ]
    cfg = {
        "name": "stage2",
        "kind": "train",
        "seeds": [seed + k for k in range(2 if quick else 5)],
        # no probability criteria here
        "base": {"epochs": 10 if quick else 30, "cv": 0, "record": RECORD},
        "grid": grid,
    }
    rows = []
    for r in sweep_rows(cfg):
        for arm in ARMS:
            rows.append(
                {
                    "noise": r["setting_noise"],
                    "rate": r["setting_rate"],
                    "seed": r["seed"],
                    "arm": arm,
                    "accuracy": r[f"test_{arm}_last"],
                    "best_val": r[f"test_{arm}_best_val"],
                }
            )
    return rows


def draw(t):
    fig, axes = figure(1, 1, size=(9.0, 4.0))
    ax = axes[0][0]
    x = np.arange(len(SETTINGS))
    arms = [a for a in ARMS if np.any(t["arm"] == a)]  # data from before ce_clean lacks it
    width = 0.8 / len(arms)
    for k, arm in enumerate(arms):
        label, color = STYLE[arm]
        mean, low, high = intervals.band(
            t["accuracy"][(t["noise"] == n) & np.isclose(t["rate"], r) & (t["arm"] == arm)]
            for n, r in SETTINGS
        )
        pos = x + (k - (len(arms) - 1) / 2) * width
        ax.bar(pos, mean, width, color=color, label=label, alpha=0.9)
        ax.errorbar(
            pos, mean, yerr=[mean - low, high - mean], fmt="none", ecolor="k", lw=0.8, capsize=1.5
        )
    seeds = len(np.unique(t["seed"]))
    ax.set_xticks(x, [f"{n} {r:g}" for n, r in SETTINGS])
    ax.set(
        ylabel="clean test accuracy",
        ylim=(0.3, 1.0),
        title=f"stage 2 on digits: mean and 95% interval over {seeds} seeds",
    )
    ax.legend(fontsize=7.5, frameon=False, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    return fig
