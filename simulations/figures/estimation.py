"""Figure 10: T from the labels alone, scored against clean labels the estimators never see."""

from __future__ import annotations

import numpy as np

from simulations.estimation import methods, transition
from simulations.figures._common import committed_sweep, figure
from simulations.selection.registry import CLASSWISE, GLOBAL
from simulations.synthetic import generate
from theory import noise
from theory.conditions import CONDITIONS, report
from theory.losses import cell_laws
from theory.noise import noise_rate
from theory.precision import global_, oracle_fractions, per_class

NAME = "estimation"
CAPTION = (
    "Estimating T without clean labels. Left: CIFAR-10N, Dawid-Skene (ds) and Dawid-Skene with "
    "easy items (ds-easy) on the three annotators (the clean labels only score them); 'worse' "
    "modelled by its rule beside the same posterior read as a vote. Middle: digits, one noisy "
    "label and 5-fold out-of-sample probabilities, T error per method (mean over seeds, "
    "bars = range). Right: how a T estimated from n "
    "items per class moves the predicted precision of the oracle-budget selection under g*. "
    "Far right: Dawid-Skene assumes annotators err independently; when they err together on "
    "hard items it under-counts their errors, which no sampling interval reveals, and easy "
    "items do not model errors that all fall on one confusable class."
)
ANNOTATORS = ["random1", "random2", "random3"]
SETTINGS = [(f, r) for f in ("symmetric", "pairwise", "structured", "uniform") for r in (0.2, 0.4)]
METHODS = methods.PROBS_METHODS
# the digits panel trains 24 networks x 6 (minutes): figures read its committed sweep
DIGITS_SWEEP = "estimate_digits"
SIZES = [30, 100, 300, 1000, 3000]


def _pairs_T(clean, noisy, c):
    return transition.from_pairs(clean, noisy, c).T


def cifar10n_rows(draws: int, seed: int) -> list[dict]:
    """Both crowd models on every CIFAR-10N label set. The same seed gives both the same
    bootstrap resamples, so their T errors on a resample pair up: how often the ranking of
    the two holds when the items are drawn again."""
    z = noise.cifar10n_labels()
    clean, ann = z["clean"], np.column_stack([z[k] for k in ANNOTATORS])
    rows = []
    for name in [*ANNOTATORS, "worse", "aggre"]:
        truth = _pairs_T(clean, z[name], 10)
        target = None if name == "random1" else z[name]
        rules = ("auto", "observed") if name == "worse" else ("auto",)
        for rule in rules:
            boot = {}
            for model in methods.CROWD_METHODS:
                e = transition.from_annotators(
                    ann, ANNOTATORS, 10, target, rule, model, independence=model == "ds-easy"
                )
                Ts, priors, _ = transition.draws(e, draws, seed)
                boot[model] = np.array([transition.t_error(T, truth) for T in Ts])
                s = transition.summarise(e, Ts, priors, 0.9)
                rep, ref = report(e.T, e.prior), report(truth, np.bincount(clean) / clean.size)
                agree = sum(getattr(rep, k) == getattr(ref, k) for k in CONDITIONS)
                row = {
                    "kind": "cifar10n",
                    "name": name,
                    "method": model,
                    "rule": e.details["rule"] or "annotator",
                    "T_error": transition.t_error(e.T, truth),
                    "noise_rate": e.noise_rate,
                    "noise_rate_low": s["noise_rate_low"],
                    "noise_rate_high": s["noise_rate_high"],
                    "true_noise_rate": float((z[name] != clean).mean()),
                    "verdicts_agree": agree,
                    "verdicts": len(CONDITIONS),
                }
                if model == "ds-easy":
                    diff = boot["ds-easy"] - boot["ds"]
                    row["independence_statistic"] = e.details["independence"]["statistic"]
                    row["independence_p"] = e.details["independence"]["p_value"]
                    low, high = np.quantile(diff, [0.05, 0.95])
                    row["boot_diff_low"], row["boot_diff_high"] = float(low), float(high)
                    row["boot_diff_median"] = float(np.median(diff))
                    row["boot_share_below"] = float((diff < 0).mean())
                rows.append(row)
    return rows


def digits_rows() -> list[dict]:
    """The committed sweep estimate_digits: T errors of each method per setting and seed,
    in the order of ``SETTINGS``."""
    runs = committed_sweep(DIGITS_SWEEP)
    order = {setting: k for k, setting in enumerate(SETTINGS)}
    runs.sort(key=lambda r: (order[r["setting_noise"], r["setting_rate"]], r["seed"]))
    return [
        {
            "kind": "digits",
            "noise": r["setting_noise"],
            "rate": r["setting_rate"],
            "seed": r["seed"],
            "method": method,
            "T_error": r[f"T_error_{method}"],
        }
        for r in runs
        for method in METHODS
    ]


def _loss_predictions(T, prior, fractions, sd=0.3):
    """Per-class and global precision at ``fractions`` under g* with smoothed laws (the two
    criteria the panel draws; ``predict_all`` also fits the GMM and confident learning,
    which more than doubled the panel's time)."""
    laws = cell_laws(T, prior=prior, sd=sd)
    total = float((prior @ T) @ fractions)
    return {
        CLASSWISE.name: per_class(laws, T, prior, fractions),
        GLOBAL.name: global_(laws, T, prior, total),
    }


def propagation_rows(draws: int, seed: int) -> list[dict]:
    """Predicted precision with T-hat (and budgets from T-hat) minus what those budgets give
    under the true T, both under g* with smoothed laws."""
    c = 10
    T = noise.named("pairwise", 0.3, c)
    p = np.full(c, 1.0 / c)
    rows = []
    ss = np.random.SeedSequence(seed)
    for n in SIZES:
        for d, child in enumerate(ss.spawn(draws)):
            a, b, e1, e2 = child.spawn(4)
            clean = generate.clean_labels(n * c, p, a)
            sources = {
                "pairs": lambda clean=clean, b=b: transition.from_pairs(
                    clean, generate.noisy_labels(clean, T, b), c
                ),
                "ds": lambda clean=clean, e1=e1: transition.from_annotators(
                    np.column_stack([generate.noisy_labels(clean, T, s) for s in e1.spawn(3)]),
                    list("abc"),
                    c,
                ),
            }
            for source, make in sources.items():
                e = make()
                f = oracle_fractions(e.T, e.prior)
                said = _loss_predictions(e.T, e.prior, f)
                got = _loss_predictions(T, p, f)
                for crit in (CLASSWISE.name, GLOBAL.name):
                    rows.append(
                        {
                            "kind": "propagation",
                            "source": source,
                            "n_per_class": n,
                            "draw": d,
                            "criterion": crit,
                            "T_error": transition.t_error(e.T, T),
                            "predicted": said[crit].precision,
                            "achieved": got[crit].precision,
                        }
                    )
    return rows


HARD = [0.0, 0.05, 0.1, 0.2, 0.3]


def correlated_rows(n: int, seed: int) -> list[dict]:
    """Dawid-Skene when annotators err together: a share of items is hard, and on a hard item
    every annotator independently says the true class or the item's one confusable class
    with equal odds; easy items follow symmetric 10% noise, independently."""
    c = 10
    rows = []
    rng = np.random.default_rng(seed)
    easy_T = noise.symmetric(0.1, c)
    confuser = noise.named("pairwise", 1.0, c)  # each class's one confusable neighbour
    for hard in HARD:
        truth = rng.integers(0, c, n)
        is_hard = rng.random(n) < hard
        z = confuser[truth].argmax(1)
        ann = []
        for _ in range(3):
            lab = generate.noisy_labels(truth, easy_T, int(rng.integers(1 << 31)))
            pick = rng.random(n) < 0.5
            ann.append(np.where(is_hard, np.where(pick, z, truth), lab))
        ann = np.column_stack(ann)
        truth_T = _pairs_T(truth, ann[:, 0], c)
        for model in methods.CROWD_METHODS:
            e = transition.from_annotators(ann, list("abc"), c, model=model)
            rows.append(
                {
                    "kind": "correlated",
                    "hard_share": hard,
                    "method": model,
                    "T_error": transition.t_error(e.annotators["a"], truth_T),
                    "noise_rate": noise_rate(e.annotators["a"], e.prior),
                    "true_noise_rate": float((ann[:, 0] != truth).mean()),
                }
            )
    return rows


COVERAGE = [(3, 3_000), (4, 3_000), (3, 10_000), (4, 10_000)]
COVERAGE_SWEEP = "estimate_coverage"  # 16,000 refits: committed, as the digits panel


def coverage_rows() -> list[dict]:
    """The committed sweep estimate_coverage (``simulations.experiments.cells.coverage_cell``):
    share of the first annotator's T entries inside each crowd model's 90% bootstrap
    interval, in worlds where a share 0.2-0.5 of the items is easy."""
    runs = committed_sweep(COVERAGE_SWEEP)
    order = {setting: k for k, setting in enumerate(COVERAGE)}
    runs.sort(key=lambda r: order[int(r["setting_classes"]), int(r["setting_n"])])
    return [
        {
            "kind": "coverage",
            "classes": r["setting_classes"],
            "n": r["setting_n"],
            "method": model,
            "draws": r["setting_draws"],
            "bootstrap": r["setting_bootstrap"],
            "coverage": r[f"coverage_{model.replace('-', '_')}"],
        }
        for r in runs
        for model in methods.CROWD_METHODS
    ]


def compute(quick: bool, seed: int) -> list[dict]:
    return (
        cifar10n_rows(transition.MIN_DRAWS if quick else 100, seed)
        + digits_rows()
        + propagation_rows(5 if quick else 20, seed)
        + correlated_rows(10_000 if quick else 50_000, seed)
        + coverage_rows()
    )


def draw(t):
    """Figure 10's four panels from its CSV alone.

    Parameters
    ----------
    t : dict of str to numpy.ndarray
        The CSV's columns (``simulations.figures.read_csv``).

    Returns
    -------
    matplotlib.figure.Figure
        One row of four panels.
    """
    fig, axes = figure(1, 4, size=(5.0, 4.2))
    ax = axes[0][0]
    for k, (model, color) in enumerate((("ds", "C0"), ("ds-easy", "C2"))):
        m = (t["kind"] == "cifar10n") & (t["method"] == model)
        x = np.arange(m.sum()) + (k - 0.5) * 0.4
        ax.bar(x, t["T_error"][m], 0.4, color=color, label=model)
        for j, (said, true) in enumerate(zip(t["noise_rate"][m], t["true_noise_rate"][m])):
            ax.text(
                x[j], t["T_error"][m][j] + 0.3, f"{said:.3f}\n{true:.3f}", ha="center", fontsize=4.5
            )
    labels = [f"{n}\n({r})" if n == "worse" else n for n, r in zip(t["name"][m], t["rule"][m])]
    ax.set_xticks(np.arange(m.sum()), labels, fontsize=6)
    ax.set(
        ylabel="T error  sum|T_hat - T| / c x 100",
        title="CIFAR-10N, three annotators (noise rate: estimated / true)",
        ylim=(0, 1.45 * t["T_error"][t["kind"] == "cifar10n"].max()),
    )
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax = axes[0][1]
    m = t["kind"] == "digits"
    keys = list(dict.fromkeys(zip(t["noise"][m], t["rate"][m])))
    for k, method in enumerate(METHODS):
        mean, lo, hi = [], [], []
        mm = m & (t["method"] == method)
        for fam, rate in keys:
            v = t["T_error"][mm & (t["noise"] == fam) & (t["rate"] == rate)]
            mean.append(v.mean()), lo.append(v.mean() - v.min()), hi.append(v.max() - v.mean())
        ax.bar(np.arange(len(keys)) + (k - 1) * 0.27, mean, 0.27, yerr=[lo, hi], label=method)
    ax.set_xticks(range(len(keys)), [f"{f[:4]} {r:g}" for f, r in keys], rotation=40, fontsize=6)
    ax.set(ylabel="T error", title="digits, one noisy label + out-of-fold probabilities")
    ax.legend(fontsize=7, frameon=False)
    ax = axes[0][2]
    m = t["kind"] == "propagation"
    for source, style in (("pairs", "-"), ("ds", "--")):
        for crit, color in ((CLASSWISE.name, "C0"), (GLOBAL.name, "C3")):
            s = m & (t["source"] == source) & (t["criterion"] == crit)
            gap = np.abs(t["predicted"][s] - t["achieved"][s])
            ns = np.unique(t["n_per_class"][s])
            ax.plot(
                ns,
                [gap[t["n_per_class"][s] == n].mean() for n in ns],
                style,
                color=color,
                marker="o",
                label=f"{crit}, {source}",
            )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="items per class",
        title="T-hat -> precision",
        ylabel="|predicted - achieved| precision (mean)",
    )
    ax.legend(fontsize=7, frameon=False)
    ax = axes[0][3]
    twin = ax.twinx()
    for model, style in (("ds", "-"), ("ds-easy", ":")):
        m = (t["kind"] == "correlated") & (t["method"] == model)
        for axis, column, marker, color, label in (
            (ax, "T_error", "o", "C0", f"T error, {model} (left)"),
            (twin, "noise_rate", "s", "C3", f"estimated, {model}"),
        ):
            axis.plot(t["hard_share"][m], t[column][m], marker + style, color=color, label=label)
    ax.set(
        xlabel="share of items on which annotators err together",
        ylabel="T error",
        title="correlated errors",
    )
    twin.plot(t["hard_share"][m], t["true_noise_rate"][m], "k--", label="true noise rate")
    twin.set_ylabel("noise rate of annotator a")
    twin.legend(fontsize=6, frameon=False, loc="lower right")
    ax.legend(fontsize=6, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig
