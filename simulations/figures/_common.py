"""Shared pieces of the figure modules: styling and small simulations."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from simulations.experiments import sweep
from simulations.io import read_commented_csv
from simulations.selection import rules
from simulations.synthetic import generate
from simulations.training.config import ARMS

# The digits figures record stage 1's losses with an eval pass after each epoch (their
# committed results were made so); the record_modes sweep compares it with in-pass recording
RECORD = "eval"


def figure(rows: int = 1, cols: int = 1, size=(4.6, 3.6)):
    """A matplotlib Figure without pyplot: no global state, no backend to choose."""
    fig = Figure(figsize=(size[0] * cols, size[1] * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def oracle_precision(T, n: int, seed, prior=None) -> tuple[float, float]:
    """Observed precision of per-class and global selection under g* at the oracle budget."""
    c = len(T)
    ss = np.random.SeedSequence(seed).spawn(2)
    clean = generate.clean_labels(n, np.full(c, 1 / c) if prior is None else prior, ss[0])
    noisy = generate.noisy_labels(clean, T, ss[1])
    with np.errstate(divide="ignore"):
        loss = (-np.log(T[clean, noisy])).astype(np.float32)
    k = np.bincount(noisy[clean == noisy], minlength=c)
    is_clean = clean == noisy
    per = rules.select_per_class(loss, noisy, k)
    glob = rules.select_global(loss, int(k.sum()))
    return float(is_clean[per].mean()), float(is_clean[glob].mean())


def sweep_rows(config: str | dict, workers: int | None = None) -> list[dict]:
    """Run a sweep in a fresh folder and return its rows.

    ``config`` is the name of a config shipped in simulations/sweeps/, or a dict."""
    if isinstance(config, str):
        cfg = sweep.load_config(Path(__file__).resolve().parents[1] / "sweeps" / f"{config}.toml")
    else:
        cfg = {"name": "figure", "kind": "simulate", "base": {}, "seeds": [0], **config}
    if cfg["kind"] == "train":
        # the figures read point predictions and accuracies, and intervals over seeds: the
        # per-run bootstrap of the law predictions (most of a digits run's analysis) is skipped
        cfg = {**cfg, "base": {"bootstrap": 0, **cfg.get("base", {})}}
    if workers is None and cfg["kind"] == "train":
        # torch already uses both cores; two trainer processes side by side took twice as
        # long as one after the other (figure 4's digits panel: 38.7 s against 18.7 s)
        workers = 1
    with tempfile.TemporaryDirectory() as out:
        result = sweep.run_sweep(cfg, Path(out), workers=workers, progress=False)
    return [{k: _number(v) for k, v in r.items()} for r in result["rows"]]


SWEEP_RESULTS = Path(__file__).resolve().parents[2] / "figures" / "sweeps"


def committed_sweep(name: str) -> list[dict]:
    """The rows of a sweep too long for ``smallloss figures`` (hours on 2 cores, or data that
    is not in CI), run once and committed as ``figures/sweeps/<name>.csv``.

    Parameters
    ----------
    name : str
        The sweep's name.

    Returns
    -------
    list of dict
        One dict a row: column name -> float, text, or None for an empty cell.
    """
    rows, _ = read_commented_csv(SWEEP_RESULTS / f"{name}.csv")
    return [{k: _number(v) for k, v in r.items()} for r in rows]


def _number(v):
    if v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


# stage-2 arms compared like for like: every arm read at the same model selection
SELECTIONS = {"last": "last epoch", "best_val": "best clean-validation epoch"}
# the arms a comparison of selections shows (ce_early_stopped is ce_all at best_val)
COMPARED_ARMS = tuple(a for a in ARMS if a != "ce_early_stopped")


def paired(base, other) -> dict:
    """Mean and Student-t 95% interval of ``base - other`` over seeds paired by position."""
    from simulations import intervals

    return intervals.summary(np.asarray(base, float) - np.asarray(other, float))


def summary_row(claim, setting, name, values, **extra) -> dict:
    """A row of a claim in a setting: mean and Student-t 95% interval of ``values`` over seeds."""
    from simulations import intervals

    s = intervals.summary(values)
    return {
        "claim": claim,
        "setting": setting,
        "name": name,
        "seeds": len(s["seeds"]),
        "mean": s["mean"],
        "ci_low": s["ci_low"],
        "ci_high": s["ci_high"],
        **extra,
    }


def bars(ax, t, claim, names, labels):
    """Grouped bars with 95% intervals: the rows of ``claim`` per setting, one bar a name."""
    m = t["claim"] == claim
    settings = list(dict.fromkeys(t["setting"][m]))
    x = np.arange(len(settings))
    width = 0.8 / len(names)
    for k, (name, label) in enumerate(zip(names, labels)):
        sel = m & (t["name"] == name)
        order = [np.flatnonzero(sel & (t["setting"] == s))[0] for s in settings]
        mean, lo, hi = t["mean"][order], t["ci_low"][order], t["ci_high"][order]
        ax.bar(
            x + (k - (len(names) - 1) / 2) * width,
            mean,
            width,
            label=label,
            yerr=[mean - lo, hi - mean],
            error_kw={"lw": 0.6},
        )
    ax.set_xticks(x, settings, rotation=30, ha="right", fontsize=7)
