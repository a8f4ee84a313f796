"""A stage-1 run trained once and analysed again: a later config that differs only in what it
reads from the run (the target, the confidence, the interval level) reuses it, and gives what
a fresh run with that config gives."""

import numpy as np
import pytest

pytest.importorskip("torch")

from simulations.training import stages
from simulations.training.config import TrainConfig
from simulations.training.run import run_training
from theory import noise


def _cfg(tmp_path, name, **kw):
    return TrainConfig(
        T=noise.pairwise(0.3, 10),
        epochs=3,
        cv=0,
        stage2=False,
        probes=0.5,
        progress=False,
        bootstrap=10,
        out=str(tmp_path / name),
        **kw,
    )


def test_a_cached_run_is_analysed_again_not_trained_again(tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    first = run_training(_cfg(tmp_path, "a", keep="target:0.9", run_cache=cache))
    fresh = run_training(_cfg(tmp_path, "fresh", keep="target:0.8", confidence=0.9))

    def no_training(*args, **kwargs):
        raise AssertionError("stage 1 ran again")

    monkeypatch.setattr(stages, "stage1", no_training)
    again = run_training(_cfg(tmp_path, "b", keep="target:0.8", confidence=0.9, run_cache=cache))
    assert again["target"] == fresh["target"] and again["criteria"] == fresh["criteria"]
    assert again["target"] != first["target"]
    assert np.array_equal(
        np.load(again["run_file"])["losses"], np.load(first["run_file"])["losses"]
    )
    # a different training setting is a different run: it must train
    with pytest.raises(AssertionError, match="stage 1 ran again"):
        run_training(_cfg(tmp_path, "c", keep="target:0.8", run_cache=cache, seed=1))
