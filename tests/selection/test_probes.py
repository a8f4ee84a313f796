"""Probe samples: in-sample cell laws from clean validation samples trained on with labels
drawn from T; the estimator on synthetic losses, and the loop's bookkeeping."""

import json

import numpy as np
import pytest

from simulations.selection import bounds, predict, rules
from simulations.selection.budgets import (
    Budgets,
    expected_clean_budgets,
    target_selections,
)
from simulations.selection.scores import mean_loss
from simulations.synthetic import generate
from simulations.training import report
from simulations.training.config import TrainConfig
from simulations.training.run import run_training, stage2_sets
from theory import losses, noise, precision


def synthetic_run(seed, n, m, T, prior):
    """Losses of n training samples and m probes from the same in-sample laws: a lognormal per
    cell whose median grows when the observed label is not the clean one."""
    rng = np.random.default_rng(seed)
    c = len(T)
    clean = rng.choice(c, n + m, p=prior)
    noisy = generate.noisy_labels(clean, T, seed + 1).astype(np.int64)
    scale = np.where(clean == noisy, 0.2, 0.6) * (1 + 0.1 * clean)
    epochs = 4
    L = rng.lognormal(np.log(scale)[:, None], 0.7, (n + m, epochs))
    return L[:n], clean[:n], noisy[:n], L[n:], clean[n:], noisy[n:]


def probe_predictions(P, p_clean, p_noisy, val_laws, noisy, prior, T, b):
    """What the loop does with probes: their cell laws, then the loss criteria's predictions."""
    single, mean, counts = predict.probe_laws(P, p_clean, p_noisy, val_laws, T)
    return predict.law_predictions(single, mean, noisy, prior, T, b), counts


PAIRWISE, PRIOR = noise.pairwise(0.35, 4), np.array([0.4, 0.3, 0.2, 0.1])


def pairwise_run(seed):
    """40,000 training samples and 8,000 probes under 35% pairwise noise and a 4:1 prior, with
    the budgets (per-class and RSL alike) of the clean counts T expects."""
    run = synthetic_run(seed, 40_000, 8_000, PAIRWISE, PRIOR)
    clean_counts = expected_clean_budgets(np.bincount(run[2], minlength=4), PAIRWISE, PRIOR)
    return run, Budgets(clean_counts, clean_counts, "x")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_probe_laws_predict_the_training_sets_precision(seed):
    T, prior = PAIRWISE, PRIOR
    (L, clean, noisy, P, p_clean, p_noisy), b = pairwise_run(seed)
    empty = [[None] * 4 for _ in range(4)]
    pred, counts = probe_predictions(P, p_clean, p_noisy, (empty, empty), noisy, prior, T, b)
    kept = rules.select_per_class(L[:, -1], noisy, b.classwise)
    observed = float((clean[kept] == noisy[kept]).mean())
    assert pred["single"]["classwise"] == pytest.approx(observed, abs=0.01)
    kept = rules.select_per_class(mean_loss(L), noisy, b.rsl)
    assert pred["mean"]["rsl"] == pytest.approx(
        float((clean[kept] == noisy[kept]).mean()), abs=0.01
    )
    # the counts are the probes' cells, zero where T cannot put a sample
    want = [[int(((p_clean == i) & (p_noisy == j)).sum()) for j in range(4)] for i in range(4)]
    assert counts == want and counts[0][2] == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_probe_counts_predict_the_training_sets_precision(seed):
    # the mislabelled probes below each class's threshold, with no law and no T in between
    (L, clean, noisy, P, p_clean, p_noisy), b = pairwise_run(seed)
    for scores, probes in ((L[:, -1], P[:, -1]), (mean_loss(L), mean_loss(P))):
        counts = bounds.Counts(scores, noisy, probes, p_clean, p_noisy, 4)
        kept = {
            "global": rules.select_global(scores, int(b.classwise.sum())),
            "classwise": rules.select_per_class(scores, noisy, b.classwise),
            "rsl": rules.select_per_class(scores, noisy, b.rsl),
        }
        for name, mask in kept.items():
            got = counts.of_selection(mask)
            assert got.bound is None
            observed = float((clean[mask] == noisy[mask]).mean())
            assert got.point == pytest.approx(observed, abs=0.01)
            assert got.low <= observed <= got.high, name


def test_an_empty_probe_cell_takes_the_validation_law():
    T = noise.pairwise(0.35, 3)
    prior = np.full(3, 1 / 3)
    L, clean, noisy, P, p_clean, p_noisy = synthetic_run(5, 3_000, 300, T, prior)
    drop = (p_clean == 0) & (p_noisy == 1)
    P, p_clean, p_noisy = P[~drop], p_clean[~drop], p_noisy[~drop]
    b = Budgets(np.full(3, 500), np.full(3, 500), "x")
    far = losses.Empirical([50.0])  # a law no probe could give
    fill = [[far] * 3 for _ in range(3)]
    with_fill, counts = probe_predictions(P, p_clean, p_noisy, (fill, fill), noisy, prior, T, b)
    none = [[None] * 3 for _ in range(3)]
    without, _ = probe_predictions(P, p_clean, p_noisy, (none, none), noisy, prior, T, b)
    assert counts[0][1] == 0
    # a noisy cell pushed far out is never selected: observed class 1 looks cleaner with it
    assert with_fill["single"]["classwise"] > without["single"]["classwise"]


torch = pytest.importorskip("torch")
from simulations.cli import main  # noqa: E402

LOOP = ["train", "--classes", "10", "--epochs", "3", "--stage2-epochs", "1", "--cv", "0", "--json"]
ARGV = [*LOOP, "--noise", "pairwise", "--rate", "0.4"]


def test_probes_train_in_stage_one_and_are_never_selected(capsys, tmp_path):
    assert main([*ARGV, "--out", str(tmp_path / "a")]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*ARGV, "--out", str(tmp_path / "b"), "--probes", "0.5"]) == 0
    r = json.loads(capsys.readouterr().out)
    n_val = plain["n_val"]
    assert r["probes"]["count"] == round(0.5 * n_val) and r["n_val"] == n_val - r["probes"]["count"]
    assert r["n_train"] == plain["n_train"]
    assert sum(map(sum, r["probes"]["cell_counts"])) == r["probes"]["count"]
    assert (r["predicted_from"], plain["predicted_from"]) == ("probe counts", "validation")
    for name in ("global", "classwise", "rsl"):
        c, p = r["criteria"][name], plain["criteria"][name]
        assert 0 < c["predicted_precision_probes"] <= 1
        assert "predicted_precision_probes" not in p
        # the headline prediction is the probes' count where there are probes, else validation
        for v in ("single_epoch", "mean_loss"):
            for end in ("", "_low", "_high"):
                got = c[f"predicted_precision_{v}{end}"]
                assert got == c[f"predicted_precision_counts_{v}{end}"]
                assert (
                    p[f"predicted_precision_{v}{end}"]
                    == p[f"predicted_precision_validation_{v}{end}"]
                )
        assert c["predicted_precision"] == c["predicted_precision_counts"]
        assert c["predicted_precision_low"] <= c["predicted_precision"]
        assert c["predicted_precision"] <= c["predicted_precision_high"]
    z = np.load(r["run_file"])
    probe = z["probe"]
    assert probe.sum() == r["probes"]["count"] and (~probe).sum() == r["n_train"]
    assert z["losses"].shape == (r["n_train"] + r["probes"]["count"], 3)
    assert not probe[: r["n_train"]].any()  # the training samples first, then the probes
    # the probes' labels come from T: pairwise flips i to i + 1 only
    p_clean, p_noisy = z["clean"][probe], z["noisy"][probe]
    flipped = p_noisy != p_clean
    assert np.all(p_noisy[flipped] == (p_clean[flipped] + 1) % 10)
    assert 0.2 < flipped.mean() < 0.6


@pytest.mark.parametrize(
    "argv, needle",
    [
        ([*ARGV, "--probes", "1"], "--probes"),
        ([*ARGV, "--probes", "-0.1"], "--probes"),
        ([*ARGV, "--probes", "0.9999"], "--probes"),
    ],
)
def test_bad_probes(capsys, tmp_path, argv, needle):
    code = main([*argv, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err


def test_target_budgets_on_probe_laws_reach_the_target_on_the_training_set():
    T = noise.pairwise(0.35, 4)
    prior = np.array([0.4, 0.3, 0.2, 0.1])
    L, clean, noisy, P, p_clean, p_noisy = synthetic_run(7, 40_000, 8_000, T, prior)
    empty = [[None] * 4 for _ in range(4)]
    single, mean, _ = predict.probe_laws(P, p_clean, p_noisy, (empty, empty), T)
    chosen = target_selections(L, single, mean, noisy, prior, T, 0.95)
    out = {}
    for name, row in chosen.items():
        m = rules.metrics(row["mask"], clean, noisy, 4)
        out[name] = {**row, **{k: m[k] for k in ("observed_precision", "selected")}}
    for name in ("global", "classwise", "rsl"):
        c = out[name]
        assert c["observed_precision"] == pytest.approx(c["predicted_precision"], abs=0.01), name
        if name != "rsl":
            assert c["predicted_precision"] == pytest.approx(0.95, abs=1e-6)
    # RSL's budgets only shrink: its own already reach 0.98 here, so they stay whole
    assert out["rsl"]["predicted_precision"] > 0.95
    whole = np.floor(precision.rsl_fractions(T, prior) * np.bincount(noisy, minlength=4) + 1e-9)
    assert out["rsl"]["budgets"] == whole.astype(int).tolist()
    for name in ("global", "classwise", "rsl"):
        c = out[name]
        assert c["selected"] == (c["budgets"] if name == "global" else sum(c["budgets"]))
    # Co-teaching's rule keeps 1 - noise rate whatever precision that gives
    rule = out["coteaching_rule"]
    assert rule["selected"] == int(np.floor((1 - noise.noise_rate(T, prior)) * noisy.size))
    assert rule["observed_precision"] < 0.95 and rule["selected"] > out["global"]["selected"]


def test_train_keep_target(capsys, tmp_path):
    argv = [*ARGV, "--out", str(tmp_path), "--probes", "0.5", "--keep", "target:0.9"]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    t = r["target"]
    assert t["precision"] == 0.9 and t["laws"] == "probes"
    assert set(t["criteria"]) == {"global", "classwise", "rsl", "coteaching_rule"}
    z = np.load(r["run_file"])
    scored = ~z["probe"]
    is_clean = z["clean"][scored] == z["noisy"][scored]
    for name in ("global", "classwise", "rsl"):
        c = t["criteria"][name]
        assert {
            "predicted_precision",
            "observed_precision",
            "observed_recall",
            "selected",
            "budgets",
        } <= set(c)
        kept_clean = c["observed_precision"] * c["selected"]
        assert c["observed_recall"] == pytest.approx(kept_clean / is_clean.sum())
        # stage 2 trains a fresh network on exactly this selection
        arm = r["test_accuracy"][f"target_{name}"]
        assert arm["train_size"] == c["selected"]
        assert arm["train_precision"] == pytest.approx(c["observed_precision"])
    per_class = np.array(t["criteria"]["classwise"]["budgets"])
    sizes = np.bincount(z["noisy"][scored], minlength=10)
    assert per_class.shape == (10,) and np.all(per_class <= sizes)
    assert main([*ARGV, "--out", str(tmp_path), "--keep", "oracle"]) == 2
    assert "target:P only" in capsys.readouterr().err
    text = [a for a in argv if a != "--json"] + ["--no-progress"]
    assert main(text) == 0
    out = capsys.readouterr().out
    assert "--keep target:0.9 (budgets from the probes laws)" in out and "coteaching_rule" in out


def test_stage2_trains_on_each_target_selection_that_keeps_something():
    from simulations.training import arms

    rng = np.random.default_rng(0)
    n = 300
    noisy = rng.integers(0, 4, n)
    L = rng.random((n, 3))
    masks = {a.mask: rng.random(n) < 0.5 for a in arms.REGISTRY if a.mask}
    some = rng.random(n) < 0.3
    masks |= {"target_global": some, "target_classwise": np.zeros(n, bool)}
    plain = stage2_sets(arms.chosen(arms.DEFAULT, keep=False), masks, L, noisy)
    sets = stage2_sets(arms.chosen(arms.DEFAULT, keep=True), masks, L, noisy)
    assert np.array_equal(sets["target_global"][0], some) and sets["target_global"][1] is None
    assert "target_classwise" not in sets  # nothing to train on
    assert all(np.array_equal(sets[k][0], plain[k][0]) for k in plain)


def test_seeds_combine_only_the_arms_every_seed_trained():
    def run(seed, arms):
        acc = {
            a: {
                "last": 0.8 + seed / 100,
                "best_val": 0.8,
                "train_size": 10.0,
                "train_precision": 0.9,
            }
            for a in arms
        }
        return {
            "seed": seed,
            "warnings": [],
            "noise_rate": 0.2,
            "realised_noise_rate": 0.2,
            "criteria": {"global": {"observed_precision": 0.9}},
            "test_accuracy": acc,
            "loss_matrix": f"seed-{seed}",
        }

    # seed 1's target selection for RSL kept nothing, so it has no target_rsl arm
    record = report.combine([run(0, ["ce_all", "target_rsl"]), run(1, ["ce_all"])])
    assert set(record["test_accuracy"]) == {"ce_all"}
    assert record["test_accuracy"]["ce_all"]["mean"] == pytest.approx(0.805)


@pytest.mark.parametrize("stage2", [False, True])
def test_an_empty_target_selection_is_named_only_where_stage_2_runs(stage2, tmp_path):
    # at 0.9999 after 3 epochs some criterion keeps nothing; without stage 2 there is no arm
    # to leave out, so no warning
    cfg = TrainConfig(
        T=noise.pairwise(0.4, 10),
        epochs=3,
        stage2_epochs=1,
        cv=0,
        keep="target:0.9999",
        stage2=stage2,
        progress=False,
        out=str(tmp_path),
    )
    r = run_training(cfg)
    empty = [
        n
        for n, c in r["target"]["criteria"].items()
        if n != "coteaching_rule" and not c["selected"]
    ]
    assert empty
    named = [w for w in r["warnings"] if "so stage 2 has no target_" in w]
    assert len(named) == (len(empty) if stage2 else 0)
    assert all(f"target_{n}" not in r["test_accuracy"] for n in empty)
