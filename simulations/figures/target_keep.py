"""Figure 14: budgets chosen for a target precision (``--keep target:P``) over the compare
grid, against what they promise and against Co-teaching's fixed forget rate (committed sweep
compare_target)."""

from __future__ import annotations

import itertools

import numpy as np

from simulations.figures._common import committed_sweep, figure
from simulations.selection.keep import parse_keep
from simulations.selection.registry import COLORS, LOSS_CRITERIA, REGISTRY

NAME = "target_keep"
CAPTION = (
    "Budgets chosen so that the loss laws predict precision P (P = 0.9, 0.95, 0.99) over the "
    "compare grid (noise kinds x rates x models x priors at 10 and 100 classes, n = 1e5, one "
    "seed a cell; synthetic, so the laws are those of the sampled model). Left: observed "
    "precision minus P per cell and criterion (cells where nothing is predicted to reach P "
    "keep nothing and are not drawn). Right: samples kept by the per-class and RSL targets "
    "over the samples one global small-loss ranking (Co-teaching's) keeps at the same "
    "observed precision."
)
SWEEP = "compare_target"
CRITERIA = LOSS_CRITERIA
SETTING = ("noise", "rate", "classes", "model", "epsilon", "separation", "imbalance")
SAME = 1e-3  # kept counts within 0.1% of each other count as the same


def compute(quick: bool, seed: int) -> list[dict]:
    """Reads the committed sweep (``quick`` and ``seed`` do not apply: the runs are done).

    Parameters
    ----------
    quick, seed
        Not used.

    Returns
    -------
    list of dict
        One row per sweep cell and loss criterion: the cell's setting, the target P (a float,
        from the cell's ``target:P``), predicted and observed precision, what was kept, and
        how that compares with Co-teaching's fixed rate.
    """
    rows = []
    for r in committed_sweep(SWEEP):
        target = parse_keep(r["setting_keep"]).precision
        base = {k: r.get(f"setting_{k}") for k in SETTING} | {"target": target}
        base["classes"] = base["classes"] or 10  # structured and CIFAR-10N noise: 10 classes
        rule = {
            "coteaching_observed": r["coteaching_rule_observed_precision"],
            "coteaching_selected": r["coteaching_rule_selected"],
        }
        for c in CRITERIA:
            observed, kept = r[f"{c}_observed_precision"], r[f"{c}_selected"]
            at_equal = r[f"{c}_coteaching_kept_at_equal_precision"]
            rows.append(
                {
                    **base,
                    "criterion": c,
                    "predicted": r[f"{c}_predicted_precision"],
                    "observed": observed,
                    "selected": kept,
                    "recall": r[f"{c}_observed_recall"],
                    "coteaching_kept_at_equal_precision": at_equal,
                    **rule,
                    "outcome": outcome(
                        observed, kept, rule["coteaching_observed"], rule["coteaching_selected"]
                    ),
                }
            )
    return rows


def outcome(observed, kept, rule_observed, rule_kept) -> str:
    """How a target's kept set compares with Co-teaching's fixed rate on the same losses:
    ``more`` (at least as many samples, at least as clean), ``fewer`` (the rule's set is as
    large and as clean), ``cleaner`` (fewer samples, cleaner) or ``larger`` (more, dirtier)."""
    if not kept:
        return "nothing"
    if kept >= rule_kept and observed >= rule_observed:
        return "more"
    if kept <= rule_kept and observed <= rule_observed:
        return "fewer"
    return "cleaner" if observed > rule_observed else "larger"


def summary(t) -> list[dict]:
    """Per class count, target and criterion: cells, cells that kept something, those within
    0.01 of P, the lowest observed precision minus P, and how the kept set compares with
    Co-teaching's."""
    out = []
    for classes, target, c in itertools.product(
        np.unique(t["classes"]), np.unique(t["target"]), CRITERIA
    ):
        m = (t["classes"] == classes) & (t["target"] == target) & (t["criterion"] == c)
        if not m.any():
            continue
        kept = m & (t["selected"] > 0)
        miss = t["observed"][kept] - target
        ratio = t["selected"][kept] / t["coteaching_kept_at_equal_precision"][kept]
        out.append(
            {
                "classes": int(classes),
                "target": float(target),
                "criterion": c,
                "cells": int(m.sum()),
                "kept_something": int(kept.sum()),
                "within_0.01": int(np.sum(miss >= -0.01)),
                "lowest": float(miss.min()) if miss.size else None,
                # kept over what one global ranking keeps at the same precision, beyond rounding
                "more_than_ranking": int(np.sum(ratio > 1 + SAME)),
                "fewer_than_ranking": int(np.sum(ratio < 1 - SAME)),
                **{
                    o: int(np.sum(m & (t["outcome"] == o)))
                    for o in ("more", "fewer", "cleaner", "larger", "nothing")
                },
            }
        )
    return out


def draw(t):
    fig, axes = figure(1, 2, size=(5.0, 4.0))
    left, right = axes[0]
    colors = COLORS
    kept = t["selected"] > 0
    markers = {10: ".", 100: "+"}
    for (k, c), (classes, marker) in itertools.product(enumerate(CRITERIA), markers.items()):
        m = kept & (t["criterion"] == c) & (t["classes"] == classes)
        label = f"{c}, {classes} classes"
        jitter = (k - 1) * 0.012 + np.linspace(-0.004, 0.004, int(m.sum()))
        left.plot(
            t["target"][m] + jitter,
            t["observed"][m] - t["target"][m],
            marker,
            ms=3,
            color=colors[c],
            label=label,
        )
        if REGISTRY[c].per_class:
            ratio = t["selected"][m] / t["coteaching_kept_at_equal_precision"][m]
            right.plot(t["observed"][m], ratio, marker, ms=3, color=colors[c], label=label)
    left.axhline(-0.01, color="k", lw=0.6, ls="--", label="P - 0.01")
    left.axhline(0, color="k", lw=0.4)
    left.set(xlabel="target P", ylabel="observed - P", xticks=[0.9, 0.95, 0.99])
    right.axhline(1, color="k", lw=0.6)
    right.set(
        xlabel="observed precision",
        yscale="log",
        ylabel="kept / global ranking's kept at equal precision",
    )
    for ax in (left, right):
        ax.legend(fontsize=7, frameon=False)
    return fig
