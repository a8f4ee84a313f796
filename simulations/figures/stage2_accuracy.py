"""Figure 8: stage-2 test accuracy of every arm (claim C10): cross-entropy on all noisy data
(last and best clean-validation epoch), the global selection, RSL's selection unweighted and
weighted, and Co-teaching; mean and 95% interval over seeds, across noise settings on digits."""

from __future__ import annotations

import numpy as np

from simulations import intervals
from simulations.figures._common import (
    COMPARED_ARMS,
    SELECTIONS,
    committed_sweep,
    figure,
    paired,
)
from simulations.training.arms import BY_NAME, REFERENCE
from simulations.training.config import ARMS

NAME = "stage2_accuracy"
SWEEP = "stage2_digits"  # simulations/sweeps/stage2_digits.toml, committed in figures/sweeps
CAPTION = (
    "Claim C10 on digits: clean test accuracy of each stage-2 arm, mean and 95% interval over "
    "seeds, every arm read at the same model selection: its last epoch (left), its best "
    "clean-validation epoch (middle); right, RSL minus each arm, paired seed by seed, at both."
)
SETTINGS = [
    ("symmetric", 0.4),
    ("symmetric", 0.6),
    ("pairwise", 0.2),
    ("pairwise", 0.4),
    ("structured", 0.4),
]


def compute(quick: bool, seed: int) -> list[dict]:
    """Reads the committed sweep stage2_digits (``quick`` and ``seed`` do not apply: the runs
    are done; ``smallloss sweep simulations/sweeps/stage2_digits.toml --workers 1 --publish``
    makes them again)."""
    rows = []
    for r in committed_sweep(SWEEP):
        for arm in (a for a in ARMS if f"test_{a}_last" in r):  # a sweep may lack an arm
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


def _cell(t, noise, rate, arm):
    return (t["noise"] == noise) & np.isclose(t["rate"], rate) & (t["arm"] == arm)


def paired_rsl(t, arm: str, selection: str) -> list[dict]:
    """Per setting: RSL's test accuracy minus ``arm``'s, seed by seed, both read at
    ``selection`` (``accuracy``: the last epoch; ``best_val``: the best clean-validation
    epoch), as mean and 95% interval."""
    column = "accuracy" if selection == "last" else "best_val"
    out = []
    for noise, rate in SETTINGS:
        base, other = _cell(t, noise, rate, REFERENCE), _cell(t, noise, rate, arm)
        order = np.argsort(t["seed"][base]), np.argsort(t["seed"][other])
        out.append(paired(t[column][base][order[0]], t[column][other][order[1]]))
    return out


def draw(t):
    fig, axes = figure(1, 3, size=(5.0, 4.0))
    x = np.arange(len(SETTINGS))
    arms = [a for a in COMPARED_ARMS if np.any(t["arm"] == a)]  # older data lacks some
    width = 0.8 / len(arms)
    seeds = len(np.unique(t["seed"]))
    for ax, (selection, what) in zip(axes[0][:2], SELECTIONS.items()):
        column = "accuracy" if selection == "last" else "best_val"
        for k, arm in enumerate(arms):
            label, color = BY_NAME[arm].label, BY_NAME[arm].colour
            mean, low, high = intervals.band(t[column][_cell(t, n, r, arm)] for n, r in SETTINGS)
            pos = x + (k - (len(arms) - 1) / 2) * width
            ax.bar(pos, mean, width, color=color, label=label, alpha=0.9)
            ax.errorbar(
                pos,
                mean,
                yerr=[mean - low, high - mean],
                fmt="none",
                ecolor="k",
                lw=0.8,
                capsize=1.5,
            )
        ax.set_xticks(x, [f"{n} {r:g}" for n, r in SETTINGS], rotation=30, ha="right", fontsize=7)
        ax.set(ylabel="clean test accuracy", ylim=(0.3, 1.0), title=f"every arm at its {what}")
    axes[0][0].legend(fontsize=6.5, frameon=False, ncol=2, loc="lower left")
    ax = axes[0][2]
    others = [a for a in arms if a != REFERENCE and BY_NAME[a].family != "ceiling"]
    width = 0.8 / len(others)
    for k, arm in enumerate(others):
        for selection, marker in (("last", "o"), ("best_val", "s")):
            d = paired_rsl(t, arm, selection)
            mean = np.array([s["mean"] for s in d])
            low = np.array([s["ci_low"] if s["ci_low"] is not None else s["mean"] for s in d])
            high = np.array([s["ci_high"] if s["ci_high"] is not None else s["mean"] for s in d])
            pos = x + (k - (len(others) - 1) / 2) * width + (0.03 if selection == "best_val" else 0)
            ax.errorbar(
                pos,
                mean,
                yerr=[mean - low, high - mean],
                fmt=marker,
                ms=3.5,
                color=BY_NAME[arm].colour,
                mfc="white" if selection == "best_val" else None,
                label=f"{BY_NAME[arm].label} ({selection.replace('_', ' ')})",
            )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [f"{n} {r:g}" for n, r in SETTINGS], rotation=30, ha="right", fontsize=7)
    ax.set(
        ylabel="RSL minus arm (paired over seeds)",
        title=f"RSL's lead, like for like ({seeds} seeds, 95%)",
    )
    ax.legend(fontsize=5.5, frameon=False, ncol=2)
    fig.subplots_adjust(wspace=0.3)
    return fig
