"""Figure 1: where row, column and global conditions hold over two matrix families, and where
simulated per-class selection is exact while a global ranking is not."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from simulations.figures._common import figure, oracle_precision
from simulations.selection.registry import CLASSWISE, GLOBAL
from theory import regions

NAME = "conditions"
CAPTION = (
    "Condition regions of T(a, b): per-class selection is exact wherever T is column dominant; "
    "one global ranking needs the smaller, globally separable region."
)


def compute(quick: bool, seed: int) -> list[dict]:
    rows = []
    fine = np.linspace(0, 1, 41 if quick else 101)
    coarse = np.linspace(0.025, 0.975, 8 if quick else 20)
    for family in ("two_class", "three_class"):
        cond = regions.condition_grid(family, fine, fine)
        for r, b in enumerate(fine):
            for c, a in enumerate(fine):
                rows.append(
                    {
                        "family": family,
                        "a": a,
                        "b": b,
                        "grid": "conditions",
                        **{k: int(v[r, c]) for k, v in cond.items()},
                    }
                )
        fn = regions.MATRIX_FAMILIES[family]
        pred = regions.bayes_precision_grid(family, coarse, coarse)
        for r, b in enumerate(coarse):
            for c, a in enumerate(coarse):
                sim_cw, sim_gl = oracle_precision(fn(a, b), 4000 if quick else 20000, [seed, r, c])
                rows.append(
                    {
                        "family": family,
                        "a": a,
                        "b": b,
                        "grid": "simulated",
                        "predicted_classwise": pred[CLASSWISE.name][r, c],
                        "predicted_global": pred[GLOBAL.name][r, c],
                        "simulated_classwise": sim_cw,
                        "simulated_global": sim_gl,
                    }
                )
    return rows


def draw(t):

    fig, axes = figure(1, 2, size=(5.0, 4.4))
    cmap = ListedColormap(["#f2f2f2", "#9ecae1", "#3182bd"])
    titles = {
        "two_class": "T = [[1-a, a], [b, 1-b]]",
        "three_class": "T = [[1-a, a/2, a/2], [0, 1-b, b], [.05, .05, .9]]",
    }
    for ax, family in zip(axes[0], ("two_class", "three_class")):
        m = (t["family"] == family) & (t["grid"] == "conditions")
        a, b = t["a"][m], t["b"][m]
        na = np.unique(a).size
        shape = (np.unique(b).size, na)
        category = (t["column_dominant"][m] + t["globally_separable"][m]).reshape(shape)
        ax.imshow(
            category, origin="lower", extent=(0, 1, 0, 1), cmap=cmap, vmin=0, vmax=2, aspect="auto"
        )
        ax.contour(
            np.unique(a),
            np.unique(b),
            t["row_dominant"][m].reshape(shape),
            levels=[0.5],
            colors="k",
            linestyles="--",
            linewidths=1,
        )
        s = (t["family"] == family) & (t["grid"] == "simulated")
        exact = t["simulated_classwise"][s] >= 1
        glob_exact = t["simulated_global"][s] >= 1
        ax.scatter(
            t["a"][s][exact & glob_exact], t["b"][s][exact & glob_exact], s=10, c="k", marker="o"
        )
        ax.scatter(
            t["a"][s][exact & ~glob_exact],
            t["b"][s][exact & ~glob_exact],
            s=14,
            c="#d62728",
            marker="o",
        )
        ax.scatter(
            t["a"][s][~exact], t["b"][s][~exact], s=12, c="#555555", marker="x", linewidths=0.8
        )
        ax.set(xlabel="a", ylabel="b", title=titles[family])
        ax.title.set_fontsize(9)
    handles = [
        Patch(color="#3182bd", label="globally separable"),
        Patch(color="#9ecae1", label="column dominant only"),
        Patch(color="#f2f2f2", label="not column dominant"),
        axes[0][0].plot([], [], "k--", lw=1, label="row-dominance boundary")[0],
        axes[0][0].scatter([], [], c="k", s=10, label="simulated: both exact"),
        axes[0][0].scatter(
            [], [], c="#d62728", s=14, label="simulated: per-class exact, global not"
        ),
        axes[0][0].scatter(
            [], [], c="#555555", marker="x", s=12, label="simulated: per-class not exact"
        ),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=4,
        fontsize=7,
        frameon=False,
        bbox_to_anchor=(0.5, -0.08),
    )
    fig.suptitle("Where small-loss selection is exact under g* (oracle budget)", fontsize=10)
    return fig
