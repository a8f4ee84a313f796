"""Figure 19: the certified target on run files without T (committed sweep certificate, from
a world outside the project's generators: 10 classes at 10:1 imbalance, class-dependent
noise at 30%, lognormal losses; 100 classes at n = 20,000 too): how often each arm's kept
set is empty or reaches P, and how much of what can be kept it keeps."""

from __future__ import annotations

import numpy as np

from simulations.figures._common import committed_sweep, figure
from simulations.selection.registry import CLASSWISE

NAME = "certificate"
CAPTION = (
    "The certified target search on run files without T (10 classes, 10:1 imbalance, "
    "class-dependent noise at 30%, n = 4,000; 300 draws a cell), global ranking unless "
    "named. Left: the share of draws whose kept set is empty or reaches P = 0.9 (dashed: L; "
    "dotted: L less 2 binomial sd), on scores that say nothing (L = 0.5: at 0.9 nothing is "
    "kept) and on informative ones (L = 0.9). Right: what each keeps as a share of the "
    "oracle (the largest prefix whose true precision is P), informative scores, L = 0.9; "
    "'limit' is the envelope the design would pick knowing the score laws; FDR (conformal "
    "BH) is a mean false share, not a probability."
)
ARMS = ("band", "design", CLASSWISE.name, "pointwise", "limit")
LABELS = {
    "band": "band (before)",
    "design": "design (shipped)",
    CLASSWISE.name: "per-class, design",
    "pointwise": "one-threshold, searched",
    "limit": "limit: laws known",
    "fdr": "FDR (conformal BH)",
}
COLORS = {
    "band": "#7f7f7f",
    "design": "#2ca02c",
    CLASSWISE.name: "#98df8a",
    "pointwise": "#d62728",
    "limit": "#1f77b4",
    "fdr": "#ff7f0e",
}
PROBES = (60, 100, 333, 1000)


def compute(quick: bool, seed: int) -> list[dict]:
    """Reads the committed sweep (``quick`` and ``seed`` do not apply: the draws are done)."""
    rows = []
    for r in committed_sweep("certificate"):
        base = {
            "classes": int(r["setting_classes"]),
            "n": int(r["setting_n"]),
            "probes": int(r["setting_probes"]),
            "shift": float(r["setting_shift"]),
            "target": float(r["setting_target"]),
            "level": float(r["setting_level"]),
            "draws": int(r["setting_draws"]),
            "mislabelled_probes": float(r["mislabelled_probes"]),
            "oracle": float(r["oracle"]),
        }
        for arm in ARMS:
            rows.append(
                {
                    **base,
                    "arm": arm,
                    "valid": float(r[f"valid_{arm}"]),
                    "kept": float(r[f"kept_{arm}"]),
                    "fdr_mean": None,
                    "fdr_sd": None,
                }
            )
        rows.append(
            {
                **base,
                "arm": "fdr",
                "valid": None,
                "kept": float(r["kept_fdr"]),
                "fdr_mean": float(r["fdr_mean"]),
                "fdr_sd": float(r["fdr_sd"]),
            }
        )
    return rows


def _cell(t, arm, R, shift, target=0.9, level=0.9, classes=10):
    m = (
        (t["arm"] == arm)
        & (t["probes"] == R)
        & np.isclose(t["shift"], shift)
        & np.isclose(t["target"], target)
        & np.isclose(t["level"], level)
        & (t["classes"] == classes)
    )
    return np.flatnonzero(m)


def draw(t):
    fig, axes = figure(1, 3, size=(4.6, 3.6))
    x = np.arange(len(PROBES))
    width = 0.8 / len(ARMS)
    ticks = [f"{R}" for R in PROBES]
    # at L = 0.9 scores that say nothing certify nothing at all: L = 0.5 keeps something there
    panels = ((0.0, 0.5, "scores that say nothing, L = 0.5"), (1.5, 0.9, "informative, L = 0.9"))
    for ax, (shift, level, what) in zip(axes[0][:2], panels):
        for k, arm in enumerate(ARMS):
            values = [t["valid"][_cell(t, arm, R, shift, level=level)][0] for R in PROBES]
            ax.bar(x + (k - (len(ARMS) - 1) / 2) * width, values, width, color=COLORS[arm])
        sd = np.sqrt(level * (1 - level) / 300)
        ax.axhline(level, color="k", ls="--", lw=0.8)
        ax.axhline(level - 2 * sd, color="k", ls=":", lw=0.8)
        ax.set_xticks(x, ticks)
        ax.set(
            ylim=(0.4, 1.02),
            xlabel="probes",
            ylabel="share: empty or precision >= P",
            title=what,
        )
    ax = axes[0][2]
    for arm in (*ARMS, "fdr"):
        values = []
        for R in PROBES:
            i = _cell(t, arm, R, 1.5)[0]
            values.append(t["kept"][i] / t["oracle"][i])
        ax.plot(x, values, "o-", color=COLORS[arm], label=LABELS[arm])
    ax.set_xticks(x, ticks)
    ax.set(ylim=(0, 1.05), xlabel="probes", ylabel="kept / oracle", title="what each keeps")
    ax.legend(fontsize=6.5, frameon=False, loc="upper left")
    return fig
