"""Figure 17: who sets AUM's budget better, its threshold samples or this project's probes?

One run per seed on digits records both (``training.recorder``): AUM's threshold samples
(Pleiss et al. 2020: a random 1/(c + 1) of the training samples relabelled as an extra class
c, whose areas under the margin show what a mislabelled sample's look like; the cut is their
99th percentile) and probes (validation items trained on with labels drawn from T). The same
ranking (AUM over the samples that are neither) is cut three ways: below the threshold
samples' 99th percentile, at the largest budget whose precision the probes bound at >= 0.95
with confidence 0.9 (``bounds.Counts.largest_global``), and at T's clean count (the oracle)."""

from __future__ import annotations

import numpy as np

from simulations.figures._common import figure
from simulations.selection import bounds, rules
from simulations.selection.scores import aum
from simulations.synthetic import generate
from simulations.training.probes import make_probes
from theory import noise

NAME = "aum_probes"
CAPTION = (
    "AUM's ranking on digits (MLP, 20 epochs, noise 30%, 5 seeds), cut by its own threshold "
    "samples (99th percentile of their AUM), by the probes (the largest budget whose precision "
    "is >= 0.95 with confidence 0.9) and at T's clean count: precision against the share "
    "kept, each seed a point, the mean a cross."
)
SETTINGS = (("symmetric", 0.3), ("pairwise", 0.3))
CUTS = ("threshold samples", "probes, P = 0.95, L = 0.9", "T's clean count")
EPOCHS, SEEDS, PROBE_SHARE = 20, 5, 0.75


def one_run(kind: str, rate: float, seed: int) -> list[dict]:
    """A stage-1 run with threshold samples and probes, and AUM's three cuts of it."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    # torch is the optional extra smallloss[train]: only this figure's runs train
    from simulations.training.stages import recorded_outputs

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    c = 10
    T = noise.named(kind, rate, c)
    tr, va = train_test_split(np.arange(y.size), test_size=0.3, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    noisy = generate.noisy_labels(y[tr], T, seed).astype(np.int64)
    threshold = rng.random(tr.size) < 1 / (c + 1)  # relabelled as the extra class c
    labels = np.where(threshold, c, noisy)
    probes = make_probes(y[va], PROBE_SHARE, seed=seed, T=T)
    X_all = np.concatenate([X[tr], X[va][probes.index]])
    y_all = np.concatenate([labels, probes.noisy])
    areas = aum(recorded_outputs(X_all, y_all, c + 1, EPOCHS, seed), y_all)
    n = tr.size
    keep = ~threshold  # the samples a cut keeps or drops
    scored, p_scores = -areas[:n][keep], -areas[n:]
    clean, noisy_k = y[tr][keep], noisy[keep]
    cut = np.quantile(areas[:n][threshold], 0.99)
    by_probes = bounds.Counts(scored, noisy_k, p_scores, probes.clean, probes.noisy, c)
    oracle = int(round((clean == noisy_k).size * (1 - noise.noise_rate(T))))
    masks = {
        CUTS[0]: areas[:n][keep] >= cut,
        CUTS[1]: by_probes.largest_global(0.95, 0.9)["mask"],
        CUTS[2]: rules.select_global(scored, oracle),
    }
    rows = []
    for name, mask in masks.items():
        m = rules.metrics(mask, clean, noisy_k, c)
        rows.append(
            {
                "noise": kind,
                "rate": rate,
                "seed": seed,
                "cut": name,
                "kept_share": float(mask.mean()),
                "precision": m["observed_precision"],
                "recall": m["observed_recall"],
            }
        )
    return rows


def compute(quick: bool, seed: int) -> list[dict]:
    rows = []
    for kind, rate in SETTINGS[:1] if quick else SETTINGS:
        for s in range(seed, seed + (2 if quick else SEEDS)):
            rows += one_run(kind, rate, s)
    return rows


def draw(t):
    fig, axes = figure(1, len(SETTINGS), size=(4.4, 3.6))
    colors = dict(zip(CUTS, ("#9467bd", "#2ca02c", "#7f7f7f")))
    for ax, (kind, rate) in zip(axes[0], SETTINGS):
        sel = (t["noise"] == kind) & np.isclose(t["rate"], rate)
        for cut in CUTS:
            m = sel & (t["cut"] == cut)
            if not m.any():
                continue
            prec = np.array([np.nan if v is None else v for v in t["precision"][m]], float)
            ax.plot(t["kept_share"][m], prec, "o", color=colors[cut], ms=4, alpha=0.6)
            ax.plot(
                np.nanmean(t["kept_share"][m]),
                np.nanmean(prec),
                "X",
                color=colors[cut],
                ms=9,
                label=cut,
            )
        ax.axhline(0.95, color="k", lw=0.6, ls="--")
        ax.set(
            xlabel="share of the training samples kept",
            ylabel="precision",
            title=f"{kind} {rate:g}",
        )
    axes[0][0].legend(fontsize=7, frameon=False)
    return fig
