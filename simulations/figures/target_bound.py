"""Figure 15: how many to keep, with a stated confidence: on trained networks, the budgets
whose precision is at least P with confidence 0.9, counted from the mislabelled probes
(``--confidence``), beside the budgets the probes' laws predict at P, on the same networks."""

from __future__ import annotations

import numpy as np

from simulations import intervals
from simulations.figures._common import committed_sweep, figure
from simulations.selection.keep import parse_keep
from simulations.selection.registry import LOSS_CRITERIA

NAME = "target_bound"
CAPTION = (
    "Observed precision minus the target P of the budgets chosen for P on trained networks "
    "(stage 1, 30 epochs; no clean training label), mean over the seeds that kept something, "
    "against the share of the training set kept (mean over all seeds, nothing kept counting "
    "0). Grey: budgets whose precision the probes' laws predict at P (P = 0.95). Red: budgets "
    "whose precision is at least P with confidence 0.9, from the mislabelled probes' counts. "
    "Data: sweeps target_bound_digits (20 seeds, P = 0.9, 0.95, 0.99) and target_bound_fashion "
    "(3 seeds, P = 0.95), and, on the same networks, gap_digits and gap_fashion (the laws)."
)
SWEEPS = {  # dataset: (bound sweep, laws sweep)
    "digits": ("target_bound_digits", "gap_digits"),
    "fashion-mnist": ("target_bound_fashion", "gap_fashion"),
}
CRITERIA = LOSS_CRITERIA
WITHIN = 0.02  # the tolerance below P that a cell's mean may fall


def _setting(run) -> tuple:
    return run["setting_noise"], run.get("setting_rate"), run["setting_keep"]


def _cells(runs):
    """(noise, rate, keep) and the runs of each, in a fixed order."""
    for k in sorted({_setting(r) for r in runs}, key=str):
        yield k, [r for r in runs if _setting(r) == k]


def compute(quick: bool, seed: int) -> list[dict]:
    """Reads the committed sweeps (``quick`` and ``seed`` do not apply: the runs are done).

    Parameters
    ----------
    quick : bool
        Not used: the sweeps ran once and are committed.
    seed : int
        Not used: each sweep cell has its own seed.

    Returns
    -------
    list of dict
        One row per data set, method (bound or laws), cell and loss criterion: the target P
        (a float, from the cell's ``target:P``), the seeds that kept something and reached P,
        the observed precision with its interval, the share kept, bound and prediction.
    """
    rows = []
    for dataset, sweeps in SWEEPS.items():
        for method, name in zip(("bound", "laws"), sweeps):
            for (noise, rate, keep), cell in _cells(committed_sweep(name)):
                P = parse_keep(keep).precision
                for c in CRITERIA:
                    kept = [r for r in cell if r[f"target_{c}_selected"]]
                    observed = [r[f"target_{c}_observed_precision"] for r in kept]
                    spread = intervals.summary(observed)
                    rows.append(
                        {
                            "dataset": dataset,
                            "noise": noise,
                            "rate": rate,
                            "target": P,
                            "method": method,
                            "criterion": c,
                            "seeds": len(cell),
                            "kept_something": len(kept),
                            "reached": sum(o >= P for o in observed),
                            "observed": spread["mean"],
                            "observed_ci_low": spread["ci_low"],
                            "observed_ci_high": spread["ci_high"],
                            "observed_min": min(observed) if observed else None,
                            "kept_share": float(
                                np.mean([r[f"target_{c}_selected"] / r["n_train"] for r in cell])
                            ),
                            "bound": _mean(kept, f"target_{c}_precision_bound"),
                            "predicted": _mean(kept, f"target_{c}_predicted_precision"),
                        }
                    )
    return rows


def _mean(runs, column):
    values = [r[column] for r in runs if r.get(column) is not None]
    return float(np.mean(values)) if values else None


def summary(t) -> list[dict]:
    """Per dataset, method and target: cells, cells whose mean lands within ``WITHIN`` below P
    (of those where some seed kept something), runs that kept something and reached P."""
    out = []
    for dataset in SWEEPS:
        for method in ("laws", "bound"):
            for P in sorted(set(t["target"][(t["dataset"] == dataset)].tolist())):
                m = (t["dataset"] == dataset) & (t["method"] == method) & (t["target"] == P)
                if not m.any():
                    continue
                some = m & (t["kept_something"] > 0)
                out.append(
                    {
                        "dataset": dataset,
                        "method": method,
                        "target": P,
                        "cells": int(m.sum()),
                        "cells_keeping": int(some.sum()),
                        "cells_within": int((t["observed"][some] >= P - WITHIN - 1e-12).sum()),
                        "worst": float(np.min(t["observed"][some] - P)) if some.any() else None,
                        "runs": int(t["seeds"][m].sum()),
                        "runs_keeping": int(t["kept_something"][m].sum()),
                        "runs_reaching": int(t["reached"][m].sum()),
                    }
                )
    return out


def draw(t):
    fig, axes = figure(1, 2, size=(5.0, 4.2))
    for ax, dataset in zip(axes[0], SWEEPS):
        for method, (marker, color) in (("laws", ("o", "#7f7f7f")), ("bound", ("s", "#d62728"))):
            m = (t["dataset"] == dataset) & (t["method"] == method) & (t["kept_something"] > 0)
            for P, size in ((0.9, 3), (0.95, 5), (0.99, 7)):
                k = m & (t["target"] == P)
                if not k.any():
                    continue
                what = "confidence 0.9" if method == "bound" else "laws"
                ax.plot(
                    t["kept_share"][k],
                    t["observed"][k] - P,
                    marker,
                    mfc="none",
                    color=color,
                    ms=size,
                    lw=0,
                    label=f"{what}, P = {P:g}",
                )
        ax.axhspan(-WITHIN, 0, color="#ff7f0e", alpha=0.12, lw=0, label=f"within {WITHIN} below P")
        ax.axhline(0, color="k", lw=0.5)
        ax.set(xlabel="share of the training set kept", title=dataset)
        ax.legend(fontsize=6, frameon=False)
    axes[0][0].set_ylabel("observed precision - P (mean over seeds)")
    return fig
