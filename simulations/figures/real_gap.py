"""Figure 12: predicted against observed selection precision on trained networks, from the
clean validation split's laws and from probes' in-sample laws (issue: the real-network gap)."""

from __future__ import annotations

import numpy as np

from simulations import intervals
from simulations.figures._common import committed_sweep, figure
from simulations.selection.registry import LOSS_CRITERIA

NAME = "real_gap"
CAPTION = (
    "Predicted minus observed selection precision of trained networks (stage 1, 30 epochs; "
    "global, per-class and RSL; single-epoch and mean loss), mean and 95% interval over seeds "
    "per setting. Predictions use the clean validation split's cell laws, the in-sample laws "
    "of probes (half the validation split trained on with labels drawn from T), or the count "
    "of mislabelled probes below each selection's thresholds; no clean training label. Data: "
    "sweeps gap_digits (20 seeds) and gap_fashion (3 seeds)."
)
SWEEPS = {"digits": "gap_digits", "fashion-mnist": "gap_fashion"}
CRITERIA = LOSS_CRITERIA
VARIANTS = ("single_epoch", "mean_loss")
SOURCES = {
    "validation": "predicted_precision_validation",
    "probes": "predicted_precision_probes",
    "counts": "predicted_precision_counts",
}
STYLES = {"validation": ("o", "#7f7f7f"), "probes": ("s", "#d62728"), "counts": ("^", "#1f77b4")}


def compute(quick: bool, seed: int) -> list[dict]:
    """Reads the committed sweeps (``quick`` and ``seed`` do not apply: the runs are done)."""
    rows = []
    for dataset, sweep_name in SWEEPS.items():
        runs = committed_sweep(sweep_name)
        settings = sorted({(r["setting_noise"], r.get("setting_rate")) for r in runs}, key=str)
        for noise, rate in settings:
            cell = [r for r in runs if (r["setting_noise"], r.get("setting_rate")) == (noise, rate)]
            for c in CRITERIA:
                for v in VARIANTS:
                    observed = [r[f"{c}_observed_precision_{v}"] for r in cell]
                    for source, column in SOURCES.items():
                        predicted = [r[f"{c}_{column}_{v}"] for r in cell]
                        gap = intervals.summary(np.subtract(predicted, observed))
                        rows.append(
                            {
                                "dataset": dataset,
                                "noise": noise,
                                "rate": rate,
                                "criterion": c,
                                "loss": v,
                                "source": source,
                                "seeds": len(cell),
                                "observed": float(np.mean(observed)),
                                "predicted": float(np.mean(predicted)),
                                "gap": gap["mean"],
                                "gap_ci_low": gap["ci_low"],
                                "gap_ci_high": gap["ci_high"],
                            }
                        )
    return rows


def draw(t):
    fig, axes = figure(1, 2, size=(5.0, 4.2))
    for ax, dataset in zip(axes[0], SWEEPS):
        d = t["dataset"] == dataset
        for source, (marker, color) in STYLES.items():
            m = d & (t["source"] == source)
            worst = np.max(np.abs(t["gap"][m])) if m.any() else np.nan
            ax.errorbar(
                t["observed"][m],
                t["gap"][m],
                yerr=[t["gap"][m] - t["gap_ci_low"][m], t["gap_ci_high"][m] - t["gap"][m]],
                fmt=marker,
                mfc="none",
                color=color,
                ms=4,
                lw=0.6,
                label=f"{source if source == 'counts' else source + ' laws'} "
                f"(worst |gap| {worst:.3f})",
            )
        ax.axhspan(-0.02, 0.02, color="#2ca02c", alpha=0.12, lw=0, label="within 0.02")
        ax.axhline(0, color="k", lw=0.5)
        ax.set(xlabel="observed precision (mean over seeds)", title=dataset)
        ax.legend(fontsize=7, frameon=False)
    axes[0][0].set_ylabel("predicted - observed")
    return fig
