"""Run files that the reader must refuse in one line naming the key, never with a traceback
or a silent guess; and ``check_every_class_observed``."""

import warnings

import numpy as np
import pytest

from simulations.cli import main
from simulations.selection import runfile
from tests.run_arrays import synthetic_run
from theory.errors import InputError


def _run(**change) -> dict:
    """A small well-formed run (4 classes, probes, T, prior), changed: None drops a key."""
    a, _ = synthetic_run(seed=5, n=200, probes=40, epochs=3, val=60)
    return _run_changed(a, change)


def _plain(**change) -> dict:
    """The same run with losses instead of logits and nothing that fixes the class count."""
    a = _run()
    a["losses"] = runfile.cross_entropy(a.pop("logits"), a["noisy"])
    for k in ("T", "prior", "probs", "val_logits", "val_clean"):
        a.pop(k)
    return _run_changed(a, change)


def _run_changed(a: dict, change: dict) -> dict:
    for k, v in change.items():
        if v is None:
            a.pop(k, None)
        else:
            a[k] = v
    return a


def _with(key, index, value, base=None):
    a = _run() if base is None else base
    x = np.array(a[key], copy=True)
    x[index] = value
    a[key] = x
    return a


def _scored_clean_unseen() -> dict:
    a = _plain()
    clean = a["clean"].copy()
    clean[0] = 4  # a scored sample; the noisy and probe labels span 0..3
    a["clean"] = clean
    return a


def _probabilities_as_losses() -> dict:
    a = _run()
    z = np.exp(a["logits"] - a["logits"].max(-1, keepdims=True))
    p = z / z.sum(-1, keepdims=True)
    a["losses"] = p[np.arange(a["noisy"].size), :, a["noisy"]]
    a.pop("logits")
    return a


def _far_from_the_label(label: int) -> np.ndarray:
    """Logits each within float32 whose loss, 6e38, is not."""
    row = np.full(4, 3e38, np.float32)
    row[label] = -3e38
    return row


def _one_based() -> dict:
    a = _plain()
    a["noisy"] = a["noisy"] + 1
    a["clean"] = a["clean"] + 1
    a["classes"] = np.array(4)
    return a


CASES = {
    "classes vector": (_run(classes=np.array([4, 4])), "'classes'", "shape"),
    "classes string": (_run(classes=np.array("4")), "'classes'", "integer"),
    "classes fraction": (_plain(classes=np.array(4.7)), "'classes'", "whole"),
    "classes zero": (_plain(classes=np.array(0)), "'classes'", "at least 2"),
    "classes negative": (_plain(classes=np.array(-3)), "'classes'", "at least 2"),
    "classes huge": (_plain(classes=np.array(1e8)), "'classes'", "maximum"),
    "label huge, inferred": (_with("noisy", 3, 10**9, _plain()), "'noisy'", "implausibly"),
    "label huge, fixed": (_with("noisy", 3, 10**9), "'noisy'", "implausibly"),
    "scored clean unseen": (_scored_clean_unseen(), "'clean'", "scored sample"),
    "noisy beyond T": (_with("noisy", 0, 7), "'noisy'", "outside [0, 4)"),
    "noisy beyond classes": (
        _with("noisy", 0, 7, _plain(classes=np.array(4))),
        "'noisy'",
        "'classes'",
    ),
    "val_clean beyond T": (_with("val_clean", 0, 7), "'val_clean'", "outside [0, 4)"),
    "probe clean beyond T": (_with("clean", -1, 7), "'clean'", "outside [0, 4)"),
    "1-based with classes": (_one_based(), "'noisy'", "1-based"),
    "losses beyond float32": (
        _with("losses", (0, 0), 1e39, _plain(losses=_plain()["losses"].astype(np.float64))),
        "'losses'",
        "float32",
    ),
    "logits beyond float32": (
        _with("logits", (0, 0, 0), 1e39, _run(logits=_run()["logits"].astype(np.float64))),
        "'logits'",
        "float32",
    ),
    "losses of logits beyond float32": (
        _with("logits", (0, 0), _far_from_the_label(_run()["noisy"][0])),
        "'logits'",
        "float32",
    ),
    "prior sums to 2": (_run(prior=_run()["prior"] * 2), "'prior'", "sums to 2"),
    "prior of 5 classes": (_run(prior=np.full(5, 0.2)), "'prior'", "5 classes"),
    "probabilities as losses": (_probabilities_as_losses(), "'losses'", "-log p"),
    "classes against T": (_run(classes=np.array(5)), "'classes'", "'T' has 4"),
}


@pytest.mark.parametrize(("arrays", "key", "needle"), CASES.values(), ids=CASES.keys())
def test_a_bad_run_is_one_line_naming_the_key(capsys, tmp_path, arrays, key, needle):
    path = tmp_path / "run.npz"
    np.savez(path, **arrays)
    code = main(["analyse", str(path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert key in err[0] and needle in err[0], err[0]
    with pytest.raises(InputError, match=key):
        runfile.from_arrays(arrays)


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"noisy,losses\n0,1.5\n", "not an .npz archive"), (None, "single .npy array")],
    ids=["text", "npy renamed"],
)
def test_a_file_that_is_not_an_archive_is_named(capsys, tmp_path, content, needle):
    path = tmp_path / "run.npz"
    if content is None:
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    else:
        path.write_bytes(content)
    assert main(["analyse", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and needle in err[0], err
    with pytest.raises(InputError, match="run file"):
        runfile.read(path)


def test_a_well_formed_run_still_reads(tmp_path):
    path = tmp_path / "run.npz"
    runfile.write(path, _run(classes=np.array(4)))
    run = runfile.read(path)
    assert run.classes == 4 and run.classes_from == "T"
    assert run.losses.dtype == np.float32 and np.isfinite(run.losses).all()
    assert np.isclose(run.prior.sum(), 1.0)
    runfile.check_every_class_observed(run)
    plain = runfile.from_arrays(_plain())
    assert plain.classes == 4 and plain.classes_from == ""


def test_a_scored_clean_label_never_widens_the_classes():
    """The same run with a scored sample's clean label unknown reads with the classes the
    noisy and probe labels give: the clean label can only score."""
    a = _scored_clean_unseen()
    a["clean"][0] = -1
    assert runfile.from_arrays(a).classes == 4


def test_huge_finite_logits_give_finite_losses():
    a = _with("logits", (0, slice(None), 0), 1e30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way
        run = runfile.from_arrays(a)
    assert np.isfinite(run.losses).all()
    assert run.losses[0].max() > 1e29 or a["noisy"][0] == 0


def test_losses_of_a_fitted_network_are_not_taken_for_probabilities():
    a = _plain()
    a["losses"] = np.minimum(a["losses"] * 0.3, 1.0)  # a network that fits nearly all
    assert a["losses"].max() <= 1
    runfile.from_arrays(a)
    # Two classes: an untrained network's losses sit near log 2 = 0.69, all below 1.
    rng = np.random.default_rng(0)
    binary = {"noisy": rng.integers(0, 2, 300), "losses": rng.uniform(0.6, 0.8, (300, 2))}
    assert runfile.from_arrays(binary).classes == 2


def test_every_class_observed_refuses_one_based_labels():
    a = _plain()
    a["noisy"] = a["noisy"] + 1  # 1..4; with no 'classes' the labels give 5 classes
    a["clean"] = a["clean"] + 1
    run = runfile.from_arrays(a)
    with pytest.raises(InputError, match=r"'noisy'.*class\(es\) 0 .*1-based") as info:
        runfile.check_every_class_observed(run)
    assert "\n" not in str(info.value)


def test_every_class_observed_refuses_a_classes_key_beyond_the_labels():
    run = runfile.from_arrays(_plain(classes=np.array(6)))
    with pytest.raises(InputError, match=r"'noisy'.*4, 5 .*'classes'"):
        runfile.check_every_class_observed(run)


def test_every_class_observed_passes_a_normal_run():
    runfile.check_every_class_observed(runfile.from_arrays(_run()))
    runfile.check_every_class_observed(runfile.from_arrays(_plain()))
