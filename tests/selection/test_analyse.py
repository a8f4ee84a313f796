"""``analyse`` on run files made outside the trainer: what a prediction may read (the clean
labels of the scored samples and the true T never move one), the JSON contract of
``smallloss analyse``, the kept masks it writes, and one clear line for every malformed run."""

import json

import numpy as np
import pytest
from run_arrays import synthetic_run

from simulations.cli import main
from simulations.selection import analyse, runfile
from theory import noise

# every field a prediction, a budget or a bound writes: none of them may read hidden labels
PREDICTED = ("predicted", "precision_bound", "budgets", "selected", "mislabelled_probes")


def _predictions(record: dict) -> dict:
    """Every prediction, budget and selection size in a record, flattened."""
    out = {}
    for name, row in record["criteria"].items():
        for k, v in row.items():
            if k.startswith(PREDICTED):
                out[f"{name}.{k}"] = v
    for name, row in record.get("target", {}).items():
        for k, v in row.items():
            if k.startswith(PREDICTED):
                out[f"target.{name}.{k}"] = v
    out["budgets"] = record["budgets"]
    out["T"], out["prior"] = record["T"], record["prior"]
    return out


def _permute_scored_clean(arrays: dict, seed: int) -> dict:
    """The clean labels of the scored samples shuffled among them (probes and noisy labels,
    losses and the validation split as they were)."""
    out = dict(arrays)
    clean = arrays["clean"].copy()
    scored = np.flatnonzero(~arrays.get("probe", np.zeros(clean.size, bool)))
    clean[scored] = np.random.default_rng(seed).permutation(clean[scored])
    out["clean"] = clean
    return out


KEEPS = [("oracle", None), ("target:0.9", None), ("target:0.9", 0.9), ("rsl", 0.8), (0.5, None)]


@pytest.mark.parametrize(("keep", "confidence"), KEEPS)
@pytest.mark.parametrize("estimate", [None, "pairs", "confident"])
def test_no_prediction_reads_a_scored_samples_clean_label(keep, confidence, estimate):
    arrays, _ = synthetic_run(seed=1, n=1_500, probes=200)
    kw = {"keep": keep, "confidence": confidence, "estimate": estimate, "bootstrap": 20}
    base, masks = analyse.analyse(runfile.from_arrays(arrays), **kw)
    shuffled, masks2 = analyse.analyse(runfile.from_arrays(_permute_scored_clean(arrays, 2)), **kw)
    assert _predictions(base) == _predictions(shuffled)
    assert masks.keys() == masks2.keys()
    assert all(np.array_equal(masks[k], masks2[k]) for k in masks)
    # the observations do read them, so the shuffle shows there
    assert base["criteria"]["global"]["observed_precision"] != pytest.approx(
        shuffled["criteria"]["global"]["observed_precision"], abs=1e-3
    )


@pytest.mark.parametrize("estimate", ["pairs", "confident", "mixture"])
def test_an_estimate_never_reads_the_true_T(estimate):
    # once the labels are drawn, the T that drew them is the run's business only: with an
    # estimate, changing it moves nothing
    arrays, T = synthetic_run(seed=3, n=1_500, probes=200)
    kw = {"estimate": estimate, "keep": "target:0.9", "confidence": 0.9, "bootstrap": 20}
    base, _ = analyse.analyse(runfile.from_arrays(arrays), **kw)
    other = dict(arrays, T=noise.symmetric(0.1, len(T)))
    moved, _ = analyse.analyse(runfile.from_arrays(other), **kw)
    assert _predictions(base) == _predictions(moved)
    assert base["T_source"] == moved["T_source"] == "estimated"
    without, _ = analyse.analyse(
        runfile.from_arrays({k: v for k, v in arrays.items() if k != "T"}), **kw
    )
    assert _predictions(base) == _predictions(without)


def test_a_run_without_T_estimates_it_from_its_probes():
    arrays, T = synthetic_run(seed=4, n=1_500, probes=600)
    del arrays["T"]
    run = runfile.from_arrays(arrays)
    record, _ = analyse.analyse(run, bootstrap=0, seed=5)
    assert record["T_source"] == "estimated" and record["estimate"]["method"] == "pairs"
    # T from a random half of the probes, the counts from the other half: the labels
    # that shaped the budgets are never counted at them
    noise = analyse.resolve_noise(run)  # the split analyse makes, whatever its seed
    shaping = noise.shaping
    assert shaping is not None and not (shaping & ~arrays["probe"]).any()
    assert shaping.sum() == arrays["probe"].sum() // 2
    clean, noisy = arrays["clean"][shaping], arrays["noisy"][shaping]
    counts = np.zeros((4, 4))
    np.add.at(counts, (clean, noisy), 1)
    assert np.allclose(record["T"], counts / counts.sum(1, keepdims=True))
    cert = record["certificate"]
    assert cert["probes_estimating_T"] == shaping.sum()
    assert cert["probes_counted"] == record["probes"] == arrays["probe"].sum() - shaping.sum()
    assert cert["probes_counted_by_target"] == arrays["probe"].sum()
    assert cert["family_shares"] == "one share for every class"
    del arrays["probe"]
    with pytest.raises(analyse.InputError, match="`matrix`"):
        analyse.analyse(runfile.from_arrays(arrays))


def test_the_count_predictions_track_the_training_set():
    # mean over seeds of predicted minus observed, for every criterion that ranks a score
    diffs = {name: [] for name in ("global", "classwise", "rsl", "gmm", "aum")}
    for seed in range(8):
        arrays, _ = synthetic_run(seed=seed, n=3_000, probes=600)
        record, _ = analyse.analyse(runfile.from_arrays(arrays), bootstrap=0)
        for name in diffs:
            c = record["criteria"][name]
            diffs[name].append(c["predicted_precision_counts"] - c["observed_precision"])
            assert c["predicted_precision_counts_low"] <= c["predicted_precision_counts"]
            assert c["predicted_precision_counts"] <= c["predicted_precision_counts_high"]
    for name, d in diffs.items():
        assert abs(np.mean(d)) < 0.02, (name, np.mean(d))


def _mismatch_warned(record):
    return any("distributed unlike" in w for w in record["warnings"])


def test_probes_unlike_the_training_samples_are_warned_of():
    # probes drawn like the training samples: the chi-square's false alarm is 1e-3 a run
    alarms = 0
    for seed in range(20):
        arrays, _ = synthetic_run(seed=seed, n=2_000, probes=400, probs=False, val=0)
        alarms += _mismatch_warned(analyse.analyse(runfile.from_arrays(arrays), bootstrap=0)[0])
    assert alarms <= 1
    # the same run whose probes are one class's items only: the counts' premise is broken
    arrays, _ = synthetic_run(seed=0, n=2_000, probes=400, probs=False, val=0)
    probe = arrays["probe"].copy()
    probe[probe] = arrays["clean"][probe] == 0
    skewed = {**arrays, "probe": probe}
    assert _mismatch_warned(analyse.analyse(runfile.from_arrays(skewed), bootstrap=0)[0])
    assert analyse.probe_label_mismatch(np.array([0, 1] * 50), np.array([0, 1] * 5), 2) > 0.5


def test_observed_fields_need_every_scored_clean_label():
    arrays, _ = synthetic_run(seed=5, n=800, probes=100)
    arrays["clean"] = arrays["clean"].copy()
    arrays["clean"][3] = -1  # one scored sample whose clean label nobody knows
    record, _ = analyse.analyse(runfile.from_arrays(arrays), bootstrap=0)
    for row in record["criteria"].values():
        assert row["observed_precision"] is None and row.get("observed_recall") is None
    assert "per_epoch" not in record
    assert record["criteria"]["global"]["predicted_precision"] is not None


def test_the_headline_prediction_is_the_best_the_run_supports():
    arrays, _ = synthetic_run(seed=6, n=800, probes=100)
    runs = {
        "probe counts": arrays,
        "validation": {k: v for k, v in arrays.items() if k != "probe"},
        "atoms": {k: v for k, v in arrays.items() if k not in ("probe", "val_logits", "val_clean")},
    }
    for source, a in runs.items():
        record, _ = analyse.analyse(runfile.from_arrays(a), bootstrap=10)
        c = record["criteria"]["classwise"]
        if source == "atoms":
            # an ideal network's precision (g*) is not this run's: never the headline
            assert record["predicted_from"] == "nothing (no probes, no validation split)"
            assert c["predicted_precision_bayes"] is not None
            for name, row in record["criteria"].items():
                assert row["predicted_precision"] is None, name
                assert row.get("predicted_precision_low") is None, name
            assert any("can be neither predicted nor certified" in w for w in record["warnings"])
            continue
        assert record["predicted_from"] == source
        want = {
            "probe counts": "predicted_precision_counts",
            "validation": "predicted_precision_validation",
        }[source]
        assert c["predicted_precision"] == c[want]


@pytest.fixture
def run_file(tmp_path):
    arrays, T = synthetic_run(seed=7, n=1_200, probes=200)
    np.savez(tmp_path / "run.npz", **arrays)
    np.savetxt(tmp_path / "T.csv", T, delimiter=",")
    return tmp_path


def test_the_json_contract(capsys, run_file):
    argv = [
        "analyse",
        str(run_file / "run.npz"),
        "--matrix",
        str(run_file / "T.csv"),
        "--keep",
        "target:0.9",
        "--confidence",
        "0.9",
        "--level",
        "0.8",
        "--out",
        str(run_file / "out"),
        "--json",
    ]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"n", "classes", "epochs", "T", "T_source", "conditions", "criteria", "target"} <= set(r)
    assert (r["n"], r["classes"], r["epochs"], r["T_source"]) == (1_200, 4, 4, "matrix")
    fields = {
        "predicted_precision",
        "predicted_precision_low",
        "predicted_precision_high",
        "selected",
        "observed_precision",
        "observed_recall",
    }
    for name in ("global", "classwise", "rsl", "gmm", "aum", "confident", "cleanlab"):
        assert fields <= set(r["criteria"][name]), name
    for name in ("global", "classwise", "rsl"):
        c = r["criteria"][name]
        assert "budgets" in c and "predicted_precision_mean_loss" in c
        assert (
            c["predicted_precision_low"]
            <= c["predicted_precision"]
            <= c["predicted_precision_high"]
        )
    for name, t in r["target"].items():
        assert {"P", "level", "selected", "predicted_precision", "observed_precision"} <= set(t)
        assert (t["P"], t["level"]) == (0.9, 0.9), name
    # the kept masks: n booleans in the run's order, probes never kept
    z = np.load(run_file / "run.npz")
    for name in ("global", "rsl", "target_classwise", "confident"):
        mask = np.load(run_file / "out" / f"{name}.npy")
        assert mask.dtype == bool and mask.shape == z["noisy"].shape
        assert not mask[z["probe"]].any()
        key = name.removeprefix("target_")
        row = r["target"][key] if name.startswith("target_") else r["criteria"][name]
        assert mask.sum() == row["selected"]
    saved = json.loads((run_file / "out" / "record.json").read_text())
    assert saved["criteria"] == r["criteria"] and "provenance" in saved
    text = [a for a in argv if a != "--json"]
    assert main(text) == 0
    out = capsys.readouterr().out
    assert "predictions from probe counts" in out and "--keep target" in out


def _bad(arrays: dict, **change) -> dict:
    out = dict(arrays)
    for k, v in change.items():
        if v is None:
            out.pop(k)
        else:
            out[k] = v
    return out


def _malformed():
    a, T = synthetic_run(seed=8, n=300, probes=40, epochs=3)
    losses = runfile.cross_entropy(a["logits"], a["noisy"])
    plain = {k: v for k, v in a.items() if k != "logits"} | {"losses": losses}
    soft = np.exp(a["logits"]) / np.exp(a["logits"]).sum(-1, keepdims=True)
    nan = losses.copy()
    nan[5, 1] = np.nan
    wide_T = noise.symmetric(0.2, 5)
    noisy = a["noisy"].copy()
    noisy[0] = 9
    return [
        (_bad(plain, losses=losses.T), "'losses'", "transpose"),
        (_bad(a, logits=soft), "'logits'", "probabilities"),
        (_bad(a, T=wide_T), "'logits'", "classes"),
        (_bad(plain, T=wide_T, classes=np.array(4)), "'classes'", "4"),
        (_bad(plain, noisy=noisy), "'noisy'", "outside"),
        (_bad(plain, losses=nan), "'losses'", "NaN"),
        (_bad(plain, losses=-losses), "'losses'", "log"),
        (_bad(plain, noisy=None), "'noisy'", "training labels"),
        (_bad(plain, losses=None), "'losses'", "logits"),
        (_bad(plain, probs=a["probs"][:, :3]), "'probs'", "shape"),
        (_bad(plain, probs=a["probs"] * 2), "'probs'", "sum"),
        (_bad(plain, clean=None), "'probe'", "clean"),
        (_bad(plain, val_clean=None), "'val_logits'", "together"),
        (_bad(plain, probe=np.ones(340)), "'probe'", "every sample"),
        (_bad(plain, noisy=a["noisy"].astype(float) + 0.5), "'noisy'", "whole"),
    ]


@pytest.mark.parametrize(("arrays", "key", "needle"), _malformed())
def test_a_malformed_run_is_named_in_one_line(capsys, tmp_path, arrays, key, needle):
    np.savez(tmp_path / "run.npz", **arrays)
    code = main(["analyse", str(tmp_path / "run.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert key in err[0] and needle in err[0], err[0]


def test_a_missing_or_broken_run_file_is_named(capsys, tmp_path):
    assert main(["analyse", str(tmp_path / "nothing.npz")]) == 2
    assert "run file not found" in capsys.readouterr().err
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    assert main(["analyse", str(tmp_path / "broken.npz")]) == 2
    assert "cannot read run file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--confidence", "0.9"], "marks no probes"),
        (["--keep", "target:1.5"], "target precision"),
        (["--estimate", "mixture"], "'probs'"),
        (["--level", "1"], "--level"),
    ],
)
def test_bad_options_are_named(capsys, tmp_path, extra, needle):
    arrays, _ = synthetic_run(seed=9, n=200, probes=0, probs=False)
    np.savez(tmp_path / "run.npz", **arrays)
    assert main(["analyse", str(tmp_path / "run.npz"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_progress_counts_every_resample_and_epoch_and_changes_nothing():
    """``progress`` hears each long step with its total, and ticks that add up to it; the
    record is the one a silent call gives."""
    arrays, T = synthetic_run(seed=3, n=800, probes=150, epochs=5)
    run = runfile.from_arrays(arrays, where="a test")
    heard = {}

    class Step:
        def __init__(self, name, total):
            self.name, heard[name] = name, [total, 0]

        def __enter__(self):
            return lambda k: heard[self.name].__setitem__(1, heard[self.name][1] + k)

        def __exit__(self, *exc):
            return False

    loud, _ = analyse.analyse(run, matrix=T, bootstrap=7, progress=Step)
    quiet, _ = analyse.analyse(run, matrix=T, bootstrap=7)
    assert heard == {"validation bootstrap": [7, 7], "probe bootstrap": [7, 7], "epochs": [5, 5]}
    assert json.dumps(loud, sort_keys=True, default=str) == json.dumps(
        quiet, sort_keys=True, default=str
    )


@pytest.mark.parametrize("quiet", [[], ["--quiet"], ["--json"]], ids=["shown", "quiet", "json"])
def test_the_command_shows_progress_unless_asked_not_to(capsys, run_file, monkeypatch, quiet):
    from simulations.cli import _args

    monkeypatch.setattr(_args, "PROGRESS_AFTER_S", 0.0)
    argv = ["analyse", str(run_file / "run.npz"), "--matrix", str(run_file / "T.csv")]
    assert main([*argv, "--bootstrap", "5", *quiet]) == 0
    err = capsys.readouterr().err
    assert ("epochs" in err and "bootstrap" in err) == (not quiet)
