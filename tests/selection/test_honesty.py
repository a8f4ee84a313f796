"""What analyse may say without probes: no predicted precision (an ideal network's has its
own key and column), a warning that says what would make it certifiable; with --confidence,
the highest precision each criterion certifies; and options checked before any fit."""

import json

import numpy as np
import pytest

from simulations.cli import main


def _run(tmp_path, probes: bool, every_clean: bool = False):
    rng = np.random.default_rng(0)
    n, c = 2_000, 4
    clean = rng.integers(0, c, n)
    noisy = np.where(rng.random(n) < 0.3, (clean + 1) % c, clean)
    logits = 2.0 * np.eye(c)[clean] + rng.normal(size=(n, c))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    losses = np.exp(rng.normal(np.where(noisy != clean, 1.5, 0.0), 1.0))[:, None].repeat(3, 1)
    arrays = {"noisy": noisy, "losses": losses, "probs": probs}
    if probes:
        probe = np.zeros(n, bool)
        probe[rng.choice(n, 400, replace=False)] = True
        arrays |= {"probe": probe, "clean": clean if every_clean else np.where(probe, clean, -1)}
    path = tmp_path / "run.npz"
    np.savez(path, **arrays)
    return path


def test_without_probes_nothing_is_predicted_and_the_output_says_why(tmp_path, capsys):
    path = _run(tmp_path, probes=False)
    args = ["analyse", str(path), "--estimate", "confident", "--bootstrap", "0"]
    assert main([*args, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    for name, row in record["criteria"].items():
        assert row["predicted_precision"] is None, name
        assert row["predicted_precision_low"] is None, name
    assert record["criteria"]["global"]["predicted_precision_bayes"] is not None
    assert any("neither predicted nor certified" in w for w in record["warnings"])
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "ideal net (g*, not this run)" in text and "predicted [interval]" not in text
    assert "intervals)" not in text.splitlines()[0]


def test_confidence_names_the_highest_certifiable_precision(tmp_path, capsys):
    path = _run(tmp_path, probes=True)
    args = ["analyse", str(path), "--confidence", "0.9", "--bootstrap", "0"]
    assert main([*args, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    for name in ("global", "classwise", "rsl"):
        curve = record["certifiable"][name]
        highest = curve["highest_precision"]
        assert highest is not None
        kept = dict(curve["kept_at_precision"])
        assert kept[highest] > 0
        assert all(k == 0 for P, k in kept.items() if highest < P)
    assert main(args) == 0
    assert "certifiable at confidence 0.9" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--keep", "target:0.9"], "needs probes"),
        (["--keep", "target:0.9", "--fdr"], "needs probes"),
        (["--fdr"], "--keep target:P"),
    ],
)
def test_options_are_checked_before_any_fit(tmp_path, capsys, monkeypatch, extra, needle):
    from simulations.estimation import transition

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before checking the options")

    monkeypatch.setattr(transition, "from_probs", no_fit)
    path = _run(tmp_path, probes=False)
    assert main(["analyse", str(path), "--estimate", "mixture", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_an_estimate_from_probs_does_not_depend_on_which_items_are_probes(tmp_path):
    from simulations.selection import analyse, runfile

    z = np.load(_run(tmp_path, probes=True, every_clean=True))
    arrays = {k: z[k] for k in z.files}
    base = analyse.resolve_noise(runfile.from_arrays(arrays), estimate="confident")
    other = np.roll(arrays["probe"], 7)  # other items as probes, the same pool
    moved = analyse.resolve_noise(
        runfile.from_arrays({**arrays, "probe": other}), estimate="confident"
    )
    np.testing.assert_allclose(base.T, moved.T)
    assert base.shaping is None  # no probe label read: the family keeps T's shares


def test_t_from_one_probes_pair_is_refused(tmp_path, capsys):
    z = np.load(_run(tmp_path, probes=True, every_clean=True))
    arrays = {k: z[k] for k in z.files}
    probe = np.zeros_like(arrays["probe"])
    probe[0] = True
    path = tmp_path / "one.npz"
    np.savez(path, **{**arrays, "probe": probe})
    assert main(["analyse", str(path), "--estimate", "pairs"]) == 2
    assert "at least 2 probes" in capsys.readouterr().err
