"""Figure 16: a confidence level that survives the search for the largest budget. Three ways
to choose, from the same probes, the largest budget whose precision is at least P with
confidence L: the band of ``simulations.selection.bounds`` (shipped), the exact bound of one
fixed threshold applied at every threshold searched (the search's known failure), and
Learn-then-Test as MAPIE runs it (Bentkus p-values, Holm's correction over 10 budgets); and
the procedure shipped before, a Clopper-Pearson bound on the mislabelled probes scaled by the
mislabelled count T expects, searched the same way."""

from __future__ import annotations

import numpy as np
from scipy.stats import beta, nbinom

from simulations.figures._common import figure
from simulations.selection import bounds
from simulations.synthetic import exchangeable
from theory import noise, precision

NAME = "bound_search"
CAPTION = (
    "Global ranking, target P = 0.9, n = 3,000 training samples, 60 / 100 / 333 probes (about "
    "18 / 30 / 100 mislabelled), confidence L = 0.9 and 0.5. Left: the share of draws whose "
    "kept set is empty or reaches P (the guarantee; the dashed line is L, the dotted one L "
    "minus 2 binomial sd), under losses that separate the labels (lognormal, pairwise 30%) "
    "and under scores that say nothing (symmetric 12%: no kept set can reach P). Right: how "
    "many samples each keeps on average where the losses separate."
)
PROBES = (60, 100, 333)
LEVELS = (0.9, 0.5)
TARGET = 0.9
METHODS = ("band", "pointwise", "mapie", "previous")
LABELS = {
    "band": "simultaneous band (shipped)",
    "pointwise": "one-threshold bound, searched",
    "mapie": "Learn-then-Test (MAPIE, Holm)",
    "previous": "Clopper-Pearson x T's count (before)",
}
COLORS = {"band": "#2ca02c", "pointwise": "#d62728", "mapie": "#1f77b4", "previous": "#7f7f7f"}
PAIRWISE, PRIOR = noise.pairwise(0.3, 4), np.array([0.4, 0.3, 0.2, 0.1])
MAPIE_GRID = 10


def pointwise_band(n: int, R: int, level: float, target: float) -> np.ndarray:
    """Each count's bound at one fixed threshold, used at every threshold: valid for one."""
    u = nbinom.ppf(level, np.arange(1, R + 2), R / (n + R))
    return u[: int(np.searchsorted(u, (1 - target) * n, side="right"))]


def _kept_by_band(u, y, n) -> int:
    return bounds._largest(y, np.arange(1, n + 1), u, TARGET)


def _mapie(y_at, R: int, n: int, level: float) -> int:
    """Learn-then-Test over ``MAPIE_GRID`` budgets: a probe's loss is 'mislabelled and kept',
    a budget's risk limit the share (1 - P) k / n at which its precision is P."""
    from mapie.risk_control.fwer_control import control_fwer
    from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value

    ks = np.unique(np.linspace(1, n, MAPIE_GRID).astype(int))
    limits = np.minimum((1 - TARGET) * ks / n, 1 - 1e-12)
    p_values = np.array(
        [
            compute_hoeffding_bentkus_p_value(np.array([y_at[k - 1] / R]), R, float(lim), True)
            for k, lim in zip(ks, limits)
        ]
    ).ravel()
    valid = control_fwer(p_values, 1 - level, fwer_method="bonferroni_holm")
    return int(ks[np.max(valid)]) if len(valid) else 0


def _previous(y_at, bad: int, m: float, n: int, level: float) -> int:
    """The shipped-before search: 1 - m U(x, r) / k at every k, U Clopper-Pearson's."""
    x = y_at.astype(float)
    up = np.where(x >= bad, 1.0, beta.ppf(level, x + 1, np.maximum(bad - x, 1)))
    ok = np.flatnonzero(1 - m * up / np.arange(1, n + 1) >= TARGET - 1e-12)
    return int(ok[-1]) + 1 if ok.size else 0


def _one(draw, R: int, level: float, T, prior, with_mapie: bool) -> dict:
    L, clean, noisy, PL, p_clean, p_noisy = draw
    scores, probe_scores = (L[:, -1], PL[:, -1]) if L.ndim == 2 else (L, PL)
    n = scores.size
    order = np.argsort(scores, kind="stable")
    bad = p_clean != p_noisy
    y_at = np.searchsorted(np.sort(probe_scores[bad]), scores[order], side="right")
    m = float(n * (1 - precision.oracle_fractions(T, prior)) @ (prior @ T))
    kept = {
        "band": _kept_by_band(bounds.band(n, R, level, TARGET), y_at, n),
        "pointwise": _kept_by_band(pointwise_band(n, R, level, TARGET), y_at, n),
        "previous": _previous(y_at, int(bad.sum()), m, n, level),
    }
    if with_mapie:
        kept["mapie"] = _mapie(y_at, R, n, level)
    out = {}
    for method, k in kept.items():
        chosen = order[:k]
        reached = k == 0 or (clean[chosen] == noisy[chosen]).mean() >= TARGET
        out[method] = (k, bool(reached))
    return out


def compute(quick: bool, seed: int) -> list[dict]:
    """The four procedures on the same draws: ``quick`` 100 draws a cell, else 1,000 (200
    for MAPIE's, whose p-values are computed one budget at a time)."""
    draws = 100 if quick else 1_000
    flat_T = noise.symmetric(0.12, 4)
    rows = []
    for model in ("lognormal", "uninformative"):
        T, prior = (PAIRWISE, PRIOR) if model == "lognormal" else (flat_T, np.full(4, 0.25))
        for R in PROBES:
            for level in LEVELS:
                results = []
                for s in range(draws):
                    if model == "lognormal":
                        d = exchangeable.lognormal_losses(seed + s, 3_000, R, T, prior)
                    else:
                        d = exchangeable.uninformative(seed + s, 3_000, R, 0.12)
                    results.append(_one(d, R, level, T, prior, with_mapie=s < 200))
                for method in METHODS:
                    got = [r[method] for r in results if method in r]
                    kept = [k for k, _ in got]
                    rows.append(
                        {
                            "model": model,
                            "probes": R,
                            "level": level,
                            "method": method,
                            "draws": len(got),
                            "reached": float(np.mean([ok for _, ok in got])),
                            "kept_something": float(np.mean([k > 0 for k in kept])),
                            "reached_when_kept": _when_kept(got),
                            "mean_kept": float(np.mean(kept)),
                        }
                    )
    return rows


def _when_kept(got) -> float | None:
    kept = [ok for k, ok in got if k > 0]
    return float(np.mean(kept)) if kept else None


def draw(t):
    fig, axes = figure(1, 3, size=(4.6, 3.6))
    x = np.arange(len(PROBES) * len(LEVELS))
    width = 0.8 / len(METHODS)
    ticks = [f"{R}\nL={L:g}" for R in PROBES for L in LEVELS]
    for ax, model in zip(axes[0][:2], ("lognormal", "uninformative")):
        for k, method in enumerate(METHODS):
            m = (t["model"] == model) & (t["method"] == method)
            values = [
                t["reached"][m & (t["probes"] == R) & np.isclose(t["level"], L)][0]
                for R in PROBES
                for L in LEVELS
            ]
            pos = x + (k - (len(METHODS) - 1) / 2) * width
            ax.bar(pos, values, width, color=COLORS[method], label=LABELS[method])
        for i, (_, L) in enumerate((R, L) for R in PROBES for L in LEVELS):
            sd = np.sqrt(L * (1 - L) / 1_000)
            ax.plot([i - 0.45, i + 0.45], [L, L], "k--", lw=0.8)
            ax.plot([i - 0.45, i + 0.45], [L - 2 * sd] * 2, "k:", lw=0.8)
        ax.set_xticks(x, ticks, fontsize=6.5)
        ax.set(ylim=(0, 1.05), ylabel="share: empty or precision >= P", title=f"{model} scores")
    ax = axes[0][2]
    for k, method in enumerate(METHODS):
        m = (t["model"] == "lognormal") & (t["method"] == method)
        values = [
            t["mean_kept"][m & (t["probes"] == R) & np.isclose(t["level"], L)][0]
            for R in PROBES
            for L in LEVELS
        ]
        ax.bar(x + (k - (len(METHODS) - 1) / 2) * width, values, width, color=COLORS[method])
    ax.set_xticks(x, ticks, fontsize=6.5)
    ax.set(ylabel="samples kept (mean over draws)", title="what each keeps (lognormal)")
    axes[0][0].legend(fontsize=6.5, frameon=False, loc="lower left")
    return fig
