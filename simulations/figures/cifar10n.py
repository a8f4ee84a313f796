"""Figure 5: the five CIFAR-10N human-noise matrices, their margins, and which conditions hold."""

from __future__ import annotations

import numpy as np

from simulations.figures._common import figure
from theory import conditions, noise

NAME = "cifar10n"
CAPTION = (
    "Real human noise (CIFAR-10N): all five matrices are row, column and globally dominant; even "
    "'worse' (40% noise) keeps a column margin of 0.30, so eps* = 0.15."
)
CONDITIONS = ("row_dominant", "column_dominant", "globally_separable", "cleanlab_valid")


def compute(quick: bool, seed: int) -> list[dict]:
    rows = []
    for name in noise.CIFAR10N_NAMES:
        T = noise.cifar10n(name)
        rep = conditions.report(T)
        rows.append(
            {
                "name": name,
                "kind": "summary",
                "noise_rate": rep.noise_rate,
                "row_margin": rep.row_margin,
                "column_margin": rep.column_margin,
                "epsilon_star": rep.epsilon_star,
                **{k: int(getattr(rep, k)) for k in CONDITIONS},
            }
        )
        for i in range(10):
            for j in range(10):
                rows.append({"name": name, "kind": "T", "clean": i, "noisy": j, "value": T[i, j]})
    return rows


def draw(t):
    fig, axes = figure(2, 3, size=(3.6, 3.3))
    names = list(dict.fromkeys(t["name"]))
    for ax, name in zip(axes.ravel(), names):
        m = (t["name"] == name) & (t["kind"] == "T")
        M = np.zeros((10, 10))
        M[t["clean"][m].astype(int), t["noisy"][m].astype(int)] = t["value"][m]
        im = ax.imshow(M, cmap="magma_r", vmin=0, vmax=1)
        s = (t["name"] == name) & (t["kind"] == "summary")
        ax.set(
            title=f"{name}: noise {t['noise_rate'][s][0]:.3f}",
            xlabel="noisy label",
            ylabel="clean label",
            xticks=range(0, 10, 3),
            yticks=range(0, 10, 3),
        )
        ax.title.set_fontsize(9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.7, label="T[clean, noisy]")
    ax = axes[1][2]
    s = t["kind"] == "summary"
    x = np.arange(s.sum())
    ax.bar(x - 0.2, t["row_margin"][s], 0.4, label="row margin")
    ax.bar(x + 0.2, t["column_margin"][s], 0.4, label="column margin")
    ax.plot(x, t["epsilon_star"][s], "k_", ms=14, mew=2, label="eps*")
    for k, ok in enumerate(np.all([t[c][s] for c in CONDITIONS], axis=0)):
        ax.text(
            k, 0.02, "all hold" if ok else "fails", ha="center", fontsize=6, rotation=90, color="w"
        )
    ax.set_xticks(x, t["name"][s], rotation=30, fontsize=7)
    ax.set(title="margins (all conditions hold)", ylim=(0, 1))
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, frameon=False)
    return fig
