"""Figure 9: precision of every criterion as class imbalance grows from 1:1 to 20:1."""

from __future__ import annotations

import numpy as np

from simulations.figures._common import figure, sweep_rows
from simulations.selection.registry import CLEANLAB, COLORS, LABELS, SIMULATED

NAME = "imbalance"
CAPTION = (
    "Class imbalance 1:1 to 20:1 (pairwise 0.3, oracle budget): predictions track every loss "
    "criterion and confident learning; with overlapping classes per-class and RSL gain "
    "precision, the global ranking barely moves; confident learning loses precision under the "
    "perturbed model."
)
RATIOS = [1.0, 2.0, 5.0, 10.0, 20.0]
CRITERIA = tuple(n for n in SIMULATED if n != CLEANLAB.name)  # cleanlab: off in its cells


def compute(quick: bool, seed: int) -> list[dict]:
    cfg = {
        "name": "imbalance",
        "seeds": [seed] if quick else [seed, seed + 1],
        "base": {
            "noise": "pairwise",
            "rate": 0.3,
            "classes": 10,
            "n": 20_000 if quick else 100_000,
            "keep": "oracle",
        },
        "grid": [
            {"model": ["perturbed"], "epsilon": [0.35], "imbalance": RATIOS},
            {"model": ["overlap"], "separation": [2.0], "imbalance": RATIOS},
        ],
    }
    out = []
    for r in sweep_rows(cfg):
        for c in CRITERIA:
            out.append(
                {
                    "model": r["setting_model"],
                    "imbalance": r["setting_imbalance"],
                    "seed": r["seed"],
                    "criterion": c,
                    "predicted": r.get(f"{c}_predicted_precision"),
                    "observed": r.get(f"{c}_observed_precision"),
                }
            )
    return out


def draw(t):
    fig, axes = figure(1, 2, size=(4.8, 3.8))
    for ax, model in zip(axes[0], ("perturbed", "overlap")):
        for c in CRITERIA:
            m = (t["model"] == model) & (t["criterion"] == c)
            x = np.unique(t["imbalance"][m])
            pred = t["predicted"][m]
            if np.isfinite(pred).any():
                ax.plot(
                    x,
                    [pred[t["imbalance"][m] == v].mean() for v in x],
                    "-",
                    color=COLORS[c],
                    lw=1.4,
                )
            obs = t["observed"][m]
            ax.plot(t["imbalance"][m], obs, "o", mfc="none", color=COLORS[c], ms=5, label=LABELS[c])
        ax.set(
            xscale="log",
            xlabel="imbalance (largest / smallest class)",
            ylabel="precision of the kept set",
            title=f"model {model}" + (" (separation 2)" if model == "overlap" else " (eps 0.35)"),
        )
        ax.set_xticks(RATIOS, [f"{int(r)}:1" for r in RATIOS])
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.suptitle(
        "lines: predicted; circles: observed",
        fontsize=9,
    )
    return fig
