"""Figure 10: T from the labels alone, scored against clean labels the estimators never see."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from simulations import estimate, generate
from simulations.figures._common import RECORD, figure
from theory import noise
from theory.conditions import CONDITIONS, report
from theory.losses import cell_laws
from theory.noise import noise_rate
from theory.precision import global_, oracle_fractions, per_class

NAME = "estimation"
CAPTION = (
    "Estimating T without clean labels. Left: CIFAR-10N, Dawid-Skene on the three annotators "
    "(the clean labels only score it); 'worse' modelled by its rule beside the same posterior "
    "read as a vote. Middle: digits, one noisy label and 5-fold out-of-sample probabilities, "
    "T error per method (mean over seeds, bars = range). Right: how a T estimated from n "
    "items per class moves the predicted precision of the oracle-budget selection under g*. "
    "Far right: Dawid-Skene assumes annotators err independently; when they err together on "
    "hard items it under-counts their errors, which no sampling interval reveals."
)
ANNOTATORS = ["random1", "random2", "random3"]
SETTINGS = [(f, r) for f in ("symmetric", "pairwise", "structured", "uniform") for r in (0.2, 0.4)]
METHODS = ("confident", "anchor", "mixture")
SIZES = [30, 100, 300, 1000, 3000]


def _pairs_T(clean, noisy, c):
    return estimate.from_pairs(clean, noisy, c).T


def cifar10n_rows(draws: int, seed: int) -> list[dict]:
    z = noise.cifar10n_labels()
    clean, ann = z["clean"], np.column_stack([z[k] for k in ANNOTATORS])
    rows = []
    for name in [*ANNOTATORS, "worse", "aggre"]:
        truth = _pairs_T(clean, z[name], 10)
        target = None if name == "random1" else z[name]
        rules = ("auto", "observed") if name == "worse" else ("auto",)
        for rule in rules:
            e = estimate.from_annotators(ann, ANNOTATORS, 10, target, rule)
            Ts, priors, _ = estimate.draws(e, draws, seed)
            s = estimate.summarise(e, Ts, priors, 0.9)
            rep, ref = report(e.T, e.prior), report(truth, np.bincount(clean) / clean.size)
            agree = sum(getattr(rep, k) == getattr(ref, k) for k in CONDITIONS)
            rows.append({
                "kind": "cifar10n", "name": name, "method": "ds",
                "rule": e.details["rule"] or "annotator", "T_error": estimate.t_error(e.T, truth),
                "noise_rate": e.noise_rate, "noise_rate_low": s["noise_rate_low"],
                "noise_rate_high": s["noise_rate_high"],
                "true_noise_rate": float((z[name] != clean).mean()),
                "verdicts_agree": agree, "verdicts": len(CONDITIONS),
            })  # fmt: skip
    return rows


def digits_rows(quick: bool, seed: int) -> list[dict]:
    # torch is the optional extra smallloss[train]: only this panel trains
    from simulations.pipeline import TrainConfig, run_training

    seeds = 1 if quick else 3
    rows = []
    for family, rate in SETTINGS[::2] if quick else SETTINGS:
        T = noise.named(family, rate, 10)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(T=T, noise=family, out=tmp, seed=seed, seeds=seeds, cv=5,
                              epochs=10 if quick else 30, stage2=False, progress=False,
                              record=RECORD)  # fmt: skip
            run_training(cfg)
            files = [Path(tmp) / "losses.npz"] if seeds == 1 else sorted(Path(tmp).glob("*/*.npz"))
            for k, f in enumerate(files):
                with np.load(f) as z:
                    noisy, probs, T = z["noisy"], z["oof_probs"].astype(np.float64), z["T"]
                for method in METHODS:
                    e = estimate.from_probs(noisy, probs, 10, method)
                    rows.append({"kind": "digits", "noise": family, "rate": rate,
                                 "seed": seed + k, "method": method,
                                 "T_error": estimate.t_error(e.T, T)})  # fmt: skip
    return rows


def _loss_predictions(T, prior, fractions, sd=0.3):
    """Per-class and global precision at ``fractions`` under g* with smoothed laws (the two
    criteria the panel draws; ``predict_all`` also fits the GMM and confident learning,
    which more than doubled the panel's time)."""
    laws = cell_laws(T, prior=prior, sd=sd)
    total = float((prior @ T) @ fractions)
    return {
        "classwise": per_class(laws, T, prior, fractions),
        "global": global_(laws, T, prior, total),
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
                "pairs": lambda clean=clean, b=b: estimate.from_pairs(
                    clean, generate.noisy_labels(clean, T, b), c),
                "ds": lambda clean=clean, e1=e1: estimate.from_annotators(
                    np.column_stack([generate.noisy_labels(clean, T, s) for s in e1.spawn(3)]),
                    list("abc"), c),
            }  # fmt: skip
            for source, make in sources.items():
                e = make()
                f = oracle_fractions(e.T, e.prior)
                said = _loss_predictions(e.T, e.prior, f)
                got = _loss_predictions(T, p, f)
                for crit in ("classwise", "global"):
                    rows.append({"kind": "propagation", "source": source, "n_per_class": n,
                                 "draw": d, "criterion": crit, "T_error": estimate.t_error(e.T, T),
                                 "predicted": said[crit].precision,
                                 "achieved": got[crit].precision})  # fmt: skip
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
        e = estimate.from_annotators(ann, list("abc"), c)
        truth_T = _pairs_T(truth, ann[:, 0], c)
        rows.append({"kind": "correlated", "hard_share": hard,
                     "T_error": estimate.t_error(e.annotators["a"], truth_T),
                     "noise_rate": noise_rate(e.annotators["a"], e.prior),
                     "true_noise_rate": float((ann[:, 0] != truth).mean())})  # fmt: skip
    return rows


def compute(quick: bool, seed: int) -> list[dict]:
    return (
        cifar10n_rows(20 if quick else 100, seed)
        + digits_rows(quick, seed)
        + propagation_rows(5 if quick else 20, seed)
        + correlated_rows(10_000 if quick else 50_000, seed)
    )


def draw(t):
    fig, axes = figure(1, 4, size=(5.0, 4.2))
    ax = axes[0][0]
    m = t["kind"] == "cifar10n"
    labels = [f"{n}\n({r})" if n == "worse" else n for n, r in zip(t["name"][m], t["rule"][m])]
    x = np.arange(m.sum())
    ax.bar(x, t["T_error"][m], color="C0")
    for k, (a, b, lo, hi, v) in enumerate(zip(
            t["noise_rate"][m], t["true_noise_rate"][m], t["noise_rate_low"][m],
            t["noise_rate_high"][m], t["verdicts_agree"][m])):  # fmt: skip
        ax.text(k, t["T_error"][m][k] + 0.3, f"{a:.3f}\n[{lo:.3f},{hi:.3f}]\ntrue {b:.3f}\n"
                f"{v:.0f}/5 verdicts", ha="center", fontsize=5)  # fmt: skip
    ax.set_xticks(x, labels, fontsize=6)
    ax.set(ylabel="T error  sum|T_hat - T| / c x 100", title="CIFAR-10N, Dawid-Skene",
           ylim=(0, 1.3 * t["T_error"][m].max()))  # fmt: skip
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
        for crit, color in (("classwise", "C0"), ("global", "C3")):
            s = m & (t["source"] == source) & (t["criterion"] == crit)
            gap = np.abs(t["predicted"][s] - t["achieved"][s])
            ns = np.unique(t["n_per_class"][s])
            ax.plot(ns, [gap[t["n_per_class"][s] == n].mean() for n in ns], style, color=color,
                    marker="o", label=f"{crit}, {source}")  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="items per class", title="T-hat -> precision",
           ylabel="|predicted - achieved| precision (mean)")  # fmt: skip
    ax.legend(fontsize=7, frameon=False)
    ax = axes[0][3]
    m = t["kind"] == "correlated"
    ax.plot(t["hard_share"][m], t["T_error"][m], "o-", color="C0", label="T error (left)")
    ax.set(xlabel="share of items on which annotators err together", ylabel="T error",
           title="Dawid-Skene under correlated errors")  # fmt: skip
    twin = ax.twinx()
    twin.plot(t["hard_share"][m], t["true_noise_rate"][m], "k--", label="true noise rate")
    twin.plot(t["hard_share"][m], t["noise_rate"][m], "s-", color="C3", label="estimated")
    twin.set_ylabel("noise rate of annotator a")
    twin.legend(fontsize=7, frameon=False, loc="lower right")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig
