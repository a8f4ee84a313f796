"""A training run under instance-dependent noise reads no clean label of a training sample
outside the observed fields: its run file carries no T (T_bar is counted from those labels),
its prior is the validation split's, and every prediction, budget and bound stays
bit-identical when the scored samples' clean labels are shuffled among them."""

import numpy as np
import pytest

pytest.importorskip("torch")

from simulations.selection import analyse, runfile
from simulations.training.config import TrainConfig
from simulations.training.run import run_training

PREDICTED = ("predicted", "precision_bound", "selected", "mislabelled_probes")


def _predictions(record):
    out = {"T": record["T"], "prior": record["prior"], "budgets": record["budgets"]}
    for name, row in record["criteria"].items():
        out.update({f"{name}.{k}": v for k, v in row.items() if k.startswith(PREDICTED)})
    return out


def test_an_instance_noise_run_predicts_without_the_training_clean_labels(tmp_path):
    cfg = TrainConfig(
        T=None,
        instance="part-dependent",
        rate=0.3,
        epochs=3,
        cv=0,
        stage2=False,
        probes=0.5,
        progress=False,
        bootstrap=0,
        out=str(tmp_path / "run"),
    )
    run_training(cfg)
    with np.load(tmp_path / "run" / "run.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "settings"}
    assert "T" not in arrays  # only the validation items' pairs may estimate it
    run = runfile.from_arrays(arrays)
    record, masks = analyse.analyse(run, bootstrap=0, seed=0)
    assert record["T_source"] != "given"
    scored = np.flatnonzero(~arrays["probe"])
    shuffled = dict(arrays)
    shuffled["clean"] = arrays["clean"].copy()
    shuffled["clean"][scored] = np.random.default_rng(1).permutation(arrays["clean"][scored])
    again, masks_again = analyse.analyse(runfile.from_arrays(shuffled), bootstrap=0, seed=0)
    assert _predictions(again) == _predictions(record)
    for name, mask in masks.items():
        np.testing.assert_array_equal(mask, masks_again[name], err_msg=name)
