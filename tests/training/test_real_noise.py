"""A data set whose labels are already noisy (CIFAR-10N's human labels, on synthetic features
since the images are not here): nothing is injected, T comes from the validation items that
carry both labels, the probes keep their own noisy labels, and unknown clean labels train."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from simulations.selection import analyse, runfile
from simulations.training.config import TrainConfig
from simulations.training.run import run_training

LABELS = Path(__file__).resolve().parents[2] / "theory" / "data" / "cifar10n" / "labels.npz"


def _dataset(path, unknown: float = 0.0, n: int | None = None):
    z = np.load(LABELS)
    clean, worse = z["clean"].astype(np.int64), z["worse"].astype(np.int64)
    if n is not None:
        clean, worse = clean[:n], worse[:n]
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (clean.size, 16)) + np.eye(10, 16)[clean] * 3.0
    y = clean.copy()
    y[rng.random(clean.size) < unknown] = -1
    np.savez(path, X=X.astype(np.float32), y=y, y_noisy=worse)
    return clean, worse


@pytest.mark.slow
def test_cifar10n_worse_labels_train_as_they_are(tmp_path):
    clean, worse = _dataset(tmp_path / "c10n.npz")
    cfg = TrainConfig(
        T=None,
        dataset=f"npz:{tmp_path / 'c10n.npz'}",
        epochs=2,
        cv=0,
        stage2=False,
        probes=0.5,
        progress=False,
        out=str(tmp_path / "run"),
    )
    r = run_training(cfg)
    assert r["noise_source"] == "observed" and r["T_source"] == "estimated"
    assert round(r["dataset_noise_rate"], 3) == 0.402
    assert abs(r["realised_noise_rate"] - 0.402) < 0.01
    z = np.load(r["run_file"])
    rows = z["train_index"]
    # nothing injected: every training label and every probe's is the human one
    assert np.array_equal(z["noisy"], worse[rows]) and np.array_equal(z["clean"], clean[rows])
    # and T is what the validation items' two labels and half the probes' say (the other half
    # is counted), never the training samples'
    pairs = np.zeros((10, 10))
    val_clean, val_noisy = z["val_clean"], z["val_noisy"]
    probe = analyse.resolve_noise(runfile.read(r["run_file"])).shaping
    assert probe.sum() == z["probe"].sum() // 2 and not (probe & ~z["probe"]).any()
    np.add.at(
        pairs,
        (
            np.concatenate([z["clean"][probe], val_clean]),
            np.concatenate([z["noisy"][probe], val_noisy]),
        ),
        1,
    )
    assert np.allclose(r["T_used"], pairs / pairs.sum(1, keepdims=True))


@pytest.mark.slow
def test_unknown_clean_labels_train_and_are_not_scored(tmp_path):
    _dataset(tmp_path / "part.npz", unknown=0.3, n=6_000)
    cfg = TrainConfig(
        T=None,
        dataset=f"npz:{tmp_path / 'part.npz'}",
        epochs=2,
        cv=0,
        stage2_epochs=1,
        progress=False,
        out=str(tmp_path / "run"),
    )
    r = run_training(cfg)
    assert r["realised_noise_rate"] is None
    assert all(c["observed_precision"] is None for c in r["criteria"].values())
    assert r["criteria"]["global"]["predicted_precision"] is not None
    assert "ce_clean" not in r["test_accuracy"] and "ce_all" in r["test_accuracy"]
    assert r["test_accuracy"]["ce_all"]["train_precision"] is None
    z = np.load(r["run_file"])
    assert (z["clean"] == -1).any() and (z["val_clean"] >= 0).all()
