"""The record of a training run: what ``analyse`` found on the run file, beside what only
the trainer knows (the data set, the recipe, stage 2's test accuracies, timings), and one
record from several seeds' records."""

from __future__ import annotations

import numpy as np

from simulations import intervals
from simulations.estimation import transition
from simulations.selection import recorded
from theory.conditions import report
from theory.noise import noise_rate

# the layout of the record that ``smallloss train`` prints and writes (``combine``); 2: one
# layout for one seed and for many (test accuracy as mean, interval and ``early_stopped``,
# ``runs`` always), and ``stage_seconds``
SCHEMA = 2
# the analysis's fields that a training record carries as they are
ANALYSIS_FIELDS = (
    "criteria",
    "per_epoch",
    "budgets",
    "predicted_from",
    "T_source",
    "level",
    "confidence",
    "mislabelled_probes",
)


def train_record(cfg, prep, fit1, analysis: dict, with_true_T: dict | None, test_accuracy: dict,
                 warnings: list, probs_source: str, device: str, seed: int,
                 run_file) -> dict:  # fmt: skip
    """One seed's record, from which ``combine`` makes the one that ``smallloss train`` prints
    and writes (for one seed as for several)."""
    n = prep.clean.size
    L = fit1.losses[:n]
    known = prep.T if prep.T is not None else prep.T_bar
    T_used = np.array(analysis["T"])
    cells_T = known if known is not None else T_used
    scored = (prep.clean >= 0).all()
    record = {
        "dataset": cfg.dataset,
        "device": device,
        "epochs": cfg.epochs,
        "seed": seed,
        "scaling": prep.scaling,
        "warnings": warnings + analysis["warnings"],
        "noise_source": prep.noise_source,
        "noise_rate": noise_rate(known if known is not None else T_used, prep.prior),
        "realised_noise_rate": float((prep.clean != prep.noisy).mean()) if scored else None,
        "dataset_noise_rate": prep.dataset_noise_rate,
        "n_train": int(n),
        "n_val": int(prep.val_clean.size),
        "n_test": int(prep.y_test.size),
        "probabilities": probs_source,
        **{k: analysis[k] for k in ANALYSIS_FIELDS if k in analysis},
        "T_used": analysis["T"],
        "test_accuracy": test_accuracy,
        "cells": recorded.cell_summaries(L, prep.clean, prep.noisy, cells_T) if scored else [],
        "recipe": prep.recipe,
        "timing": {
            "epoch_s": float(np.median(fit1.epoch_s)),
            "record_s": float(np.median(fit1.record_s)),
            "record_share": float(np.median(np.divide(fit1.record_s, fit1.epoch_s))),
            "eval_s": float(np.median(fit1.eval_s)),
            "total_s": None,
        },
        "run_file": str(run_file),
        "loss_matrix": str(run_file),
    }
    if cfg.estimate:
        record["estimate"] = estimate_record(analysis, prep.T, prep.prior, with_true_T)
    if prep.probe_idx.size:
        record["probes"] = {
            "count": int(prep.probe_idx.size),
            "share_of_validation": cfg.probes,
            "mislabelled": analysis["mislabelled_probes"],
            "cell_counts": analysis.get("probe_cells"),
        }
    if "target" in analysis:
        record["target"] = _target(analysis, cfg)
    if prep.instance is not None:
        record["T_bar"] = prep.T_bar.tolist()
        record["T_bar_conditions"] = report(prep.T_bar, prep.prior).verdicts()
        record["instance_noise"] = prep.instance
    return record


def reanalysed(record: dict, analysis: dict, cfg) -> dict:
    """A finished run's record with what a new ``analyse`` of its run file found in place of
    the old analysis (its criteria, budgets, target; the trainer's own fields as they were)."""
    out = {k: v for k, v in record.items() if k not in ("target", "provenance", "estimate")}
    out.update({k: analysis[k] for k in ANALYSIS_FIELDS if k in analysis})
    out["T_used"] = analysis["T"]
    out["warnings"] = [w for w in record["warnings"] if "--keep" not in w] + analysis["warnings"]
    if "target" in analysis:
        out["target"] = _target(analysis, cfg)
    if cfg.estimate:
        out["estimate"] = estimate_record(analysis, None, None, None)
    return out


def _target(analysis: dict, cfg) -> dict:
    any_row = next(iter(analysis["target"].values()))
    return {
        "precision": cfg.keep.precision,
        "laws": any_row["laws"],
        **({"confidence": cfg.confidence} if cfg.confidence is not None else {}),
        "criteria": analysis["target"],
    }


def estimate_record(analysis: dict, T, prior, with_true_T: dict | None) -> dict:
    """T-hat beside the truth, and what the true T would have given (budgets, criteria)."""
    est = analysis["estimate"]
    out = {
        "method": est["method"],
        "T": est["T"],
        "prior": est["prior"],
        "noise_rate": est["noise_rate"],
    }
    if T is not None:
        out["true_noise_rate"] = noise_rate(T, prior)
        out["T_error"] = transition.t_error(np.array(est["T"]), T)
    if with_true_T is not None:
        keep = ("observed_precision", "predicted_precision", "selected")
        out["with_true_T"] = {
            "budgets": {k: v for k, v in with_true_T["budgets"].items() if k != "rsl_rule"},
            "criteria": {
                k: {f: v.get(f) for f in keep} for k, v in with_true_T["criteria"].items()
            },
        }
    return out


def combine(runs: list[dict]) -> dict:
    """The record ``smallloss train`` prints and writes, from one or several seeds' records:
    test accuracy per arm as mean and interval, criteria as means (with the interval of the
    observed precision); per-epoch rows, cells and budgets from the first seed; the warnings
    of every seed; each stage's seconds summed over the seeds; each seed's own numbers under
    ``runs``."""
    first = runs[0]
    record = {"schema": SCHEMA, **{k: v for k, v in first.items() if k not in ("seed", "runs")}}
    record["seeds"] = [r["seed"] for r in runs]
    record["stage_seconds"] = {
        name: float(sum(r["stage_seconds"].get(name, 0.0) for r in runs))
        for name in dict.fromkeys(k for r in runs for k in r.get("stage_seconds", {}))
    }
    record["warnings"] = [
        f"seed {r['seed']}: {w}" if len(runs) > 1 else w for r in runs for w in r["warnings"]
    ]
    for key in ("noise_rate", "realised_noise_rate"):
        values = [r[key] for r in runs if r[key] is not None]
        record[key] = float(np.mean(values)) if values else None
    if "T_bar" in first:  # instance noise: each seed drew its own
        record["T_bar"] = np.mean([r["T_bar"] for r in runs], axis=0).tolist()
    record["criteria"] = {}
    for name in first["criteria"]:
        rows = [r["criteria"][name] for r in runs]
        merged = intervals.mean_of(rows)
        spread = intervals.summary([row["observed_precision"] for row in rows])
        merged["observed_precision_ci"] = [spread["ci_low"], spread["ci_high"]]
        record["criteria"][name] = merged
    record["test_accuracy"] = {}
    # a target arm is missing from a seed whose target selection kept nothing
    for arm in [a for a in first["test_accuracy"] if all(a in r["test_accuracy"] for r in runs)]:
        rows = [r["test_accuracy"][arm] for r in runs]
        early = intervals.summary([row["best_val"] for row in rows])
        record["test_accuracy"][arm] = {
            **intervals.summary([row["last"] for row in rows]),
            "early_stopped": early,
            **intervals.mean_of(
                [{k: row[k] for k in ("train_size", "train_precision")} for row in rows]
            ),
        }
    if "estimate" in first and "T_error" in first["estimate"]:
        record["estimate"] = {
            **first["estimate"],
            "T_error_seeds": intervals.summary([r["estimate"]["T_error"] for r in runs]),
        }
    record["runs"] = [
        {
            "seed": r["seed"],
            "loss_matrix": r["loss_matrix"],
            "criteria": {k: v.get("observed_precision") for k, v in r["criteria"].items()},
            "test_accuracy": {k: v["last"] for k, v in r["test_accuracy"].items()},
            "test_accuracy_best_val": {
                k: {"test": v["best_val"], "epoch": v.get("best_epoch")}
                for k, v in r["test_accuracy"].items()
            },
        }
        for r in runs
    ]
    return record
