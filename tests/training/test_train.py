"""`smallloss train` end to end on digits (short), reproducibility, and bad input."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from datafiles import write_cifar  # noqa: E402

from simulations.cli import main  # noqa: E402
from simulations.selection.registry import CRITERIA  # noqa: E402
from simulations.training.arms import DEFAULT  # noqa: E402

# digits with 40% pairwise noise, the setting every test here trains on
PAIRWISE = ["train", "--noise", "pairwise", "--rate", "0.4", "--classes", "10"]


def train_json(capsys, tmp_path, *extra):
    argv = [
        *PAIRWISE,
        "--epochs",
        "3",
        "--stage2-epochs",
        "2",
        "--cv",
        "2",
        "--out",
        str(tmp_path),
        "--json",
        *extra,
    ]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def log_softmax(z):
    z = z.astype(np.float64) - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_digits_end_to_end(capsys, tmp_path):
    r = train_json(capsys, tmp_path)
    assert r["dataset"] == "digits" and r["device"] == "cpu" and r["epochs"] == 3
    assert r["noise_rate"] == pytest.approx(0.4)
    assert set(r["criteria"]) == set(CRITERIA)
    for name in ("global", "classwise", "rsl", "gmm"):
        c = r["criteria"][name]
        assert 0 <= c["observed_precision_single_epoch"] <= 1
        assert 0 <= c["observed_precision_mean_loss"] <= 1
    for name in ("confident", "cleanlab"):
        c = r["criteria"][name]
        assert {"observed_precision", "selected", "agreement_with_cleanlab"} <= set(c)
    assert r["criteria"]["cleanlab"]["agreement_with_cleanlab"] == 1.0
    assert r["scaling"] == "pixel counts 0..16 divided by 16" and r["warnings"] == []
    assert set(r["test_accuracy"]) == set(DEFAULT)
    for arm in r["test_accuracy"].values():
        assert {"mean", "ci_low", "ci_high", "seeds"} <= set(arm) and len(arm["seeds"]) == 1
    assert len(r["per_epoch"]) == 3
    # the saved loss matrix reproduces from the saved model outputs
    z = np.load(r["loss_matrix"])
    L, logits, noisy, clean = z["losses"], z["logits"], z["noisy"], z["clean"]
    assert L.shape == (r["n_train"], 3) and L.dtype == np.float32
    recomputed = -np.take_along_axis(
        log_softmax(logits), noisy[:, None, None].repeat(3, 1), axis=2
    )[..., 0]
    np.testing.assert_allclose(L, recomputed, rtol=1e-5, atol=1e-6)
    assert json.loads(str(z["settings"]))["epochs"] == 3
    # every cell of the loss table is a (clean, noisy) pair that exists
    for cell in r["cells"]:
        assert cell["count"] == int(((clean == cell["clean"]) & (noisy == cell["noisy"])).sum())
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["provenance"]["versions"]["torch"].startswith("2.")


def test_estimate_replaces_T_and_keeps_the_truth_beside_it(capsys, tmp_path):
    r = train_json(capsys, tmp_path, "--estimate", "anchor")
    e = r["estimate"]
    T_hat, T = np.array(e["T"]), np.load(r["loss_matrix"])["T"]
    assert e["method"] == "anchor" and T_hat.shape == (10, 10)
    np.testing.assert_allclose(T_hat.sum(1), 1.0)
    assert e["T_error"] == pytest.approx(np.abs(T_hat - T).sum() / 10 * 100)
    assert e["true_noise_rate"] == pytest.approx(0.4)
    # the budgets the loop used are those of T-hat; the true T's are kept apart
    assert r["budgets"]["classwise"] != e["with_true_T"]["budgets"]["classwise"]
    assert set(e["with_true_T"]["criteria"]) == set(CRITERIA)


def test_same_seed_same_losses_on_cpu(capsys, tmp_path):
    a = train_json(capsys, tmp_path / "a", "--seed", "3")
    b = train_json(capsys, tmp_path / "b", "--seed", "3")
    assert (
        np.load(a["loss_matrix"])["losses"].tobytes()
        == np.load(b["loss_matrix"])["losses"].tobytes()
    )
    assert a["test_accuracy"] == b["test_accuracy"]


def test_train_fraction_shrinks_the_training_set(capsys, tmp_path):
    full = train_json(capsys, tmp_path / "f")
    half = train_json(capsys, tmp_path / "h", "--train-fraction", "0.5")
    assert half["n_train"] == pytest.approx(full["n_train"] / 2, abs=1)


def test_cnn_on_a_tiny_cifar_layout(capsys, tmp_path):
    folder = write_cifar(tmp_path / "cifar", per_batch=40)
    r = train_json(capsys, tmp_path / "out", "--dataset", f"cifar10:{folder}", "--model", "cnn")
    assert r["n_test"] == 40 and r["n_train"] == 180 and r["recipe"]["model"] == "cnn"


@pytest.mark.parametrize(
    "kind, shape",
    [("mlp", (64,)), ("cnn", (3, 32, 32)), ("resnet", (3, 32, 32)), ("cnn", (1, 28, 28))],
)
def test_models_map_inputs_to_class_logits(kind, shape):
    from simulations.training.models import build_model

    model = build_model(kind, shape, 10)
    assert model(torch.zeros((4, *shape))).shape == (4, 10)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--dataset", "imagenet:/x"], "unknown data set"),
        (["--dataset", "npz:/nonexistent.npz"], "not found"),
        (["--epochs", "0"], "below 1"),
        (["--device", "tpu"], "unknown device"),
        (["--train-fraction", "0"], "outside (0, 1]"),
        (["--estimate", "mixture", "--cv", "0"], "--cv 2 or more"),
        (["--estimate", "oracle"], "invalid choice"),
        (["--batch", "0"], "--batch"),
        (["--threads", "0"], "--threads"),
        (["--record", "after"], "invalid choice"),
    ],
)
def test_bad_input(capsys, tmp_path, extra, needle):
    argv = [*PAIRWISE, "--out", str(tmp_path), *extra]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err


def test_bad_npz_and_class_mismatch(capsys, tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((30, 4)), y=np.arange(30) % 3)
    code = main(
        [
            "train",
            "--dataset",
            f"npz:{tmp_path / 'd.npz'}",
            "--noise",
            "symmetric",
            "--rate",
            "0.2",
            "--classes",
            "5",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and "5 classes" in capsys.readouterr().err
    np.savez(tmp_path / "e.npz", y=np.arange(30) % 3)
    assert (
        main(
            [
                "train",
                "--dataset",
                f"npz:{tmp_path / 'e.npz'}",
                "--noise",
                "symmetric",
                "--rate",
                "0.2",
                "--classes",
                "3",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "no array 'X'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here")
def test_cuda_request_without_cuda(capsys, tmp_path):
    code = main(
        [
            "train",
            "--noise",
            "pairwise",
            "--rate",
            "0.4",
            "--classes",
            "10",
            "--device",
            "cuda",
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "CUDA is not available" in err


def test_the_record_names_the_recipe_and_times_the_recording(capsys, tmp_path):
    threads = torch.get_num_threads()
    r = train_json(capsys, tmp_path, "--batch", "64", "--threads", "1")
    assert r["recipe"] == {
        "model": "mlp",
        "batch": 64,
        "epochs": 3,
        "stage2_epochs": 2,
        "record": "pass",
        "threads": 1,
    }
    assert torch.get_num_threads() == threads  # the run gave the thread count back
    t = r["timing"]
    assert 0 < t["record_s"] < t["epoch_s"] and t["eval_s"] > 0
    assert t["record_share"] == pytest.approx(t["record_s"] / t["epoch_s"], rel=0.5)
    clean = r["test_accuracy"]["ce_clean"]
    assert clean["train_precision"] == 1.0 and clean["train_size"] == r["n_train"]


def test_recording_modes_see_the_same_losses_when_the_weights_stand_still():
    from simulations.training import loop

    rng = np.random.default_rng(3)
    X = torch.as_tensor(rng.normal(size=(300, 6)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 3, 300))
    still = loop.Recipe(epochs=2, batch=16, lr=0.0)
    fits = {
        mode: loop.fit(
            loop.fresh_model("mlp", (6,), 3, 0, torch.device("cpu")),
            X,
            y,
            still,
            seed=0,
            record=mode,
        )
        for mode in ("pass", "eval")
    }
    np.testing.assert_allclose(fits["pass"].losses, fits["eval"].losses, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fits["pass"].outputs, fits["eval"].outputs, rtol=1e-5, atol=1e-6)
    # once the weights move, the training pass sees each sample before its batch's step
    moving = loop.Recipe(epochs=2, batch=16, lr=0.5)
    a, b = (
        loop.fit(
            loop.fresh_model("mlp", (6,), 3, 0, torch.device("cpu")),
            X,
            y,
            moving,
            seed=0,
            record=mode,
        )
        for mode in ("pass", "eval")
    )
    assert a.losses[:, -1].mean() > b.losses[:, -1].mean()


@pytest.mark.parametrize(
    "model, batch, shape, n, device, expected",
    [
        ("auto", None, (1, 28, 28), 54_000, "cpu", ("mlp", 128)),
        ("auto", None, (1, 28, 28), 54_000, "cuda", ("cnn", 32)),
        ("auto", None, (1, 8, 8), 1_257, "cpu", ("mlp", 32)),
        ("auto", None, (1, 8, 8), 1_257, "cuda", ("cnn", 32)),
        ("auto", None, (64,), 54_000, "cpu", ("mlp", 128)),
        ("auto", None, (64,), 500, "cpu", ("mlp", 32)),
        ("resnet", 16, (3, 32, 32), 45_000, "cpu", ("resnet", 16)),
    ],
)
def test_auto_recipe(model, batch, shape, n, device, expected):
    from simulations.training.config import LARGE_ON_CPU, resolve_recipe

    assert resolve_recipe(model, batch, shape, n, device) == expected
    assert resolve_recipe("auto", None, shape, LARGE_ON_CPU, "cpu")[1] == 32  # above, not at
