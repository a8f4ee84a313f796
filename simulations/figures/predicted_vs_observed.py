"""Figure 4: predicted against observed precision of global, per-class and RSL selection over
noise kinds, rates, models, class counts and priors (the comparison table, drawn)."""

from __future__ import annotations

import numpy as np

from simulations.criteria import COLORS, LABELS
from simulations.figures._common import figure, sweep_rows

NAME = "predicted_vs_observed"
CAPTION = (
    "Predicted vs observed precision over the comparison grid (noise kinds x rates x models x "
    "c in {10, 100} x priors, n = 1e5): the loss-law predictions sit on the identity line."
)
CRITERIA = ("global", "classwise", "rsl", "gmm")
MARKERS = {"bayes": "s", "perturbed": "o", "overlap": "^"}


def compute(quick: bool, seed: int) -> list[dict]:
    rows = sweep_rows("compare_quick" if quick else "compare")
    out = []
    for r in rows:
        for c in CRITERIA:
            out.append(
                {
                    "noise": r.get("setting_noise"),
                    "rate": r.get("setting_rate"),
                    "classes": r.get("setting_classes"),
                    "model": r.get("setting_model"),
                    "imbalance": r.get("setting_imbalance"),
                    "criterion": c,
                    "predicted": r.get(f"{c}_predicted_precision"),
                    "observed": r.get(f"{c}_observed_precision"),
                    "selected": r.get(f"{c}_selected"),
                }
            )
    return out


def draw(t):
    fig, axes = figure(1, 2, size=(4.8, 4.4))
    ax, hist = axes[0]
    for c in CRITERIA:
        for model, marker in MARKERS.items():
            m = (t["criterion"] == c) & (t["model"] == model)
            ax.scatter(
                t["predicted"][m],
                t["observed"][m],
                s=14,
                marker=marker,
                facecolors="none",
                edgecolors=COLORS[c],
                linewidths=0.8,
                alpha=0.9 if c != "gmm" else 0.5,
            )
    lo = np.nanmin([t["predicted"], t["observed"]])
    ax.plot([lo, 1], [lo, 1], "k-", lw=0.8)
    ax.set(
        xlabel="predicted precision", ylabel="observed precision", title="every cell of the grid"
    )
    for c in CRITERIA:
        ax.scatter([], [], color=COLORS[c], s=14, label=LABELS[c])
    for model, marker in MARKERS.items():
        ax.scatter([], [], marker=marker, facecolors="none", edgecolors="k", s=14, label=model)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    bins = np.linspace(-0.03, 0.03, 31)
    for c in CRITERIA:
        d = (t["observed"] - t["predicted"])[t["criterion"] == c]
        d = d[np.isfinite(d)]
        hist.hist(
            np.clip(d, bins[0], bins[-1]),
            bins=bins,
            histtype="step",
            color=COLORS[c],
            lw=1.4,
            label=f"{LABELS[c]}: max |d| {np.abs(d).max():.3f}",
        )
    hist.axvspan(-0.02, 0.02, color="0.9", zorder=-1)
    hist.set(xlabel="observed - predicted (clipped to +-0.03; grey: the 0.02 goal)", ylabel="cells")
    hist.legend(fontsize=7, frameon=False)
    return fig
