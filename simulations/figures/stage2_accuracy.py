"""Figure 8: stage-2 test accuracy of models trained on all noisy data, on the global selection,
and on RSL's weighted selection, across noise settings on digits."""

from __future__ import annotations

import numpy as np

from simulations.figures._common import figure, sweep_rows

NAME = "stage2_accuracy"
CAPTION = (
    "Stage 2 on digits: RSL's weighted selection against all noisy labels and the global "
    "selection, "
    "clean test accuracy at the best validation epoch."
)
SETTINGS = [
    ("symmetric", 0.4),
    ("symmetric", 0.6),
    ("pairwise", 0.2),
    ("pairwise", 0.4),
    ("structured", 0.4),
]
ARMS = {
    "ce_all": ("all noisy data", "#7f7f7f"),
    "global_selected": ("global selection", "#d62728"),
    "rsl_selected": ("RSL selection", "#2ca02c"),
}


def compute(quick: bool, seed: int) -> list[dict]:
    grid = [
        {"noise": [n], "rate": [r], **({"classes": [10]} if n != "structured" else {})}
        for n, r in SETTINGS
    ]
    cfg = {
        "name": "stage2",
        "kind": "train",
        "seeds": [seed] if quick else [seed, seed + 1],
        "base": {"epochs": 10 if quick else 30},
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
                    "best_val": r[f"test_{arm}_best_val"],
                    "last": r[f"test_{arm}_last"],
                }
            )
    return rows


def draw(t):
    fig, axes = figure(1, 1, size=(7.0, 3.8))
    ax = axes[0][0]
    labels = [f"{n} {r:g}" for n, r in SETTINGS]
    x = np.arange(len(SETTINGS))
    for k, (arm, (label, color)) in enumerate(ARMS.items()):
        means, points = [], []
        for n, r in SETTINGS:
            m = (t["noise"] == n) & np.isclose(t["rate"], r) & (t["arm"] == arm)
            means.append(t["best_val"][m].mean())
            points.append(t["best_val"][m])
        ax.bar(x + (k - 1) * 0.27, means, 0.27, color=color, label=label, alpha=0.85)
        for xi, p in zip(x, points):
            ax.plot(np.full(p.size, xi + (k - 1) * 0.27), p, "k.", ms=3)
    ax.set_xticks(x, labels)
    ax.set(
        ylabel="clean test accuracy (best validation epoch)",
        ylim=(0.3, 1.0),
        title="stage 2 on digits",
    )
    ax.legend(fontsize=8, frameon=False, ncol=3, loc="upper center")
    return fig
