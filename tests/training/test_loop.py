"""The real-data loop's correctness: inputs that train, a run that does not learn says so,
out-of-sample probabilities, Co-teaching, RSL's budgets, several seeds."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simulations.cli import main  # noqa: E402
from simulations.selection.budgets import budgets  # noqa: E402
from simulations.training import data  # noqa: E402
from simulations.training.config import TrainConfig  # noqa: E402
from simulations.training.loop import Recipe, fit, fresh_model, predict  # noqa: E402
from simulations.training.stages import Tensors, out_of_fold_probs  # noqa: E402
from simulations.training.two_networks import coteaching  # noqa: E402
from theory import noise, rsl  # noqa: E402
from theory.errors import InputError  # noqa: E402


def run(capsys, tmp_path, *extra, dataset="digits", epochs="3", stage2="2"):
    argv = [
        "train",
        "--dataset",
        dataset,
        "--noise",
        "pairwise",
        "--rate",
        "0.3",
        "--classes",
        "10",
        "--epochs",
        epochs,
        "--stage2-epochs",
        stage2,
        "--cv",
        "2",
        "--out",
        str(tmp_path),
        "--json",
        *extra,
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def digits_as_saved(tmp_path, dtype=np.uint8, shuffle=False):
    """Digits as people save images: uint8 0..255, one label per item."""
    d = data.load_digits(scale=False)
    X = np.round(d.X * 255 / 16).astype(dtype)
    if shuffle:  # features that carry no information about the labels
        X = np.random.default_rng(0).permutation(X.ravel()).reshape(X.shape)
    path = tmp_path / "digits.npz"
    np.savez(path, X=X, y=d.y)
    return f"npz:{path}"


def test_uint8_images_are_scaled_to_the_unit_interval(tmp_path):
    ds = data.load(digits_as_saved(tmp_path))
    assert ds.X.dtype == np.float32 and ds.X.min() == 0 and ds.X.max() == 1.0
    assert ds.scaling == "uint8 divided by 255, to [0, 1]" and not ds.standardise
    raw = data.load(digits_as_saved(tmp_path), scale=False)
    assert raw.X.max() == 255 and raw.scaling == "none"


def test_float_features_are_standardised_on_the_training_split_only():
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, (100, 4)).astype(np.float32)
    X[:, 3] = 7.0  # a constant feature keeps its spread of 1
    rows = np.arange(60)
    other = rng.normal(0, 1, (10, 4)).astype(np.float32)
    Xs, Os = data.standardised(X, rows, other)
    np.testing.assert_allclose(Xs[rows, :3].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Xs[rows, :3].std(axis=0), 1, atol=1e-5)
    assert np.all(Xs[:, 3] == 0)
    # rows outside the training split do not move the statistics
    X2 = X.copy()
    X2[60:] += 1000
    np.testing.assert_array_equal(data.standardised(X2, rows)[0][rows], Xs[rows])
    mean, sd = X[rows, 0].astype(np.float64).mean(), X[rows, 0].astype(np.float64).std()
    np.testing.assert_allclose(Os[:, 0], (other[:, 0] - mean) / sd, rtol=1e-5)


@pytest.mark.slow
def test_uint8_images_train_and_select(capsys, tmp_path):
    r, err = run(capsys, tmp_path, dataset=digits_as_saved(tmp_path), epochs="20", stage2="20")
    assert r["scaling"] == "uint8 divided by 255, to [0, 1]" and r["warnings"] == [] and not err
    assert r["test_accuracy"]["ce_early_stopped"]["mean"] > 0.85
    for name in ("global", "classwise", "rsl"):  # well above 1 - noise rate = 0.7
        assert r["criteria"][name]["observed_precision_mean_loss"] > 0.85, name
    for name in ("confident", "cleanlab"):  # out-of-fold probabilities: a real selection
        assert r["criteria"][name]["selected"] < 0.95 * r["n_train"], name
        assert r["criteria"][name]["observed_precision"] > 0.8, name


def test_a_run_that_does_not_learn_says_so(capsys, tmp_path):
    r, err = run(capsys, tmp_path, dataset=digits_as_saved(tmp_path, shuffle=True))
    assert len(r["warnings"]) == 1 and "did not learn" in r["warnings"][0]
    assert "smallloss: warning: the network did not learn" in err
    assert (tmp_path / "run.npz").exists() and (tmp_path / "record.json").exists()


def test_out_of_fold_probabilities_do_not_see_their_own_labels():
    rng = np.random.default_rng(1)
    n, c = 200, 2
    X = torch.as_tensor(rng.normal(size=(n, 20)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, c, n))  # labels that only memorisation can fit
    t = Tensors(X, y, (X[:10], y[:10]), (X[:10], y[:10]), (20,), c)
    model = fresh_model("mlp", (20,), c, 0, torch.device("cpu"))
    fit(model, X, y, Recipe(epochs=60), seed=0)
    in_sample = (predict(model, X).argmax(1) == y).float().mean().item()
    oof = out_of_fold_probs("mlp", t, 4, Recipe(epochs=60), seed=0, progress=False)
    out_of_fold = float((oof.argmax(1) == y.numpy()).mean())
    assert in_sample > 0.95 and abs(out_of_fold - 0.5) < 0.15
    np.testing.assert_allclose(oof.sum(axis=1), 1, rtol=1e-5)


def test_out_of_fold_probabilities_when_the_last_class_is_never_observed():
    rng = np.random.default_rng(4)
    X = torch.as_tensor(rng.normal(size=(60, 5)), dtype=torch.float32)
    y = torch.as_tensor(np.arange(60) % 2)  # 3 classes, class 2 never observed
    t = Tensors(X, y, (X[:6], y[:6]), (X[:6], y[:6]), (5,), 3)
    oof = out_of_fold_probs("mlp", t, 3, Recipe(epochs=2), seed=0, progress=False)
    assert oof.shape == (60, 3)
    with pytest.raises(InputError, match="needs at least 31 samples"):
        out_of_fold_probs("mlp", t, folds=31, recipe=Recipe(epochs=1), seed=0, progress=False)


def test_coteaching_keeps_the_forget_rate_it_was_given():
    rng = np.random.default_rng(2)
    n = 256
    X = torch.as_tensor(rng.normal(size=(n, 8)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 2, n))
    t = Tensors(X, y, (X[:20], y[:20]), (X[:20], y[:20]), (8,), 2)
    labels = y.numpy()

    class Prep:
        clean, noisy = labels, labels

    none = coteaching(
        "mlp", t, Recipe(epochs=3), seed=0, forget_rate=0.0, ramp=2, prep=Prep, progress=False
    )
    half = coteaching(
        "mlp", t, Recipe(epochs=3), seed=0, forget_rate=0.5, ramp=2, prep=Prep, progress=False
    )
    assert none["train_size"] == n
    # after the ramp each batch of 32 keeps int(0.5 * 32) = 16
    assert half["train_size"] == n // 2 and half["forget_rate"] == 0.5


def test_rsl_budget_rules():
    T = noise.pairwise(0.3, 4)
    prior = np.full(4, 0.25)
    noisy = np.repeat(np.arange(4), [30, 25, 25, 20])
    authors = budgets(noisy, prior, T, "authors")
    eta = noise.class_noise_rates(T, prior)
    want = np.minimum(np.floor(rsl.proportions(eta) * noisy.size / 4 + 1e-9), [30, 25, 25, 20])
    np.testing.assert_array_equal(authors.rsl, want)
    balanced = budgets(noisy, prior, T, "balanced")
    assert balanced.rsl_rule == "balanced" and not np.array_equal(balanced.rsl, authors.rsl)
    pick = {
        name: TrainConfig(T=T, noise=name).rsl_rule
        for name in ("uniform", "pairwise", "symmetric", None)
    }
    assert pick == {
        "uniform": "authors",
        "pairwise": "authors",
        "symmetric": "balanced",
        None: "balanced",
    }


@pytest.mark.slow
def test_several_seeds_are_the_single_runs_combined(capsys, tmp_path):
    both, _ = run(capsys, tmp_path / "both", "--seeds", "2", "--seed", "4")
    one, _ = run(capsys, tmp_path / "one", "--seed", "5")
    assert both["seeds"] == [4, 5] and (tmp_path / "both" / "seed-5" / "run.npz").exists()
    for arm, a in both["test_accuracy"].items():
        assert a["seeds"][1] == one["test_accuracy"][arm]["mean"], arm
        assert a["ci_low"] <= a["mean"] <= a["ci_high"]
        assert a["mean"] == pytest.approx(np.mean(a["seeds"]))
    rsl_runs = [run_["criteria"]["rsl"] for run_ in both["runs"]]
    assert rsl_runs[1] == one["criteria"]["rsl"]["observed_precision"]
    saved = json.loads((tmp_path / "both" / "record.json").read_text())
    assert saved["seeds"] == [4, 5]
