"""Figure 2: clean and noisy loss laws of one observed class, theory over simulated histograms."""

from __future__ import annotations

import numpy as np

from simulations.figures._common import figure
from simulations.synthetic import generate
from theory import losses, noise
from theory.noise import class_noise_rates

NAME = "loss_laws"
CAPTION = (
    "Loss laws of the perturbed model (eps = 0.3): the closed-form clean and noisy densities of "
    "one "
    "observed class lie on the simulated histograms; the paper's two atoms become two spread laws."
)
EPS = 0.3
PANELS = [
    ("symmetric", noise.symmetric(0.4, 10), 0),
    ("pairwise", noise.pairwise(0.4, 10), 1),
    ("structured", noise.structured_cifar10(0.4), 3),
]


def compute(quick: bool, seed: int) -> list[dict]:
    n = 60_000 if quick else 400_000
    rows = []
    for k, (name, T, j) in enumerate(PANELS):
        c = len(T)
        ss = np.random.SeedSequence([seed, k]).spawn(3)
        clean = generate.clean_labels(n, np.full(c, 1 / c), ss[0])
        noisy = generate.noisy_labels(clean, T, ss[1])
        model = generate.Model("perturbed", T, epsilon=EPS)
        loss = generate.observed_losses(model, clean, noisy, ss[2]).astype(np.float64)
        laws = losses.cell_laws(T, "perturbed", epsilon=EPS)
        in_j = noisy == j
        edges = np.linspace(loss[in_j].min(), np.quantile(loss[in_j], 0.995), 61)
        mids, width = 0.5 * (edges[1:] + edges[:-1]), edges[1] - edges[0]
        eta = class_noise_rates(T)[j]
        for part, mask, share in (
            ("clean", in_j & (clean == j), 1 - eta),
            ("noisy", in_j & (clean != j), eta),
        ):
            hist = np.histogram(loss[mask], bins=edges)[0] / (in_j.sum() * width)
            theory = share * losses.class_law(laws, T, None, j, part).pdf(mids)
            for x, h, th in zip(mids, hist, theory):
                rows.append(
                    {
                        "panel": name,
                        "observed_class": j,
                        "part": part,
                        "loss": x,
                        "simulated_density": h,
                        "theory_density": th,
                    }
                )
        with np.errstate(divide="ignore"):
            for i in range(c):
                if T[i, j] > 0:
                    rows.append(
                        {
                            "panel": name,
                            "observed_class": j,
                            "part": "atom_clean" if i == j else "atom_noisy",
                            "loss": float(-np.log(T[i, j])),
                        }
                    )
    return rows


def draw(t):
    fig, axes = figure(1, 3, size=(4.2, 3.4))
    colors = {"clean": "#1f77b4", "noisy": "#d62728"}
    for ax, (name, _, j) in zip(axes[0], PANELS):
        for part in ("clean", "noisy"):
            m = (t["panel"] == name) & (t["part"] == part)
            x = t["loss"][m]
            ax.bar(
                x,
                t["simulated_density"][m],
                width=x[1] - x[0],
                color=colors[part],
                alpha=0.35,
                label=f"{part}: simulated",
            )
            ax.plot(x, t["theory_density"][m], color=colors[part], lw=1.6, label=f"{part}: theory")
            a = (t["panel"] == name) & (t["part"] == f"atom_{part}")
            for v in t["loss"][a]:
                ax.axvline(v, color=colors[part], ls=":", lw=1)
        ax.set(
            title=f"{name} 0.4, observed class {j}", xlabel="loss  -log g(x)[j]", ylabel="density"
        )
        ax.title.set_fontsize(9)
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.suptitle(
        f"Loss laws under the perturbed model (eps = {EPS}); dotted: the paper's atoms -log T_ij",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
